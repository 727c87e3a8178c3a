"""Clever simulator: the `new_parents` scenario, additions no hold rule holds (what Apply safe
changes applies now when the same school is held for its semester-end removals)."""

from __future__ import annotations

from collections import Counter

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.roster import Resource, Role


def contacts(sim: CleverSimulator) -> dict[str, dict[str, object]]:
    listing = sim.district.listing(Resource.USERS, Role.CONTACT).page(None, 100_000).records
    return {str(record["id"]): record for record in listing}


def test_new_parents_links_a_new_parent_to_ten_students_of_the_school_and_undo_takes_them_back() -> None:
    # Given a generated district
    sim = CleverSimulator(GeneratedDistrict(21, schools=3, students=300))
    school_id = sim.district.school_ids()[1]
    before = contacts(sim)

    # When ten students of its second school get a new parent
    effect = sim.scenarios.new_parents(school_id)

    # Then ten new Parent/Guardian contacts are served, one for each of ten students of that school
    after = contacts(sim)
    assert set(after) - set(before) == set(effect.added_ids)
    assert len(effect.added_ids) == len(set(effect.student_ids)) == 10
    assert set(effect.student_ids) <= set(sim.district.student_ids_of_school(school_id))
    links = [link for i in effect.added_ids for link in after[i]["roles"]["contact"]["student_relationships"]]  # type: ignore[index]
    assert Counter(link["type"] for link in links) == {"Parent/Guardian": 10}
    assert {link["student"] for link in links} == set(effect.student_ids)

    # When the scenario is undone: the contacts are as before
    sim.scenarios.undo(effect.scenario_id)
    assert contacts(sim) == before
