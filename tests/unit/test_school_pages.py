"""Paging the school list in memory: every order and filter, any page size, each school exactly
once and in order; a cursor names its listing and is refused by another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis_sync.api.errors import BadRequestError
from sis_sync.api.models import SchoolSort
from sis_sync.api.school_pages import Listed, decode, page_of
from sis_sync.model import SchoolStatus

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)

schools = st.lists(
    st.builds(
        Listed,
        school_id=st.text("abc0123", min_size=1, max_size=4),
        name=st.sampled_from(["P.S. 1", "p.s. 1", "I.S. 2", "Zeta", "école", "É"]),
        status=st.sampled_from(list(SchoolStatus)),
        last_synced_at=st.none() | st.integers(0, 50).map(lambda m: T0 - timedelta(minutes=m)),
    ),
    max_size=40,
    unique_by=lambda s: s.school_id,
)


def _all(listed: list[Listed], sort: SchoolSort, status: SchoolStatus | None, limit: int) -> list[str]:
    pairs = [(school, school.school_id) for school in listed]
    shown: list[str] = []
    after = None
    for _ in range(len(listed) + 2):
        page = page_of(pairs, status=status, sort=sort, limit=limit, after=after)
        shown += page.items
        assert len(page.items) <= limit
        assert page.total == sum(1 for s in listed if status is None or s.status is status)
        if page.next_cursor is None:
            return shown
        after = decode(page.next_cursor, sort, status)
    raise AssertionError("the pages never ended")


@settings(max_examples=150, deadline=None)
@given(
    listed=schools,
    sort=st.sampled_from(list(SchoolSort)),
    status=st.none() | st.sampled_from(list(SchoolStatus)),
    limit=st.integers(1, 7),
)
def test_paging_shows_each_matching_school_exactly_once_in_the_orders_sequence(
    listed: list[Listed], sort: SchoolSort, status: SchoolStatus | None, limit: int
) -> None:
    # When every page is read; Then the same schools, in the same order, as one sorted list
    one_page = page_of([(s, s.school_id) for s in listed], status=status, sort=sort, limit=500, after=None)
    assert _all(listed, sort, status, limit) == one_page.items
    assert len(set(one_page.items)) == len(one_page.items)


def test_held_first_then_by_name_then_by_id_and_the_counts_are_the_districts() -> None:
    listed = [
        Listed("s3", "Beta", SchoolStatus.CONNECTED, T0),
        Listed("s2", "alpha", SchoolStatus.ON_HOLD, None),
        Listed("s1", "Alpha", SchoolStatus.ON_HOLD, T0),
        Listed("s4", "Gamma", SchoolStatus.DISCONNECTED, T0),
        Listed("s5", "Aardvark", SchoolStatus.NOT_CONNECTED, None),
    ]
    page = page_of(
        [(s, s.school_id) for s in listed], status=None, sort=SchoolSort.STATUS, limit=10, after=None
    )
    assert page.items == ["s1", "s2", "s4", "s5", "s3"]
    assert page.counts.model_dump() == {
        "all": 5,
        "on_hold": 2,
        "connected": 1,
        "disconnected": 1,
        "not_connected": 1,
    }
    latest = page_of(
        [(s, s.school_id) for s in listed],
        status=None,
        sort=SchoolSort.LAST_SYNCED_AT_DESC,
        limit=10,
        after=None,
    )
    assert latest.items[-2:] == ["s5", "s2"]  # never synced last (ties by name)


def test_a_cursor_is_refused_by_another_order_or_filter() -> None:
    listed = [(Listed(f"s{n}", f"School {n}", SchoolStatus.ON_HOLD, T0), f"s{n}") for n in range(3)]
    cursor = page_of(listed, status=None, sort=SchoolSort.NAME, limit=1, after=None).next_cursor
    assert cursor
    assert decode(cursor, SchoolSort.NAME, None)
    for sort, status in [(SchoolSort.NAME_DESC, None), (SchoolSort.NAME, SchoolStatus.ON_HOLD)]:
        with pytest.raises(BadRequestError):
            decode(cursor, sort, status)
