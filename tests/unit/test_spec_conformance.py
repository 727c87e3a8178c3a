"""Records Clever's spec allows, read through the client into snapshots (issue 10, findings 9-11):
a record that cannot be placed is quarantined with its reason, never a failed poll, never a
silent drop; a person with two roles is one person."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest

from sis_sync.changes import diff
from sis_sync.changes_csv import changes_csv_bytes
from sis_sync.clever.client import CleverClient
from sis_sync.polling import CleverPull, pull
from sis_sync.rules import evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import RecordType

Wire = dict[str, Any]
SCHOOL_A, SCHOOL_B = "5a25ff950a5f621109000005", "5a25ff950a5f621109000006"
LISTED_ROLES: tuple[RecordType, ...] = ("student", "teacher", "staff", "contact")


def clever(
    *,
    schools: Iterable[str] = (SCHOOL_A, SCHOOL_B),
    users: Mapping[str, list[Wire]] | None = None,
    sections: list[Wire] | None = None,
    terms: list[Wire] | None = None,
) -> CleverClient:
    """A Clever that serves each listing as one page: `users` by the role it is listed under."""
    by_role: dict[str, list[Wire]] = {role: list((users or {}).get(role, [])) for role in LISTED_ROLES}
    listings: dict[str, list[Wire]] = {
        "/v3.0/schools": [{"id": school, "name": f"School {school[-1]}"} for school in schools],
        "/v3.0/sections": sections or [],
        "/v3.0/terms": terms or [],
    }

    def serve(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        records = by_role[request.url.params["role"]] if path == "/v3.0/users" else listings[path]
        return httpx.Response(200, json={"data": [{"data": record} for record in records], "links": []})

    http = httpx.Client(transport=httpx.MockTransport(serve))
    return CleverClient("https://api.clever.test", "t", http=http, sleep=lambda _: None)


def ids_in(pulled: CleverPull, school: str, kind: RecordType) -> list[str]:
    return [record["id"] for record in pulled.records.get(school, {}).get(kind, [])]


def student(uid: str, **role: Any) -> Wire:
    return {"id": uid, "name": {"first": "Ada", "last": uid}, "roles": {"student": role}}


# --- finding 9: "" is "none" wherever the spec allows it ---------------------------------------


def test_the_reported_blank_school_id_places_the_student_by_its_schools() -> None:
    # Given the record from the issue: `school` blank, `schools` naming a school Clever lists
    odd = {
        "id": "5a25ffb0c1bc2a00360003ed",
        "roles": {"student": {"school": "", "schools": [SCHOOL_A]}},
    }
    # When the district is pulled
    pulled = pull(clever(users={"student": [odd]}))
    # Then the poll does not fail: the student is in its school and nothing is quarantined
    assert ids_in(pulled, SCHOOL_A, "student") == ["5a25ffb0c1bc2a00360003ed"]
    assert set(pulled.quarantine.values()) == {0}


def test_blank_ids_wherever_the_spec_allows_them_read_as_none() -> None:
    # Given blank district, school, teachers and relationship ids on every kind of record
    users = {
        "student": [student("s1", school="", schools=[SCHOOL_A]) | {"district": ""}],
        "teacher": [
            {"id": "t1", "district": "", "roles": {"teacher": {"school": "", "schools": [SCHOOL_A]}}}
        ],
        "staff": [{"id": "st1", "district": "", "roles": {"staff": {"schools": [SCHOOL_A, ""]}}}],
        "contact": [
            {
                "id": "c1",
                "district": "",
                "roles": {
                    "contact": {
                        "student_relationships": [
                            {"student": "s1", "type": "Parent/Guardian"},
                            {"student": "", "type": "Emergency"},
                        ]
                    }
                },
            }
        ],
    }
    section = {"id": "x1", "school": SCHOOL_A, "district": "", "teachers": ["", "t1"], "students": ["s1", ""]}
    # When the district is pulled
    pulled = pull(clever(users=users, sections=[section]))
    # Then everyone is placed; only the relationship to nobody is quarantined, as dangling
    assert [ids_in(pulled, SCHOOL_A, kind) for kind in LISTED_ROLES] == [["s1"], ["t1"], ["st1"], ["c1"]]
    [placed_section] = pulled.records[SCHOOL_A]["section"]
    assert (placed_section["teachers"], placed_section["students"]) == (["t1"], ["s1"])
    assert pulled.quarantine["dangling_references"] == 1
    assert [(e.reason, e.record_type, e.clever_id, e.detail) for e in pulled.quarantined] == [
        ("dangling_references", "contact", "c1", "student:")
    ]


def test_a_student_with_no_school_is_quarantined_and_the_rest_of_the_district_syncs() -> None:
    # Given one student with blank and empty schools, one with a school Clever does not list
    users = {
        "student": [
            student("s1", school="", schools=[]),
            student("s2", school="unlisted"),
            student("s3", school=SCHOOL_B),
        ]
    }
    # When the district is pulled
    pulled = pull(clever(users=users))
    # Then the others are placed and the two are quarantined, each with its reason
    assert ids_in(pulled, SCHOOL_B, "student") == ["s3"]
    assert pulled.quarantine["without_school"] == 2
    assert pulled.quarantine["dangling_references"] == 1
    reasons = {(e.reason, e.clever_id, e.detail) for e in pulled.quarantined}
    assert reasons == {
        ("without_school", "s1", ""),
        ("without_school", "s2", ""),
        ("dangling_references", "s2", "school:unlisted"),
    }


def test_a_section_with_a_blank_school_is_quarantined_not_a_failed_poll() -> None:
    pulled = pull(clever(sections=[{"id": "x1", "school": "", "name": "Algebra"}]))
    assert pulled.quarantine["without_school"] == 1
    assert [(e.record_type, e.clever_id, e.name) for e in pulled.quarantined] == [
        ("section", "x1", "Algebra")
    ]


def test_a_record_of_the_wrong_shape_still_fails_the_poll() -> None:
    # The listing itself is untrustworthy (a number where the spec says an object): reading on
    # would make the record look removed.
    from sis_sync.clever.errors import CleverBadResponse

    with pytest.raises(CleverBadResponse):
        pull(clever(users={"student": [{"id": "s1", "roles": {"student": 42}}]}))


# --- finding 10: a user in a role's listing without that role ---------------------------------


@pytest.mark.parametrize(
    "roles",
    [{"student": None}, {}, None, {"teacher": {"schools": [SCHOOL_A]}}],
    ids=["role-null", "roles-empty", "roles-null", "other-role-only"],
)
def test_a_user_listed_as_a_student_without_the_student_role_is_quarantined(roles: Any) -> None:
    user: Wire = {"id": "u1", "name": {"first": "Bo", "last": "Lee"}}
    if roles is not None:
        user["roles"] = roles
    pulled = pull(clever(users={"student": [user]}))
    assert pulled.quarantine["no_role"] == 1
    [entry] = pulled.quarantined
    assert (entry.reason, entry.record_type, entry.clever_id, entry.name, entry.detail) == (
        "no_role",
        "student",
        "u1",
        "Bo Lee",
        "student",
    )
    assert all(not records["teacher"] for records in pulled.records.values())  # not read as a teacher


def test_a_staff_member_whose_schools_became_empty_is_quarantined_without_school_and_named() -> None:
    staff = {"id": "st1", "name": {"first": "Cy", "last": "Ng"}, "roles": {"staff": {"schools": []}}}
    pulled = pull(clever(users={"staff": [staff]}))
    assert pulled.quarantine["without_school"] == 1
    assert [(e.reason, e.record_type, e.clever_id, e.name) for e in pulled.quarantined] == [
        ("without_school", "staff", "st1", "Cy Ng")
    ]


# --- finding 11: one person with two roles ------------------------------------------------------


def teacher_and_staff(uid: str, *, staff: bool = True) -> Wire:
    roles: Wire = {"teacher": {"school": SCHOOL_A, "schools": [SCHOOL_A]}}
    if staff:
        roles["staff"] = {"schools": [SCHOOL_A]}
    return {"id": uid, "name": {"first": "Di", "last": "Ray"}, "email": "di@example.org", "roles": roles}


def test_a_teacher_who_is_also_staff_is_one_person_with_two_roles_not_duplicate_ids() -> None:
    # Given a user Clever lists under role=teacher and again under role=staff
    both = teacher_and_staff("u1")
    # When the district is pulled
    pulled = pull(clever(users={"teacher": [both], "staff": [both]}))
    # Then the person is a teacher and a staff member of the school, with no duplicate id
    assert ids_in(pulled, SCHOOL_A, "teacher") == ["u1"]
    assert ids_in(pulled, SCHOOL_A, "staff") == ["u1"]
    assert pulled.quarantine["duplicate_ids"] == 0
    assert pulled.multi_role == 1


def test_a_real_duplicate_id_is_still_reported() -> None:
    pulled = pull(clever(users={"teacher": [teacher_and_staff("u1"), teacher_and_staff("u1")]}))
    assert pulled.quarantine["duplicate_ids"] == 1


def test_a_lost_staff_role_says_in_the_csv_that_the_person_is_still_a_teacher() -> None:
    # Given a school whose applied roster has a teacher who was also staff
    before = pull(clever(users={"teacher": [teacher_and_staff("u1")], "staff": [teacher_and_staff("u1")]}))
    still_teacher = teacher_and_staff("u1", staff=False)
    after = pull(clever(users={"teacher": [still_teacher]}))
    # When the change set is computed
    evaluation = evaluate(before.records[SCHOOL_A], after.records[SCHOOL_A], HoldThresholds())
    # Then the staff role's removal says what the person still is, in the binding CSV header
    [change] = list(evaluation.change_set)
    assert (change.kind, change.record_type, change.changed_fields) == (
        "removed",
        "staff",
        ("roles=teacher",),
    )
    lines = changes_csv_bytes(evaluation, {}).decode().splitlines()
    assert lines[1] == "removed,staff,u1,,,Di Ray,di@example.org,roles=teacher,,,"


def test_a_person_who_leaves_has_no_remaining_roles_note() -> None:
    before = pull(clever(users={"teacher": [teacher_and_staff("u1")], "staff": [teacher_and_staff("u1")]}))
    change_set = diff(before.records[SCHOOL_A], {})
    assert {(c.record_type, c.changed_fields) for c in change_set} == {("teacher", ()), ("staff", ())}


# --- what the admin is shown -------------------------------------------------------------------


def test_the_report_shows_the_syncs_quarantine_for_its_school_and_those_with_no_school() -> None:
    from datetime import UTC, datetime

    from sis_sync.api.reports import quarantine_report
    from sis_sync.model import SyncRun

    # Given a pull with a staff member without school, a section of school B dangling, a multi-role user
    both = teacher_and_staff("u1")
    staff = {"id": "st1", "name": {"first": "Cy", "last": "Ng"}, "roles": {"staff": {"schools": []}}}
    section = {"id": "x1", "school": SCHOOL_B, "students": ["ghost"]}
    pulled = pull(clever(users={"teacher": [both], "staff": [both, staff]}, sections=[section]))
    run = SyncRun(district_id="d", sync_id="s1", trigger="test", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    # When the run records them, as the poll does
    run.quarantine, run.quarantined, run.multi_role = pulled.quarantine, pulled.quarantined, pulled.multi_role
    # Then school A's report names the staff member, not school B's section; counts are the district's
    report = quarantine_report(run, SCHOOL_A)
    assert [(r.reason, r.record_type, r.clever_id, r.name) for r in report.records] == [
        ("without_school", "staff", "st1", "Cy Ng")
    ]
    assert (report.counts["without_school"], report.counts["dangling_references"], report.multi_role) == (
        1,
        1,
        1,
    )
    assert [r.clever_id for r in quarantine_report(run, SCHOOL_B).records] == ["st1", "x1"]
