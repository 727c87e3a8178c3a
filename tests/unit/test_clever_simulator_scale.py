"""Clever simulator at NYC scale: the preset's shape, memory per page, and resumable cursors."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict, Resource
from clever_simulator.ids import Kind
from clever_simulator.walk import next_uri, walk_records

SEED = 7
PAGE = 10_000
# The listings the poll reads (sis_sync.polling.pull), each with the kind its last record has.
POLLED_LISTINGS = {
    "/v3.0/schools": Kind.SCHOOL,
    "/v3.0/users?role=student": Kind.STUDENT,
    "/v3.0/users?role=teacher": Kind.TEACHER,
    "/v3.0/users?role=staff": Kind.STAFF,
    "/v3.0/users?role=contact": Kind.CONTACT,
    "/v3.0/terms": Kind.TERM,
    "/v3.0/sections": Kind.SECTION,
}


def _getter(sim: CleverSimulator) -> Callable[[str], dict[str, Any]]:
    client = sim.app.test_client()

    def get_json(uri: str) -> dict[str, Any]:
        response = client.get(uri, headers={"Authorization": f"Bearer {sim.token}"})
        assert response.status_code == 200, (uri, response.status_code)
        body: dict[str, Any] = json.loads(response.get_data())
        return body

    return get_json


def _with(uri: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


@pytest.fixture(scope="module")
def nyc() -> GeneratedDistrict:
    return GeneratedDistrict.nyc(SEED)


def test_nyc_preset_has_new_york_citys_shape(nyc: GeneratedDistrict) -> None:
    # Given the NYC preset
    layout = nyc.layout

    # Then it has 1,800 schools of about 550 students and 1.5 contacts per student
    assert layout.schools == 1800
    assert layout.students == 1_000_000
    assert 500 <= layout.students / layout.schools <= 600
    assert layout.contacts == 1_500_000
    sizes = [layout.students_in(school) for school in range(layout.schools)]
    assert min(sizes) > 0
    assert max(sizes) < 1_000


def test_nyc_preset_serves_its_first_and_last_pages_in_memory_for_one_page() -> None:
    # Given the NYC preset constructed while memory is traced
    tracemalloc.start()
    try:
        district = GeneratedDistrict.nyc(SEED)
        constructed = tracemalloc.get_traced_memory()[0]
        sim = CleverSimulator(district)
        get_json = _getter(sim)

        # When the first and the last 10,000-student pages are served, one after the other
        first = get_json(f"/v3.0/users?role=student&limit={PAGE}")
        tracemalloc.reset_peak()
        cursor = district.id_of(Kind.STUDENT, 1_000_000 - PAGE - 1)
        last = get_json(f"/v3.0/users?role=student&limit={PAGE}&starting_after={cursor}")
        serving_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # Then the district itself is per-school bookkeeping, and a page costs memory for one page:
    # no more than the previous page plus the next one (under 100 MB; the district would be GBs)
    assert constructed < 2_000_000
    assert serving_peak < 100_000_000
    # And exactly the records served were built: 10,000 + 10,000 of the million
    assert district.records_built == 2 * PAGE
    assert [item["data"]["id"] for item in (first["data"][0], last["data"][-1])] == [
        district.id_of(Kind.STUDENT, 0),
        district.id_of(Kind.STUDENT, 999_999),
    ]
    assert next_uri(last) is not None  # a full last page links to the (empty) next one


def test_any_record_of_the_nyc_preset_is_built_alone(nyc: GeneratedDistrict) -> None:
    # Given the NYC preset, with a count of the records built so far
    built = nyc.records_built

    # When the last student, the last contact and the last section are fetched by id
    records = [
        nyc.get(Resource.USERS, nyc.id_of(Kind.STUDENT, 999_999)),
        nyc.get(Resource.USERS, nyc.id_of(Kind.CONTACT, nyc.layout.contacts - 1)),
        nyc.get(Resource.SECTIONS, nyc.id_of(Kind.SECTION, nyc.layout.sections - 1)),
    ]

    # Then each was computed from its index: three records built, no other one
    assert nyc.records_built == built + 3
    student, contact, section = records
    assert student is not None
    assert student["roles"]["student"]["school"] == nyc.id_of(Kind.SCHOOL, 1799)
    assert contact is not None
    assert contact["roles"]["contact"]["student_relationships"][0]["student"] == student["id"]
    assert section is not None
    assert section["school"] == nyc.id_of(Kind.SCHOOL, 1799)


@pytest.fixture(scope="module")
def small() -> GeneratedDistrict:
    return GeneratedDistrict(SEED, schools=3, students=1000)


@pytest.mark.parametrize("listing", list(POLLED_LISTINGS))
def test_every_polled_listing_resumes_from_a_stored_cursor(small: GeneratedDistrict, listing: str) -> None:
    # Given the whole listing, read once page by page
    whole = walk_records(_getter(CleverSimulator(small)), _with(listing, limit="7"))
    assert len(whole) >= 3

    for cut in sorted({1, len(whole) // 2, len(whole) - 1}):
        # When a later invocation resumes after a record it stored, on a simulator that never
        # issued that cursor (a restarted one: no paging memory), with another page size
        resumed = walk_records(
            _getter(CleverSimulator(small)), _with(listing, limit="5", starting_after=whole[cut - 1]["id"])
        )

        # Then it reads exactly the rest: no record repeated, none skipped
        assert [record["id"] for record in resumed] == [record["id"] for record in whole[cut:]], cut


def test_a_listing_resumes_after_a_record_that_has_since_left() -> None:
    # Given a stored cursor: the id of a student who has since been removed
    district = GeneratedDistrict(SEED, schools=3, students=1000)
    sim = CleverSimulator(district)
    get_json = _getter(sim)
    whole = walk_records(get_json, "/v3.0/users?role=student&limit=100")
    cursor = whole[499]["id"]
    district.remove_students([cursor])

    # When the listing resumes after it
    resumed = walk_records(get_json, f"/v3.0/users?role=student&limit=100&starting_after={cursor}")

    # Then it continues with the next student
    assert [record["id"] for record in resumed] == [record["id"] for record in whole[500:]]


def test_the_last_cursor_of_a_listing_resumes_to_an_empty_page(small: GeneratedDistrict) -> None:
    # Given the cursor of a listing's very last record
    for listing, kind in POLLED_LISTINGS.items():
        whole = walk_records(_getter(CleverSimulator(small)), _with(listing, limit="10000"))
        assert kind.value == int(whole[-1]["id"][6:8], 16)

        # When a resumed invocation asks for what follows
        page = _getter(CleverSimulator(small))(_with(listing, limit="10", starting_after=whole[-1]["id"]))

        # Then the page is empty and links nowhere: the listing is done
        assert page["data"] == []
        assert next_uri(page) is None, listing
