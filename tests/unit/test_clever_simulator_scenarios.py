"""Clever simulator: scenario switches, one per hold rule, on the generated district."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.fixed import FixedDistrict
from clever_simulator.roster import Resource
from clever_simulator.scenarios import ScenarioEffect
from clever_simulator.walk import walk_records


@pytest.fixture
def sim() -> CleverSimulator:
    return CleverSimulator(GeneratedDistrict(21, schools=3, students=600))


@pytest.fixture
def get_json(sim: CleverSimulator) -> Callable[[str], dict[str, Any]]:
    client = sim.app.test_client()

    def get(uri: str) -> dict[str, Any]:
        response = client.get(uri, headers={"Authorization": f"Bearer {sim.token}"})
        assert response.status_code == 200, uri
        body: dict[str, Any] = response.get_json()
        return body

    return get


def _status(sim: CleverSimulator, uri: str) -> int:
    response = sim.app.test_client().get(uri, headers={"Authorization": f"Bearer {sim.token}"})
    return response.status_code


def _contact_links(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [link for c in contacts for link in c["roles"]["contact"]["student_relationships"]]


def test_semester_end_drops_a_share_of_one_schools_students_with_enrolments_and_contacts(
    sim: CleverSimulator, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # Given the second school's students
    school_id = sim.district.school_ids()[1]
    before = walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10000")
    own = [s["id"] for s in before if s["roles"]["student"]["school"] == school_id]
    other_school = sim.district.school_ids()[0]
    other_before = walk_records(get_json, f"/v3.0/schools/{other_school}/users?role=student")

    # When the semester ends for 30 % of them
    effect = sim.scenarios.semester_end(school_id, share=0.3)

    # Then exactly that share is gone, everywhere
    removed = set(effect.student_ids)
    assert len(removed) == int(len(own) * 0.3)
    assert removed <= set(own)
    after = walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10000")
    assert {s["id"] for s in after} == {s["id"] for s in before} - removed
    student_id = next(iter(removed))
    assert _status(sim, f"/v3.0/users/{student_id}") == 404
    sections = walk_records(get_json, "/v3.0/sections?limit=10000")
    assert not removed & {s for section in sections for s in section["students"]}
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    assert not removed & {link["student"] for link in _contact_links(contacts)}
    removed_contacts = set(effect.removed_ids) - removed
    assert removed_contacts
    assert not removed_contacts & {c["id"] for c in contacts}

    # And another school is untouched
    assert walk_records(get_json, f"/v3.0/schools/{other_school}/users?role=student") == other_before


def test_many_guardians_gives_one_student_six_contacts(
    sim: CleverSimulator, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # When one student gets many guardians
    effect = sim.scenarios.many_guardians(count=6)

    # Then the student's contacts (mycontacts and the district-wide list) number six
    [student_id] = effect.student_ids
    mine = walk_records(get_json, f"/v3.0/users/{student_id}/mycontacts")
    assert len(mine) == 6
    assert set(effect.added_ids) <= {c["id"] for c in mine}
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    assert sum(link["student"] == student_id for link in _contact_links(contacts)) == 6


@pytest.mark.parametrize("contact_type", ["Emergency", "secondary"])
def test_emergency_contact_adds_one_blocked_type_contact(
    sim: CleverSimulator, get_json: Callable[[str], dict[str, Any]], contact_type: str
) -> None:
    # Given the third school
    school_id = sim.district.school_ids()[2]

    # When a contact of a blocked type is added there (Emergency, or lower-case secondary)
    if contact_type == "Emergency":
        effect = sim.scenarios.emergency_contact(school_id)
    else:
        effect = sim.scenarios.secondary_contact(school_id)

    # Then exactly one contact of that type is served, linked to a student of that school
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    blocked = [
        link for link in _contact_links(contacts) if link["type"].lower() in {"emergency", "secondary"}
    ]
    assert [link["type"] for link in blocked] == [contact_type]
    student = get_json(f"/v3.0/users/{blocked[0]['student']}")["data"]
    assert student["roles"]["student"]["school"] == school_id
    assert effect.added_ids[0] in {c["id"] for c in contacts}


def test_rekey_gives_a_schools_students_new_ids_with_the_same_sis_ids(
    sim: CleverSimulator, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # Given the first school's students
    school_id = sim.district.school_ids()[0]
    before = {
        s["id"]: s["roles"]["student"]["sis_id"]
        for s in walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10000")
        if s["roles"]["student"]["school"] == school_id
    }

    # When the SIS is re-keyed
    effect = sim.scenarios.rekey(school_id)

    # Then each student is served under a new id with its old sis_id, and old ids are gone
    assert set(effect.reissued_ids) == set(before)
    after = {
        s["id"]: s["roles"]["student"]["sis_id"]
        for s in walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10000")
        if s["roles"]["student"]["school"] == school_id
    }
    assert after == {effect.reissued_ids[old]: sis_id for old, sis_id in before.items()}
    assert not set(before) & set(after)
    assert _status(sim, f"/v3.0/users/{next(iter(before))}") == 404

    # And sections and contact links refer to the new ids
    sections = walk_records(get_json, f"/v3.0/schools/{school_id}/sections?limit=10000")
    assert {s for section in sections for s in section["students"]} == set(after)
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    linked = {link["student"] for link in _contact_links(contacts)}
    assert set(after) <= linked
    assert not set(before) & linked


def test_contact_reid_reissues_one_contact_without_sis_id(
    sim: CleverSimulator, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # When Clever re-issues a contact's id
    effect = sim.scenarios.contact_reid()

    # Then the contact (which has no sis_id) is served under the new id with the same data
    [(old_id, new_id)] = effect.reissued_ids.items()
    assert _status(sim, f"/v3.0/users/{old_id}") == 404
    contact = get_json(f"/v3.0/users/{new_id}")["data"]
    assert contact["roles"]["contact"]["sis_id"] == ""
    sim.scenarios.reset()
    original = get_json(f"/v3.0/users/{old_id}")["data"]
    assert {**original, "id": new_id} == contact


def test_scenarios_combine_and_reset_restores_the_original_bytes(sim: CleverSimulator) -> None:
    # Given the original bytes of every listing
    client = sim.app.test_client()
    headers = {"Authorization": f"Bearer {sim.token}"}
    uris = ["/v3.0/users?limit=10000", "/v3.0/sections?limit=10000"]
    original = [client.get(uri, headers=headers).get_data() for uri in uris]
    schools = sim.district.school_ids()

    # When every scenario is applied on top of each other
    sim.scenarios.semester_end(schools[0], share=0.5)
    sim.scenarios.rekey(schools[0])
    guardians = sim.scenarios.many_guardians(count=7)
    sim.scenarios.emergency_contact(schools[1])
    sim.scenarios.secondary_contact(schools[1])
    sim.scenarios.contact_reid()
    changed = [client.get(uri, headers=headers).get_data() for uri in uris]

    # Then they all show (guardians of a surviving, re-keyed student included) ...
    assert changed != original
    assert len(sim.scenarios.applied) == 6
    mine = client.get(f"/v3.0/users/{guardians.student_ids[0]}/mycontacts", headers=headers).get_json()
    assert len(mine["data"]) == 7

    # ... and reset brings back the exact original bytes
    sim.scenarios.reset()
    assert [client.get(uri, headers=headers).get_data() for uri in uris] == original


def test_unknown_ids_in_scenarios_raise_key_error(sim: CleverSimulator) -> None:
    with pytest.raises(KeyError):
        sim.scenarios.rekey("5a25ff950a5f621109000004")
    with pytest.raises(KeyError):
        sim.scenarios.many_guardians(student_id="nope")


def _listings(sim: CleverSimulator) -> list[bytes]:
    client = sim.app.test_client()
    headers = {"Authorization": f"Bearer {sim.token}"}
    uris = ["/v3.0/users?limit=10000", "/v3.0/sections?limit=10000", "/v3.0/schools"]
    return [client.get(uri, headers=headers).get_data() for uri in uris]


def _fixed_copy(generated: GeneratedDistrict) -> FixedDistrict:
    """The same district as fixed records (as Clever's demo district is served)."""
    every = {resource: generated.listing(resource).page(None, 100_000).records for resource in Resource}
    return FixedDistrict(
        every[Resource.DISTRICTS][0],
        schools=every[Resource.SCHOOLS],
        users=every[Resource.USERS],
        sections=every[Resource.SECTIONS],
        terms=every[Resource.TERMS],
        courses=every[Resource.COURSES],
    )


# Scenarios at different schools or students, so that none changes what another does.
SCENARIO_STEPS: list[tuple[str, Callable[[CleverSimulator], ScenarioEffect]]] = [
    ("semester_end", lambda s: s.scenarios.semester_end(s.district.school_ids()[0])),
    ("emergency_contact", lambda s: s.scenarios.emergency_contact(s.district.school_ids()[1])),
    ("rekey", lambda s: s.scenarios.rekey(s.district.school_ids()[2])),
    ("many_guardians", lambda s: s.scenarios.many_guardians(count=6)),
]


def _new_sim(kind: str) -> CleverSimulator:
    generated = GeneratedDistrict(21, schools=3, students=300)
    return CleverSimulator(generated if kind == "generated" else _fixed_copy(generated))


def _served_ids(sim: CleverSimulator) -> set[str]:
    users = sim.district.listing(Resource.USERS).page(None, 100_000).records
    return {str(user["id"]) for user in users}


@pytest.mark.parametrize("kind", ["generated", "fixed"])
@pytest.mark.parametrize("undone", [name for name, _ in SCENARIO_STEPS])
def test_undoing_a_scenario_gives_back_exactly_what_was_served_before_it(kind: str, undone: str) -> None:
    # Given the other scenarios applied
    sim = _new_sim(kind)
    for name, step in SCENARIO_STEPS:
        if name != undone:
            step(sim)
    before = _listings(sim)
    # When the scenario is applied, then undone
    effect = dict(SCENARIO_STEPS)[undone](sim)
    assert _listings(sim) != before
    sim.scenarios.undo(effect.scenario_id)
    # Then every listing is byte for byte what it was
    assert _listings(sim) == before
    assert undone not in [e.scenario for e in sim.scenarios.applied]


@pytest.mark.parametrize("kind", ["generated", "fixed"])
def test_undoing_an_early_scenario_keeps_the_later_ones(kind: str) -> None:
    # Given every scenario applied, one after the other
    sim = _new_sim(kind)
    effects = {name: step(sim) for name, step in SCENARIO_STEPS}
    semester_end, emergency = effects["semester_end"], effects["emergency_contact"]
    rekey, guardians = effects["rekey"], effects["many_guardians"]
    # When the first two are undone
    sim.scenarios.undo(semester_end.scenario_id)
    sim.scenarios.undo(emergency.scenario_id)
    # Then their changes are gone: the removed students (and contacts) are back, the contact is not
    served = _served_ids(sim)
    assert set(semester_end.removed_ids) <= served
    assert not set(emergency.added_ids) & served
    # And the later ones stay: the re-keyed ids and the added guardians are still served
    assert set(rekey.reissued_ids.values()) <= served
    assert not set(rekey.reissued_ids) & served
    assert set(guardians.added_ids) <= served


def test_undoing_a_scenario_twice_or_one_never_applied_is_refused(sim: CleverSimulator) -> None:
    effect = sim.scenarios.emergency_contact(sim.district.school_ids()[0])
    sim.scenarios.undo(effect.scenario_id)
    for unknown in (effect.scenario_id, 99):
        with pytest.raises(LookupError):
            sim.scenarios.undo(unknown)


def test_clever_shares_an_unshared_school_and_the_undo_takes_it_back() -> None:
    # Given a district with a school Clever does not share
    district = GeneratedDistrict(5, schools=3, students=90, unshared_schools=1)
    sim = CleverSimulator(district)
    client = sim.app.test_client()
    headers = {"Authorization": f"Bearer {sim.token}"}
    [unshared] = district.unshared_school_ids()
    assert unshared not in {
        s["data"]["id"] for s in client.get("/v3.0/schools", headers=headers).get_json()["data"]
    }
    # When Clever shares it
    effect = sim.scenarios.share_school()
    # Then it is served (with nobody in it yet), and is no longer unshared
    assert effect.school_id == unshared
    served = client.get("/v3.0/schools", headers=headers).get_json()["data"]
    assert unshared in {s["data"]["id"] for s in served}
    assert client.get(f"/v3.0/schools/{unshared}/users", headers=headers).get_json()["data"] == []
    assert district.unshared_school_ids() == []
    with pytest.raises(LookupError):
        sim.scenarios.share_school()  # nothing left to share
    # And undoing it takes it back
    sim.scenarios.undo(effect.scenario_id)
    assert client.get(f"/v3.0/schools/{unshared}", headers=headers).status_code == 404
    assert district.unshared_school_ids() == [unshared]
