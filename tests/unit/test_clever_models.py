"""Clever wire models, against Clever's own #DEMO_DISTRICT data and hand-made edge cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from sis_sync.clever.client import CleverClient
from sis_sync.clever.models import District, Page, Section, User

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DEMO = SHARED / "clever" / "demo-district"

demo_district = [
    pytest.mark.demo_district,
    pytest.mark.skipif(not DEMO.is_dir(), reason=f"Clever demo-district data not found at {DEMO}"),
]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEMO / name).read_text(encoding="utf-8"))
    return data


def roles(user: User) -> tuple[str, ...]:
    return tuple(name for name, role in user.roles if role is not None)


class TestDemoDistrict:
    pytestmark = demo_district

    def test_every_demo_user_parses(self) -> None:
        # Given Clever's demo users page
        page = Page.model_validate(load("users.json"))

        # When every record is read through the User model
        users = [User.model_validate(envelope.data) for envelope in page.data]

        # Then all 2,098 parse, with the role counts Clever documents
        assert len(users) == 2_098
        assert Counter(roles(u) for u in users) == {
            ("student",): 1_004,
            ("contact",): 1_002,
            ("teacher",): 89,
            ("district_admin",): 3,
        }
        assert len({u.id for u in users}) == 2_098
        assert page.next_uri is None

    def test_demo_contacts_point_at_demo_students(self) -> None:
        users = [User.model_validate(e.data) for e in Page.model_validate(load("users.json")).data]
        student_ids = {u.id for u in users if u.roles.student}

        relationships = [r for u in users if u.roles.contact for r in u.roles.contact.student_relationships]

        assert relationships
        assert {r.student for r in relationships} <= student_ids

    def test_every_demo_section_parses(self) -> None:
        page = Page.model_validate(load("sections.json"))

        sections = [Section.model_validate(envelope.data) for envelope in page.data]

        assert len(sections) == 378
        assert len({s.school for s in sections}) == 3
        assert all(s.students for s in sections[:10])

    def test_demo_district_parses_and_keeps_unmodelled_fields(self) -> None:
        (envelope,) = Page.model_validate(load("districts.json")).data

        district = District.model_validate(envelope.data)

        assert district.name == "#DEMO_DISTRICT"
        assert district.state == "running"
        assert district.model_extra is not None
        assert "sis_type" in district.model_extra

    def test_demo_users_through_the_client_in_pages(self) -> None:
        # Given the demo users served in pages of 500, the way Clever pages them
        records = [e["data"] for e in load("users.json")["data"]]
        size = 500

        def serve(request: httpx.Request) -> httpx.Response:
            start = int(request.url.params.get("starting_after_index", "0"))
            chunk = records[start : start + size]
            links = []
            if start + size < len(records):
                links.append(
                    {"rel": "next", "uri": f"/v3.0/users?limit={size}&starting_after_index={start + size}"}
                )
            return httpx.Response(200, json={"data": [{"data": r} for r in chunk], "links": links})

        http = httpx.Client(transport=httpx.MockTransport(serve))
        client = CleverClient("https://api.clever.test", "t", http=http, page_limit=size)

        # When they are all listed
        users = client.list_all(client.records, "/v3.0/users")

        # Then every record arrives once
        assert len(users) == 2_098
        assert client.rejected == []


def test_unknown_fields_are_kept_in_model_extra() -> None:
    user = User.model_validate({"id": "u1", "created": "2021-03-02", "roles": {"student": {"gender": "X"}}})

    assert user.model_extra == {"created": "2021-03-02"}
    assert user.roles.student is not None
    assert user.roles.student.model_extra == {"gender": "X"}


def test_unknown_enum_value_is_kept() -> None:
    user = User.model_validate(
        {
            "id": "c1",
            "roles": {
                "contact": {
                    "phone_type": "Pager",
                    "student_relationships": [{"student": "s1", "type": "Coach", "relationship": "Mentor"}],
                }
            },
        }
    )

    assert user.roles.contact is not None
    assert user.roles.contact.phone_type == "Pager"
    assert user.roles.contact.student_relationships[0].type == "Coach"


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 65, "semi;colon", None, 42])
def test_malformed_ids_are_refused(bad_id: object) -> None:
    with pytest.raises(ValidationError):
        User.model_validate({"id": bad_id})


def test_missing_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        User.model_validate({"email": "a@example.net"})


def test_blank_section_references_become_none() -> None:
    section = Section.model_validate(
        {"id": "sec1", "school": "s1", "course": "", "term_id": "", "teacher": ""}
    )

    assert (section.course, section.term_id, section.teacher) == (None, None, None)


def test_a_section_without_school_is_read_for_the_snapshot_to_quarantine() -> None:
    # The spec allows a blank or absent school: refusing the record would fail the whole poll.
    assert Section.model_validate({"id": "sec1"}).school is None
    assert Section.model_validate({"id": "sec1", "school": ""}).school is None


def test_blank_reference_ids_read_as_none_and_blank_list_entries_as_absent() -> None:
    user = User.model_validate(
        {
            "id": "5a25ffb0c1bc2a00360003ed",
            "district": "",
            "roles": {
                "student": {"school": "", "schools": ["5a25ff950a5f621109000005", ""]},
                "teacher": {"school": "", "schools": []},
            },
        }
    )
    assert user.district is None
    assert user.roles.student is not None
    assert user.roles.teacher is not None
    assert (user.roles.student.school, user.roles.student.schools) == (None, ["5a25ff950a5f621109000005"])
    assert user.roles.teacher.school is None
    section = Section.model_validate({"id": "x", "school": "s", "teachers": ["", "t1"], "students": [""]})
    assert (section.teachers, section.students) == (["t1"], [])


def test_page_next_uri() -> None:
    page = Page.model_validate(
        {
            "data": [],
            "links": [{"rel": "self", "uri": "/a"}, {"rel": "next", "uri": "/v3.0/users?starting_after=x"}],
        }
    )

    assert page.next_uri == "/v3.0/users?starting_after=x"


@pytest.mark.parametrize("body", [{"data": None}, {"data": [{"data": "not an object"}]}, {"links": []}])
def test_page_envelope_is_strict(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Page.model_validate(body)


def test_null_optional_fields_read_as_unset() -> None:
    district = District.model_validate({"id": "d1", "name": "X", "pause_start": None, "pause_end": None})
    assert district.pause_start == ""
    user = User.model_validate({"id": "u1", "name": {"first": None, "last": "Doe"}, "email": None})
    assert user.email == ""
    assert user.name.first == ""
