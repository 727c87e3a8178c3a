"""Hypothesis strategies for small rosters whose ids, sis_ids and names collide on purpose.

Values are drawn from tiny pools so that two drawn rosters share ids (updates), share sis_ids under
different ids (re-issued Clever ids, sis_id collisions) and link contacts to the same students.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType

IDS = [f"id{n:02d}" for n in range(12)]
SIS_IDS = ["", "", "s1", "s2", "s3", "s4"]
NAMES = ["Ana", "Bo", "Zoë", "Ana "]  # "Ana " normalises to "Ana"
CONTACT_TYPES = ["Parent/Guardian", "Emergency", "emergency", "Secondary", "Family", ""]

sis_ids = st.sampled_from(SIS_IDS)
names = st.sampled_from(NAMES)
small_text = st.sampled_from(["", "x", "y"])


def students(ids: list[str] = IDS) -> st.SearchStrategy[Record]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(ids),
            "sis_id": sis_ids,
            "first_name": names,
            "middle_name": small_text,
            "last_name": names,
            "email": small_text,
            "dob": st.sampled_from(["", "2010-01-01", "2011-02-02"]),
            "grade": st.sampled_from(["1", "2"]),
            "student_number": small_text,
            "state_id": small_text,
        }
    )


def teachers() -> st.SearchStrategy[Record]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "sis_id": sis_ids,
            "first_name": names,
            "middle_name": small_text,
            "last_name": names,
            "email": small_text,
            "title": small_text,
            "teacher_number": small_text,
            "state_id": small_text,
        }
    )


def staff() -> st.SearchStrategy[Record]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "sis_id": sis_ids,
            "first_name": names,
            "middle_name": small_text,
            "last_name": names,
            "email": small_text,
            "title": small_text,
            "department": small_text,
        }
    )


def relationships(student_ids: list[str]) -> st.SearchStrategy[list[dict[str, str]]]:
    relationship = st.fixed_dictionaries(
        {
            "student": st.sampled_from(student_ids),
            "type": st.sampled_from(CONTACT_TYPES),
            "relationship": st.sampled_from(["Parent", "Other"]),
        }
    )
    return st.lists(relationship, max_size=3, unique_by=lambda rel: (rel["student"], rel["type"])).map(
        lambda rels: sorted(rels, key=lambda rel: (rel["student"], rel["type"], rel["relationship"]))
    )


def contacts(student_ids: list[str] = IDS) -> st.SearchStrategy[Record]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "sis_id": sis_ids,
            "name": names,
            "email": st.sampled_from(["", "a@x.org", "b@x.org"]),
            "phone": st.sampled_from(["", "555-0100", "5550100"]),
            "phone_type": st.sampled_from(["", "Cell"]),
            "relationships": relationships(student_ids),
        }
    )


def sections(student_ids: list[str] = IDS) -> st.SearchStrategy[Record]:
    return st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "sis_id": sis_ids,
            "name": small_text,
            "subject": small_text,
            "grade": small_text,
            "period": small_text,
            "course": small_text,
            "term_id": small_text,
            "teacher": small_text,
            "teachers": st.lists(st.sampled_from(IDS), max_size=2, unique=True).map(sorted),
            "students": st.lists(st.sampled_from(student_ids), max_size=4, unique=True).map(sorted),
        }
    )


def _sorted_unique(records: st.SearchStrategy[Record]) -> st.SearchStrategy[list[Record]]:
    return st.lists(records, max_size=8, unique_by=lambda record: record["id"]).map(
        lambda found: sorted(found, key=lambda record: record["id"])
    )


RECORD_STRATEGIES: dict[RecordType, Any] = {
    "student": students,
    "teacher": teachers,
    "staff": staff,
    "contact": contacts,
    "section": sections,
}


@st.composite
def rosters(draw: st.DrawFn) -> Records:
    """One school's records of every type, each type unique by id and sorted like a snapshot."""
    return {
        record_type: draw(_sorted_unique(RECORD_STRATEGIES[record_type]())) for record_type in RECORD_TYPES
    }


def reissue_ids(records: Records, prefix: str = "new-") -> Records:
    """The same roster with every Clever id re-issued, references included (as Clever does)."""

    def new_id(old: str) -> str:
        return prefix + old

    result: Records = {}
    for record_type in RECORD_TYPES:
        renamed = []
        for record in records.get(record_type, []):
            copy = dict(record, id=new_id(record["id"]))
            if record_type == "contact":
                copy["relationships"] = [
                    dict(rel, student=new_id(rel["student"])) for rel in record["relationships"]
                ]
            if record_type == "section":
                copy["students"] = sorted(new_id(student) for student in record["students"])
                copy["teachers"] = sorted(new_id(teacher) for teacher in record["teachers"])
            renamed.append(copy)
        result[record_type] = sorted(renamed, key=lambda record: record["id"])
    return result
