"""The school list of a large district (over 1,000 schools) through the API: a page at a time
(`limit` + `next_cursor`), filtered by status, sorted, with the whole district's status counts; a
cursor that is not the listing's own is refused."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sis_sync import services
from sis_sync.model import Decision, PendingChange, School, SchoolStatus, SnapshotRef
from sis_sync.rules import Hold, HoldReason
from tests.api_events import ApiResponse, admin, call, http_event
from tests.onboarded import DISTRICT

# More than two default pages (500). NYC's 1,800 would page the same way; in moto every item read
# costs CPU, and 1,800 took ~4 minutes of the suite.
SCHOOLS = 1_050
PATH = f"/v1/districts/{DISTRICT}/schools"
RANK = {"on_hold": 0, "disconnected": 1, "not_connected": 2, "connected": 3}
T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def _school(n: int, rng: random.Random) -> School:
    """School n: mostly connected, some held, disconnected, not connected; names that repeat and
    differ in case (ties go by id); some never synced."""
    school_id = f"s{n:04d}"
    status = rng.choices(
        [SchoolStatus.CONNECTED, SchoolStatus.ON_HOLD, SchoolStatus.DISCONNECTED, SchoolStatus.NOT_CONNECTED],
        weights=[70, 17, 5, 8],
    )[0]
    held = status is SchoolStatus.ON_HOLD
    name = f"{rng.choice(['P.S.', 'p.s.', 'I.S.', 'High School'])} {rng.randrange(600)}"
    return School(
        district_id=DISTRICT,
        school_id=school_id,
        name=name,
        clever_school_id=None if status is SchoolStatus.NOT_CONNECTED else f"c-{school_id}",
        status=status,
        applied=SnapshotRef(sync_id="s001", key="k", sha256="a"),
        pending=PendingChange(
            sync_id="s002",
            key=f"snapshots/{DISTRICT}/{school_id}/x.json.gz",
            sha256="x",
            decision=Decision.HOLD,
            evaluated_at=T0,
            csv_key=f"changes/{DISTRICT}/{school_id}/s002.csv",
        )
        if held
        else None,
        holds=[Hold(reason=HoldReason.LARGE_REMOVALS, detail={"removed": 40})] if held else [],
        changes={"added": 1, "updated": 2, "removed": 40, "source_id_changed": 0, "sync_id": "s002"},
        last_synced_at=None if rng.random() < 0.1 else T0 - timedelta(minutes=rng.randrange(100_000)),
    )


@pytest.fixture
def district(stack: Any, request: pytest.FixtureRequest) -> dict[str, School]:
    """d-test with SCHOOLS schools (or `request.param`), written straight to the table (the fastest
    way in moto; a read of 1,800 whole items costs moto seconds, so cursor checks use fewer)."""
    rng = random.Random(13)
    count = getattr(request, "param", SCHOOLS)
    schools = {school.school_id: school for school in (_school(n, rng) for n in range(count))}
    table = boto3.resource("dynamodb").Table(stack.state_table)
    with table.batch_writer() as batch:
        for school in schools.values():
            batch.put_item(Item=services.state_table()._school_item(school))
    return schools


@pytest.fixture
def api() -> Callable[..., ApiResponse]:
    from functions.api.app import lambda_handler  # imported inside the mock (STYLE: tests)

    def get(**query: Any) -> ApiResponse:
        params = {k: str(v) for k, v in query.items() if v is not None}
        return call(lambda_handler, http_event("GET", PATH, claims=admin(DISTRICT), query=params))

    return get


def _all_pages(
    api: Callable[..., ApiResponse], cursor: str | None = None, **query: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every school of the listing (from `cursor` on), page after page; and how many pages it took."""
    shown: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = api(cursor=cursor, **query)
        assert response.status == 200, response.text[:300]
        body = response.json()
        shown += body["schools"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return shown, pages
        assert pages < 100


def _name(school: School) -> str:
    return school.name.casefold()


def _synced(school: School) -> float:
    return school.last_synced_at.timestamp() if school.last_synced_at else -1


def _error(response: ApiResponse, status: int) -> str:
    assert response.status == status, response.text[:300]
    body = response.json()
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


@pytest.mark.timeout(
    900
)  # moto copies and serialises every item it reads: seconds per page on a busy machine
def test_paging_shows_every_school_exactly_once_held_first_with_the_district_counts(
    district: dict[str, School], api: Callable[..., ApiResponse]
) -> None:
    counts = Counter(s.status.value for s in district.values())
    # Given 1,050 schools; When a client asks with no parameters at all
    first = api().json()
    # Then it gets the first 500 in the default order, every field of the contract, and a cursor
    assert len(first["schools"]) == 500
    assert first["next_cursor"]
    fields = {"school_id", "name", "clever_school_id", "status", "holds", "pending_sync_id", "last_synced_at"}
    assert fields | {"changes"} <= set(first["schools"][0])
    # And the whole district's counts
    assert first["counts"] == {
        "all": SCHOOLS,
        **{status.value: counts[status.value] for status in SchoolStatus},
    }
    assert first["total"] == SCHOOLS
    # When it follows next_cursor to the end
    rest, pages = _all_pages(api, cursor=first["next_cursor"])
    # Then every school comes exactly once, in 3 pages in all, on hold first, then by name and id
    assert pages == 2
    ids = [s["school_id"] for s in first["schools"] + rest]
    assert len(ids) == len(set(ids)) == SCHOOLS
    expected = sorted(district.values(), key=lambda s: (RANK[s.status.value], _name(s), s.school_id))
    assert ids == [s.school_id for s in expected]
    assert [s["status"] for s in first["schools"][:3]] == ["on_hold"] * 3


@pytest.mark.parametrize("district", [300], indirect=True)
def test_filtering_to_on_hold_and_sorting_descending_pages_the_filtered_set(
    district: dict[str, School], api: Callable[..., ApiResponse]
) -> None:
    held = [s for s in district.values() if s.status is SchoolStatus.ON_HOLD]
    # When the admin lists the held schools, the most recently synced first, 40 a page
    shown, pages = _all_pages(api, status="on_hold", sort="-last_synced_at", limit=40)
    # Then exactly the held schools, latest sync first (never synced last), ties by name
    expected = sorted(held, key=lambda s: (-_synced(s), _name(s), s.school_id))
    assert [s["school_id"] for s in shown] == [s.school_id for s in expected]
    assert pages == -(-len(held) // 40) > 1
    assert all(s["status"] == "on_hold" and s["pending_sync_id"] == "s002" for s in shown)
    # And by name, Z to A, across a page boundary
    page = api(sort="-name", limit=150).json()
    then = api(sort="-name", limit=150, cursor=page["next_cursor"]).json()
    z_to_a = sorted(district.values(), key=lambda s: (_name(s), s.school_id), reverse=True)
    assert [s["school_id"] for s in page["schools"] + then["schools"]] == [s.school_id for s in z_to_a[:300]]


@pytest.mark.parametrize("district", [240], indirect=True)
def test_a_school_written_between_two_pages_neither_repeats_nor_shifts_the_rest(
    district: dict[str, School], api: Callable[..., ApiResponse]
) -> None:
    # Given the first page by name
    first = api(sort="name", limit=100).json()
    # When a school that sorts before it is added (an offset would now show the 100th school again)
    services.state_table().put_school(School(district_id=DISTRICT, school_id="s-new", name="A new school"))
    second = api(sort="name", limit=100, cursor=first["next_cursor"]).json()
    # Then the next page starts right after where the first ended: no repeat, no gap
    rest = sorted(district.values(), key=lambda s: (_name(s), s.school_id))[100:200]
    assert second["total"] == len(district) + 1
    assert [s["school_id"] for s in second["schools"]] == [s.school_id for s in rest]


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("district", [30], indirect=True)
def test_a_cursor_that_is_not_the_listings_own_and_bad_parameters_are_refused(
    district: dict[str, School], api: Callable[..., ApiResponse]
) -> None:
    by_name = api(sort="name", limit=10).json()["next_cursor"]
    # A cursor of another order or filter, garbage, or a hand-made one of the wrong shape: 400
    assert _error(api(sort="status", cursor=by_name), 400) == "bad_request"
    assert _error(api(sort="name", status="on_hold", cursor=by_name), 400) == "bad_request"
    for sort, bad in [
        ("name", "not-a-cursor!"),
        ("name", "e30"),  # {}
        ("name", _cursor(["name"])),
        ("name", _cursor({"sort": "name", "status": None, "after": [1, 2]})),
        ("status", _cursor({"sort": "status", "status": None, "after": ["p.s. 1", "s0001"]})),
        ("name", _cursor({"sort": "name", "status": None, "after": ["a", "b"], "district": "d-other"})),
    ]:
        assert _error(api(sort=sort, cursor=bad), 400) == "bad_request", bad
    # Out-of-range limits and unknown orders or statuses: 422, the validation error
    queries: list[dict[str, Any]] = [
        {"limit": 0},
        {"limit": 501},
        {"sort": "size"},
        {"status": "sleeping"},
        {"cursor": "x" * 1025},
    ]
    for query in queries:
        assert _error(api(**query), 422) == "validation_error", query
