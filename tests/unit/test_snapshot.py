"""Partitioning a district's Clever lists into per-school canonical snapshots."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sis_sync.clever.models import Section, User
from sis_sync.snapshot import Partitioner, Snapshot, decode, encode, pending_section, person_of


def student(uid: str, *schools: str) -> User:
    return User.model_validate(
        {
            "id": uid,
            "name": {"first": "A", "last": uid},
            "roles": {"student": {"school": schools[0], "schools": list(schools)}},
        }
    )


def contact(uid: str, *links: tuple[str, str]) -> User:
    rels = [{"student": s, "type": t, "relationship": "Parent"} for s, t in links]
    return User.model_validate(
        {"id": uid, "name": {"last": "Pat Doe"}, "roles": {"contact": {"student_relationships": rels}}}
    )


def section(sid: str, school: str, *students: str) -> Section:
    return Section.model_validate({"id": sid, "school": school, "students": list(students)})


def partition(*items: Any) -> tuple[dict[str, Any], Partitioner]:
    partitioner = Partitioner()
    for item in items:
        (partitioner.add_section if isinstance(item, Section) else partitioner.add_user)(item)
    return partitioner.finish(), partitioner


def test_a_person_is_in_every_school_of_theirs_and_a_contact_in_their_students_schools() -> None:
    records, _ = partition(
        student("s1", "A", "B"),
        student("s2", "B"),
        contact("c1", ("s1", "Parent/Guardian"), ("s2", "Family")),
    )
    assert [r["id"] for r in records["A"]["student"]] == ["s1"]
    assert [r["id"] for r in records["B"]["student"]] == ["s1", "s2"]
    # the contact, as school A sees it, is linked only to A's students
    assert [rel["student"] for rel in records["A"]["contact"][0]["relationships"]] == ["s1"]
    assert [rel["student"] for rel in records["B"]["contact"][0]["relationships"]] == ["s1", "s2"]
    assert records["A"]["contact"][0]["name"] == "Pat Doe"


def test_dangling_references_and_duplicates_are_quarantined_not_dropped_silently() -> None:
    records, partitioner = partition(
        student("s1", "A"),
        student("s1", "A"),
        section("x1", "A", "s1", "ghost"),
        contact("c1", ("ghost", "Other")),
    )
    assert records["A"]["section"][0]["students"] == ["s1"]
    assert partitioner.quarantine.summary() == {
        "duplicate_ids": 1,
        "dangling_references": 2,
        "without_school": 1,
        "no_role": 0,
    }


@given(st.permutations(["s1", "s2", "s3", "s4"]))
def test_the_snapshot_bytes_do_not_depend_on_the_order_clever_sends(order: list[str]) -> None:
    records, _ = partition(*(student(uid, "A") for uid in order), section("x", "A", *reversed(order)))
    reference, _ = partition(*(student(uid, "A") for uid in sorted(order)), section("x", "A", *sorted(order)))
    assert encode(Snapshot("d", "s", "A", records["A"])) == encode(Snapshot("d", "s", "A", reference["A"]))


def test_encode_decode_round_trip() -> None:
    records, _ = partition(student("s1", "A"), contact("c1", ("s1", "Emergency")))
    snapshot = Snapshot("d", "s", "A", records["A"])
    assert decode(encode(snapshot).body) == snapshot


def test_a_section_of_an_unknown_term_is_kept_and_its_reference_quarantined() -> None:
    partitioner = Partitioner()
    partitioner.add_user(student("s1", "A"))
    partitioner.add_terms(["t1"])
    partitioner.add_section(
        Section.model_validate({"id": "x1", "school": "A", "term_id": "t9", "students": ["s1"]})
    )
    partitioner.add_section(
        Section.model_validate({"id": "x2", "school": "A", "term_id": "t1", "students": ["s1"]})
    )
    records = partitioner.finish()
    assert [r["id"] for r in records["A"]["section"]] == ["x1", "x2"]
    assert partitioner.quarantine.dangling_references == ["section:x1->term:t9"]


def test_users_and_sections_converted_to_json_are_partitioned_as_the_models_themselves() -> None:
    # Given users (one both teacher and staff, one a duplicate) and a section, as models
    both = User.model_validate(
        {
            "id": "t1",
            "name": {"last": "T"},
            "roles": {"teacher": {"school": "A"}, "staff": {"schools": ["B"]}},
        }
    )
    users = [student("s1", "A", "Z"), both, student("s1", "A"), contact("c1", ("s1", "Parent/Guardian"))]
    sections = [section("x1", "A", "s1", "ghost")]
    reference = Partitioner()
    reference.add_schools(["A", "B"])
    for user in users:
        reference.add_user(user)
    for item in sections:
        reference.add_section(item)
    # When the same are converted (as a stored page keeps them: plain JSON) and partitioned
    converted = Partitioner()
    converted.add_schools(["A", "B"])
    for user in users:
        converted.add_person(orjson.loads(orjson.dumps(person_of(user))))
    for item in sections:
        converted.add_pending_section(orjson.loads(orjson.dumps(pending_section(item))))
    # Then the records, the quarantine and the multi-role count are the same
    assert converted.finish() == reference.finish()
    assert converted.quarantine == reference.quarantine
    assert converted.quarantine.summary()["dangling_references"] == 2
    assert converted.multi_role == reference.multi_role == 1
