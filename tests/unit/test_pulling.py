"""Roster pages converted as they are stored, and partitioned from the converted pages
(sis_sync.pulling): the same records, quarantine and rejections as validating the raw pages."""

from __future__ import annotations

import gzip
from typing import Any

import orjson

from sis_sync.clever.client import Rejection, validated
from sis_sync.clever.models import Page, School, Section, Term, User
from sis_sync.pulling import (
    CONVERTED,
    LISTINGS,
    ListingCursor,
    MemoryPullStore,
    convert_page,
    converted_listing,
    partition,
)
from sis_sync.snapshot import Partitioner

ROLE = {"students": "student", "teachers": "teacher", "staff": "staff", "contacts": "contact"}


def user(uid: str, **roles: Any) -> dict[str, Any]:
    return {"id": uid, "name": {"first": "A", "last": uid}, "roles": roles}


# Two pages of students (one record of the second fails its model), a teacher who is also staff
# (listed under both), a staff listing with a user who is not staff, a contact with a dangling
# student, sections with an unknown term and a student of another school.
LISTED: dict[str, list[list[dict[str, Any]]]] = {
    "schools": [[{"id": "A"}, {"id": "B"}]],
    "students": [
        [user("s1", student={"school": "A"}), user("s2", student={"school": "B", "schools": ["A", "Z"]})],
        [
            user("s3", student={"school": "B"}),
            user("bad id!", student={"school": "A"}),
            user("s1", student={"school": "A"}),
        ],
    ],
    "teachers": [[user("t1", teacher={"school": "A"}, staff={"schools": ["B"]})]],
    "staff": [
        [user("t1", teacher={"school": "A"}, staff={"schools": ["B"]}), user("s3", student={"school": "B"})]
    ],
    "contacts": [
        [
            user("c1", contact={"student_relationships": [{"student": "s2", "type": "Parent/Guardian"}]}),
            user("c2", contact={"student_relationships": [{"student": "ghost", "type": "Family"}]}),
        ]
    ],
    "terms": [[{"id": "t-1"}]],
    "sections": [
        [
            {"id": "x1", "school": "A", "term_id": "t-1", "students": ["s1", "s3"], "teacher": "t1"},
            {"id": "x2", "school": "B", "term_id": "t-9", "students": ["s2", "s3"]},
        ]
    ],
}


def body(records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"data": [{"data": record} for record in records], "links": []})


def page(records: list[dict[str, Any]]) -> Page:
    """The page as the client validated it when it fetched it."""
    return Page.model_validate_json(body(records))


def stored_pull() -> tuple[MemoryPullStore, dict[str, ListingCursor]]:
    """Every page stored as `_Paging` stores it: raw, and converted for a roster listing."""
    store, cursors = MemoryPullStore(), {}
    for name, pages in LISTED.items():
        before = 0
        for number, records in enumerate(pages, 1):
            store.put_page("d", "s", name, number, gzip.compress(body(records)))
            if name in CONVERTED:
                converted = convert_page(name, page(records), number, before)
                store.put_page("d", "s", converted_listing(name), number, converted)
            before += len(records)
        cursors[name] = ListingCursor(next_uri=None, pages=len(pages), records=before)
    return store, cursors


def from_models() -> tuple[Partitioner, list[Rejection]]:
    """The same pages validated raw and fed to the partitioner as models (the reference)."""
    partitioner, rejected = Partitioner(), list[Rejection]()
    for name in LISTINGS:
        before = 0
        for number, records in enumerate(LISTED[name], 1):
            page = Page.model_validate_json(body(records))
            kind = ROLE.get(name) or name.removesuffix("s")
            model: Any = {"schools": School, "terms": Term, "sections": Section}.get(name, User)
            items: list[Any] = list(validated(kind, model, page, number, before, rejected))
            before += len(records)
            if name == "schools":
                partitioner.add_schools(item.id for item in items)
            elif name == "terms":
                partitioner.add_terms(item.id for item in items)
            elif name == "sections":
                for item in items:
                    partitioner.add_section(item)
            else:
                for item in items:
                    partitioner.add_user(item, listed_as=ROLE[name])
    return partitioner, rejected


def test_a_pull_partitioned_from_converted_pages_is_the_pull_partitioned_from_validated_records() -> None:
    # Given a stored pull whose roster pages were converted as they were stored
    store, cursors = stored_pull()
    # When it is partitioned from the converted pages
    with Partitioner() as partitioner:
        stored = partition(store, "d", "s", cursors, partitioner)
        reference, rejected = from_models()
        # Then every school's records, the quarantine and the rejections are the reference's
        assert [school.id for school in stored.schools] == ["A", "B"]
        assert partitioner.finish() == reference.finish()
        assert partitioner.quarantine == reference.quarantine
        assert partitioner.multi_role == reference.multi_role == 1
        assert stored.rejected == rejected == [Rejection("student", 3, 2, rejected[0].errors)]
        assert partitioner.quarantine.summary() == {
            "duplicate_ids": 1,
            "dangling_references": 4,
            "without_school": 1,
            "no_role": 1,
        }
        reference.close()


def test_a_converted_page_is_the_same_bytes_however_often_it_is_stored() -> None:
    # A retried invocation stores the page again: the same object, not a second version
    records = LISTED["students"][1]
    assert convert_page("students", page(records), 2, 2) == convert_page("students", page(records), 2, 2)


def test_only_the_listing_role_is_read_from_a_converted_page() -> None:
    # Given a teacher who is also staff, in the staff listing
    converted = convert_page("staff", page(LISTED["staff"][0]), 1, 0)
    [both, student] = orjson.loads(gzip.decompress(converted))["items"]
    # Then only its staff role is converted, with every role it holds; a student has none to read
    assert list(both["roles"]) == ["staff"]
    assert both["held"] == ["teacher", "staff"]
    assert (student["held"], student["roles"]) == (["student"], {})
