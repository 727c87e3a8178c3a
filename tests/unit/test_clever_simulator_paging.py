"""Clever simulator: envelope, paging, nested listings, tokens, determinism and laziness."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.ids import Kind
from clever_simulator.walk import walk_pages, walk_records

SEED = 7


def _getter(client: FlaskClient, token: str) -> Callable[[str], dict[str, Any]]:
    def get_json(uri: str) -> dict[str, Any]:
        response = client.get(uri, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, (uri, response.status_code, response.get_data(as_text=True))
        body: dict[str, Any] = response.get_json()
        return body

    return get_json


@pytest.fixture(scope="module")
def district() -> GeneratedDistrict:
    return GeneratedDistrict(SEED, schools=3, students=1000)


@pytest.fixture
def sim(district: GeneratedDistrict) -> CleverSimulator:
    return CleverSimulator(district)


@pytest.fixture
def get_json(sim: CleverSimulator) -> Callable[[str], dict[str, Any]]:
    return _getter(sim.app.test_client(), sim.token)


def test_following_next_links_collects_every_student_exactly_once(
    get_json: Callable[[str], dict[str, Any]],
) -> None:
    # Given a 1,000-student district paged 100 at a time
    # When a client follows rel=next from the first page
    pages = list(walk_pages(get_json, "/v3.0/users?role=student&limit=100"))
    ids = [item["data"]["id"] for page in pages for item in page["data"]]

    # Then it sees every student once, in id order, on 10 full pages and then an empty one: a full
    # page always links to the next (a full page without `next` reads as a truncated listing)
    assert [len(page["data"]) for page in pages] == [100] * 10 + [0]
    assert len(ids) == len(set(ids)) == 1000
    assert ids == sorted(ids)
    assert all(link["rel"] != "next" for link in pages[-1]["links"])
    assert all(any(link["rel"] == "next" for link in page["links"]) for page in pages[:-1])


def test_envelope_has_clever_shape(get_json: Callable[[str], dict[str, Any]]) -> None:
    # When the first page of students is read
    page = get_json("/v3.0/users?role=student&limit=2")

    # Then items carry data + uri, and links carry self + next with limit and starting_after
    first = page["data"][0]
    assert first["uri"] == f"/v3.0/users/{first['data']['id']}"
    links = {link["rel"]: link["uri"] for link in page["links"]}
    assert links["self"] == "/v3.0/users?role=student&limit=2"
    last_id = page["data"][-1]["data"]["id"]
    assert links["next"] == f"/v3.0/users?limit=2&role=student&starting_after={last_id}"


def test_users_without_role_lists_every_role(
    district: GeneratedDistrict, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # When all users are listed without a role filter
    users = walk_records(get_json, "/v3.0/users?limit=10000")

    # Then each role is present with the generated counts
    roles = [next(iter(user["roles"])) for user in users]
    layout = district.layout
    assert roles.count("student") == layout.students
    assert roles.count("teacher") == layout.teachers
    assert roles.count("staff") == layout.staff
    assert roles.count("district_admin") == district.district_admins
    assert roles.count("contact") == layout.contacts == 1500
    assert [user["id"] for user in users] == sorted(user["id"] for user in users)


@pytest.mark.parametrize("resource", ["districts", "schools", "sections", "terms", "courses"])
def test_each_listing_pages_to_the_same_records_as_one_big_page(
    get_json: Callable[[str], dict[str, Any]], resource: str
) -> None:
    # When a listing is read with small pages and with one big page
    small = walk_records(get_json, f"/v3.0/{resource}?limit=7")
    big = get_json(f"/v3.0/{resource}?limit=10000")

    # Then both give the same records
    assert small == [item["data"] for item in big["data"]]
    assert small


def test_limit_above_10000_is_refused_with_413(sim: CleverSimulator) -> None:
    # When a client asks for more than Clever's maximum page size
    response = sim.app.test_client().get(
        "/v3.0/users?limit=10001", headers={"Authorization": f"Bearer {sim.token}"}
    )

    # Then the simulator answers 413 in Clever's error shape
    assert response.status_code == 413
    assert "message" in response.get_json()


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_invalid_limit_is_a_bad_request(sim: CleverSimulator, limit: str) -> None:
    response = sim.app.test_client().get(
        f"/v3.0/users?limit={limit}", headers={"Authorization": f"Bearer {sim.token}"}
    )
    assert response.status_code == 400


def test_page_size_cap_serves_fewer_records_than_asked_and_paging_still_completes(
    district: GeneratedDistrict,
) -> None:
    # Given a server that returns at most 64 records per page
    sim = CleverSimulator(district, page_size_cap=64)
    get_json = _getter(sim.app.test_client(), sim.token)

    # When a client asks for 10,000 per page
    pages = list(walk_pages(get_json, "/v3.0/users?role=student&limit=10000"))

    # Then pages hold 64 records, the next link keeps the requested limit, and nothing is lost
    assert [len(page["data"]) for page in pages[:-1]] == [64] * (len(pages) - 1)
    assert "limit=10000" in next(link["uri"] for link in pages[0]["links"] if link["rel"] == "next")
    assert sum(len(page["data"]) for page in pages) == 1000


def test_school_users_include_dual_enrolled_students_of_other_schools(
    district: GeneratedDistrict, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # Given the district's students and its second school
    students = walk_records(get_json, "/v3.0/users?role=student&limit=10000")
    school_id = district.school_ids()[1]
    expected = sorted(s["id"] for s in students if school_id in s["roles"]["student"]["schools"])

    # When the school's nested user listing is read a page of 10 at a time
    served = walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10")

    # Then it holds exactly the students enrolled there, including some dual-enrolled ones
    assert [s["id"] for s in served] == expected
    assert any(s["roles"]["student"]["school"] != school_id for s in served)
    dual_share = sum(len(s["roles"]["student"]["schools"]) > 1 for s in students) / len(students)
    assert 0.01 < dual_share < 0.06


def test_school_users_without_role_has_students_teachers_and_staff(
    district: GeneratedDistrict, get_json: Callable[[str], dict[str, Any]]
) -> None:
    school_id = district.school_ids()[0]
    users = walk_records(get_json, f"/v3.0/schools/{school_id}/users?limit=50")
    assert {next(iter(user["roles"])) for user in users} == {"student", "teacher", "staff"}


def test_school_sections_and_section_members_belong_to_the_school(
    district: GeneratedDistrict, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # Given one school
    school_id = district.school_ids()[2]
    teachers = {t["id"] for t in walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=teacher")}

    # When its sections are read
    sections = walk_records(get_json, f"/v3.0/schools/{school_id}/sections?limit=25")

    # Then every section is the school's, its teachers teach there, and every student takes it
    assert sections
    assert all(section["school"] == school_id for section in sections)
    assert all(
        set(section["teachers"]) <= teachers and section["teacher"] in teachers for section in sections
    )
    students = walk_records(get_json, f"/v3.0/schools/{school_id}/users?role=student&limit=10000")
    own = {s["id"] for s in students if s["roles"]["student"]["school"] == school_id}
    in_sections = {student for section in sections for student in section["students"]}
    assert in_sections == own


def test_mycontacts_lists_the_contacts_linked_to_a_student(
    district: GeneratedDistrict, get_json: Callable[[str], dict[str, Any]]
) -> None:
    # Given every contact of the district
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    student_id = district.id_of(Kind.STUDENT, 1)
    expected = [
        c["id"]
        for c in contacts
        if any(link["student"] == student_id for link in c["roles"]["contact"]["student_relationships"])
    ]

    # When the student's contacts are listed
    served = walk_records(get_json, f"/v3.0/users/{student_id}/mycontacts")

    # Then they are exactly those contacts
    assert [c["id"] for c in served] == expected
    assert len(expected) >= 1


def test_contacts_mix_types_relationships_and_sis_ids(get_json: Callable[[str], dict[str, Any]]) -> None:
    contacts = walk_records(get_json, "/v3.0/users?role=contact&limit=10000")
    links = [link for c in contacts for link in c["roles"]["contact"]["student_relationships"]]
    types = [link["type"] for link in links]
    assert types.count("Parent/Guardian") > len(types) / 2
    assert {"Family", "Other", "Primary"} <= set(types)
    assert not {"Emergency", "Secondary"} & set(types)
    assert {"Parent", "Grandparent", "Aunt/Uncle"} <= {link["relationship"] for link in links}
    with_sis_id = sum(bool(c["roles"]["contact"]["sis_id"]) for c in contacts)
    assert 0 < with_sis_id < len(contacts)
    assert any("email" not in c for c in contacts)
    assert any("email" in c for c in contacts)


def test_get_by_id_and_unknown_id(district: GeneratedDistrict, sim: CleverSimulator) -> None:
    client = sim.app.test_client()
    headers = {"Authorization": f"Bearer {sim.token}"}
    student_id = district.id_of(Kind.STUDENT, 5)

    found = client.get(f"/v3.0/users/{student_id}", headers=headers)
    assert found.status_code == 200
    assert found.get_json()["data"]["id"] == student_id

    for uri in (
        "/v3.0/users/5a25ffb0c1bc2a00360003ed",
        f"/v3.0/schools/{student_id}",  # a user id is not a school id
        f"/v3.0/users/{district.id_of(Kind.STUDENT, 10**6)}",  # well-formed but out of range
        "/v3.0/schools/nope/users",
        f"/v3.0/districts/{district.id_of(Kind.SCHOOL, 0)}",
    ):
        response = client.get(uri, headers=headers)
        assert response.status_code == 404, uri
        assert response.get_json() == {"message": "Resource not found"}
    assert client.get(f"/v3.0/districts/{district.district_id}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "error"),
    [(None, "invalid_request"), ("Bearer not-a-token", "invalid_token"), ("Basic abc", "invalid_request")],
)
def test_missing_or_unknown_token_is_401_with_json_body(
    sim: CleverSimulator, authorization: str | None, error: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = sim.app.test_client().get("/v3.0/users", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == error


def test_several_tokens_for_the_district_are_accepted(district: GeneratedDistrict) -> None:
    sim = CleverSimulator(district, tokens={"tok-1": district.district_id, "tok-2": district.district_id})
    client = sim.app.test_client()
    for token in ("tok-1", "tok-2"):
        assert client.get("/v3.0/districts", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_oauth_tokens_needs_client_credentials(district: GeneratedDistrict) -> None:
    # Given a simulator with known client credentials
    sim = CleverSimulator(
        district, tokens={"tok-1": district.district_id}, client_id="cid", client_secret="cs"
    )
    client = sim.app.test_client()

    # When the app asks for its district tokens with and without the right basic auth
    good = client.get("/oauth/tokens?owner_type=district", auth=("cid", "cs"))
    bad = client.get("/oauth/tokens?owner_type=district", auth=("cid", "wrong"))

    # Then only the right credentials get the token list, in Clever's shape
    assert bad.status_code == 401
    body = good.get_json()
    assert body["links"] == [{"rel": "self", "uri": "/oauth/tokens?owner_type=district"}]
    [token] = body["data"]
    assert token["access_token"] == "tok-1"
    assert token["owner"] == {"type": "district", "id": district.district_id}
    assert "read:students" in token["scopes"]
    assert set(token) == {"id", "created", "owner", "access_token", "scopes"}


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    def first_pages(seed: int) -> list[bytes]:
        sim = CleverSimulator(GeneratedDistrict(seed, schools=3, students=200))
        client = sim.app.test_client()
        headers = {"Authorization": f"Bearer {sim.token}"}
        uris = ["/v3.0/users?limit=10000", "/v3.0/sections?limit=10000", "/v3.0/schools", "/v3.0/districts"]
        return [client.get(uri, headers=headers).get_data() for uri in uris]

    assert first_pages(11) == first_pages(11)
    assert all(a != b for a, b in zip(first_pages(11), first_pages(12), strict=True))


def test_grades_match_school_levels_and_dob_matches_grade(get_json: Callable[[str], dict[str, Any]]) -> None:
    schools = {s["id"]: s for s in walk_records(get_json, "/v3.0/schools")}
    order = ["Kindergarten", *map(str, range(1, 13))]
    for student in walk_records(get_json, "/v3.0/users?role=student&limit=10000"):
        role = student["roles"]["student"]
        school = schools[role["school"]]
        grade = order.index(role["grade"])
        assert order.index(school["low_grade"]) <= grade <= order.index(school["high_grade"])
        month, _, year = (int(part) for part in role["dob"].split("/"))
        age_on_sept_first = 2025 - year - (month >= 9)
        assert age_on_sept_first == 5 + grade


def test_a_million_student_district_is_lazy() -> None:
    # Given a NYC-scale district constructed while memory is traced
    tracemalloc.start()
    try:
        district = GeneratedDistrict(SEED, schools=1800, students=1_000_000)
        construction_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sim = CleverSimulator(district)

    # Then construction built no record and kept only per-school bookkeeping
    assert district.records_built == 0
    assert construction_peak < 2_000_000

    # When page 50 of the students is fetched at limit=10000
    cursor = district.id_of(Kind.STUDENT, 49 * 10_000 - 1)
    response = sim.app.test_client().get(
        f"/v3.0/users?role=student&limit=10000&starting_after={cursor}",
        headers={"Authorization": f"Bearer {sim.token}"},
    )

    # Then exactly that page's 10,000 records were materialised, students 490,000 to 499,999
    body = json.loads(response.get_data())
    assert district.records_built == 10_000
    ids = [item["data"]["id"] for item in body["data"]]
    assert ids[0] == district.id_of(Kind.STUDENT, 490_000)
    assert ids[-1] == district.id_of(Kind.STUDENT, 499_999)
    assert district.layout.sections > 200_000
    assert district.layout.contacts == 1_500_000
