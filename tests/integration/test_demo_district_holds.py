"""Hold rules on Clever's own #DEMO_DISTRICT data, with scripted mutations of the wire records.

Each scenario edits the v3.0 wire records the way Clever would send them after a change at the
source, partitions both versions into per-school snapshots and evaluates every school.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from sis_sync.changes_csv import changes_csv_bytes, linked_student_names
from sis_sync.clever.models import Section, User
from sis_sync.rules import Evaluation, HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Partitioner, Records

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DEMO = SHARED / "clever" / "demo-district"

pytestmark = [
    pytest.mark.demo_district,
    pytest.mark.skipif(
        not (DEMO / "users.json").is_file(), reason=f"Clever demo district data not found in {DEMO}"
    ),
]

SEED = 20240917
WireRecord = dict[str, Any]


@dataclass
class Wire:
    users: list[WireRecord]
    sections: list[WireRecord]

    def students(self) -> list[WireRecord]:
        return [user for user in self.users if "student" in user["roles"]]

    def contacts(self) -> list[WireRecord]:
        return [user for user in self.users if "contact" in user["roles"]]


def load(name: str) -> list[WireRecord]:
    return [item["data"] for item in orjson.loads((DEMO / name).read_bytes())["data"]]


@pytest.fixture(scope="module")
def demo() -> Wire:
    return Wire(users=load("users.json"), sections=load("sections.json"))


@pytest.fixture
def wire(demo: Wire) -> Wire:
    """A private copy each scenario may mutate."""
    return copy.deepcopy(demo)


def partition(wire: Wire) -> dict[str, Records]:
    partitioner = Partitioner()
    for user in wire.users:
        partitioner.add_user(User.model_validate(user))
    for section in wire.sections:
        partitioner.add_section(Section.model_validate(section))
    return partitioner.finish()


DEFAULTS = HoldThresholds()


def evaluate_district(before: dict[str, Records], after: dict[str, Records]) -> dict[str, Evaluation]:
    return {school: evaluate(before.get(school), after[school], DEFAULTS) for school in sorted(after)}


def held(evaluations: dict[str, Evaluation]) -> dict[str, set[str]]:
    return {
        school: {str(r) for r in evaluation.reasons}
        for school, evaluation in evaluations.items()
        if evaluation.held
    }


def only_school_of(student: WireRecord) -> str | None:
    schools = set(student["roles"]["student"]["schools"]) | {student["roles"]["student"]["school"]}
    return schools.pop() if len(schools) == 1 else None


def schools_with_sections(wire: Wire) -> list[str]:
    return sorted({section["school"] for section in wire.sections})


def smallest_school(wire: Wire) -> str:
    return min(schools_with_sections(wire), key=lambda school: len(students_of(wire, school)))


def school_with_most_own_students(wire: Wire) -> str:
    """The school whose students most often attend no other school, so removals stay inside it."""

    def own_share(school: str) -> float:
        students = students_of(wire, school)
        return sum(1 for s in students if only_school_of(s) == school) / len(students)

    return max(schools_with_sections(wire), key=own_share)


def students_of(wire: Wire, school: str) -> list[WireRecord]:
    return [
        s
        for s in wire.students()
        if school in {s["roles"]["student"]["school"], *s["roles"]["student"]["schools"]}
    ]


def single_school_student_with_one_contact(wire: Wire) -> WireRecord:
    linked = [
        rel["student"] for c in wire.contacts() for rel in c["roles"]["contact"]["student_relationships"]
    ]
    once = {student for student in linked if linked.count(student) == 1}
    return next(
        s for s in sorted(wire.students(), key=lambda s: s["id"]) if s["id"] in once and only_school_of(s)
    )


def contact_of(wire: Wire, student: WireRecord) -> WireRecord:
    """The contact linked to this student only."""
    links = {
        c["id"]: [r["student"] for r in c["roles"]["contact"]["student_relationships"]]
        for c in wire.contacts()
    }
    return next(c for c in wire.contacts() if links[c["id"]] == [student["id"]])


def new_contact(clever_id: str, student_id: str, contact_type: str) -> WireRecord:
    return {
        "id": clever_id,
        "district": "5a0c91b95c7cc000010d417c",
        "email": f"{clever_id}@example.com",
        "name": {"last": f"Guardian {clever_id}"},
        "roles": {
            "contact": {
                "phone": "",
                "phone_type": "Cell",
                "sis_id": "",
                "student_relationships": [
                    {"relationship": "Parent", "student": student_id, "type": contact_type}
                ],
            }
        },
    }


def csv_rows(evaluation: Evaluation, *rosters: Records) -> list[dict[str, str]]:
    """The CSV as evaluation writes it: students named from `rosters` (the new one, then the applied)."""
    names = linked_student_names(evaluation.change_set, *rosters)
    body = changes_csv_bytes(evaluation, names).decode("utf-8")
    return list(csv.DictReader(io.StringIO(body, newline="")))


# --- scenarios ---------------------------------------------------------------------------------


def test_first_sync_of_the_demo_district_adds_everything_without_a_hold(demo: Wire) -> None:
    # Given the demo district seen for the first time
    snapshots = partition(demo)

    # When each school is evaluated with nothing applied
    evaluations = {school: evaluate(None, records, HoldThresholds()) for school, records in snapshots.items()}

    # Then every record is added and no rule fires (one Family/Other/Parent contact per student)
    assert len(evaluations) == 5  # 3 schools with sections, 2 only named in students' `schools`
    assert held(evaluations) == {}
    summaries = [evaluation.change_set.summary() for evaluation in evaluations.values()]
    assert sum(summary["by_type"]["student"]["added"] for summary in summaries) == 1004 + 221 + 2 * 43
    assert sum(summary["by_type"]["section"]["added"] for summary in summaries) == 378
    assert sum(summary["added"] for summary in summaries) == sum(
        len(e.change_set) for e in evaluations.values()
    )


def test_removing_30_percent_of_one_schools_students_holds_that_school_only(wire: Wire) -> None:
    # Given the applied district, and 30 % of one school's students gone from Clever
    before = partition(wire)
    school = school_with_most_own_students(wire)
    school_students = students_of(wire, school)
    only_here = [s for s in school_students if only_school_of(s) == school]
    gone = {s["id"] for s in random.Random(SEED).sample(only_here, math.ceil(0.3 * len(school_students)))}
    wire.users = [user for user in wire.users if user["id"] not in gone]

    # When the district is evaluated
    evaluations = evaluate_district(before, partition(wire))

    # Then only that school is held for large removals, with 30 % of its students counted
    assert set(held(evaluations)) == {school}
    assert "large_removals" in held(evaluations)[school]
    detail = next(h.detail for h in evaluations[school].holds if h.reason == HoldReason.LARGE_REMOVALS)
    assert detail["types"]["student"]["removed"] == len(gone)
    assert detail["types"]["student"]["pct"] >= 30.0
    assert len(detail["examples"]) == 20


def test_six_new_contacts_for_one_student_trigger_the_guardian_rule(wire: Wire) -> None:
    # Given a student with one contact, who gets six more in Clever
    before = partition(wire)
    kid = single_school_student_with_one_contact(wire)
    added = [new_contact(f"newguardian{n}", kid["id"], "Parent/Guardian") for n in range(6)]
    wire.users += added

    after = partition(wire)
    evaluations = evaluate_district(before, after)

    # Then the student's school is held for parent connections; the six new contacts carry the reason
    school = only_school_of(kid)
    assert held(evaluations) == {school: {"too_many_parent_connections"}}
    evaluation = evaluations[school]  # type: ignore[index]
    hold = evaluation.holds[0]
    name = f"{kid['name']['first']} {kid['name']['last']}"
    [example] = hold.detail["examples"]
    assert {key: example[key] for key in ("clever_id", "name", "guardians", "previously")} == {
        "clever_id": kid["id"], "name": name, "guardians": 7, "previously": 1
    }  # fmt: skip
    # and it names each guardian, the six new ones marked new
    new_ids = {contact["id"] for contact in added}
    assert len(example["contacts"]) == 7
    assert {c["clever_id"] for c in example["contacts"] if c["new"]} == new_ids
    assert all(c["name"] for c in example["contacts"])
    # and each held CSV row names the student to fix in the SIS
    rows = [row for row in csv_rows(evaluation, after[school], before[school]) if row["hold_reasons"]]  # type: ignore[index]
    assert sorted(row["clever_id"] for row in rows) == sorted(new_ids)
    assert {row["students"] for row in rows} == {f"{name} ({kid['id']})"}
    assert {row["contact_type"] for row in rows} == {"Parent/Guardian"}


@pytest.mark.parametrize("contact_type", ["Emergency", "emergency"])
def test_one_emergency_relationship_triggers_the_contact_rule(wire: Wire, contact_type: str) -> None:
    # Given an existing contact whose relationship becomes an emergency one in Clever
    before = partition(wire)
    kid = single_school_student_with_one_contact(wire)
    parent = next(
        c
        for c in wire.contacts()
        if [r["student"] for r in c["roles"]["contact"]["student_relationships"]] == [kid["id"]]
    )
    parent["roles"]["contact"]["student_relationships"][0]["type"] = contact_type

    after = partition(wire)
    evaluations = evaluate_district(before, after)

    # Then the student's school is held for emergency contacts, on that contact's row, which gives
    # the contact type and names the student
    school = only_school_of(kid)
    assert held(evaluations) == {school: {"emergency_contacts"}}
    rows = [row for row in csv_rows(evaluations[school], after[school]) if row["hold_reasons"]]  # type: ignore[index]
    name = f"{kid['name']['first']} {kid['name']['last']}"
    assert [
        (row["clever_id"], row["change_type"], row["changed_fields"], row["hold_reasons"]) for row in rows
    ] == [(parent["id"], "updated", "relationships", "emergency_contacts")]
    assert (rows[0]["contact_type"], rows[0]["students"]) == (contact_type, f"{name} ({kid['id']})")


def test_a_contact_with_only_a_new_clever_id_is_one_source_id_change(wire: Wire) -> None:
    # Given a contact without sis_id that Clever re-issued under a new id, nothing else changed
    before = partition(wire)
    kid = single_school_student_with_one_contact(wire)
    parent = contact_of(wire, kid)
    assert parent["roles"]["contact"]["sis_id"] == ""
    old_id, parent["id"] = parent["id"], "reissued0000000000000001"

    evaluations = evaluate_district(before, partition(wire))

    # Then exactly one change in the whole district, a source_id_changed, and no hold
    changes = [change for evaluation in evaluations.values() for change in evaluation.change_set]
    assert [
        (c.kind, c.record_type, c.clever_id, c.previous_clever_id, c.changed_fields) for c in changes
    ] == [("source_id_changed", "contact", "reissued0000000000000001", old_id, ())]
    assert held(evaluations) == {}


def test_a_rekeyed_school_is_held_and_every_student_is_a_source_id_change(wire: Wire) -> None:
    # Given every student of one school re-issued under a new Clever id, same sis_id (references follow)
    before = partition(wire)
    school = smallest_school(wire)
    rekey = rekey_students(wire, {s["id"] for s in students_of(wire, school)})

    evaluations = evaluate_district(before, partition(wire))

    # Then the school is held for large removals only: source-ID changes count as removals
    evaluation = evaluations[school]
    assert {str(r) for r in evaluation.reasons} == {"large_removals"}
    students = evaluation.change_set.of_type("student")
    assert {c.kind for c in students} == {"source_id_changed"}
    assert {(c.previous_clever_id, c.clever_id) for c in students} == set(rekey.items())
    assert evaluation.change_set.summary()["removed"] == 0
    assert evaluation.change_set.summary()["added"] == 0
    # and the CSV flags exactly the re-keyed students' rows
    flagged = {row["clever_id"] for row in csv_rows(evaluation) if row["hold_reasons"]}
    assert flagged == set(rekey.values())


def rekey_students(wire: Wire, student_ids: set[str]) -> dict[str, str]:
    """Give students new Clever ids everywhere they are referenced; old id -> new id."""
    rekey = {old: f"rk{old}" for old in sorted(student_ids)}
    rename: Callable[[str], str] = lambda student_id: rekey.get(student_id, student_id)  # noqa: E731
    for user in wire.users:
        user["id"] = rename(user["id"])
        for rel in user["roles"].get("contact", {}).get("student_relationships", []):
            rel["student"] = rename(rel["student"])
    for section in wire.sections:
        section["students"] = [rename(student_id) for student_id in section["students"]]
    return rekey
