"""Sync ids, back-off and caps of the scheduled poll (sis_sync.scheduling)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sis_sync.model import District, SyncRun
from sis_sync.scheduling import MAX_BACKOFF, paging_limits, retry_at, sync_id_for

T0 = datetime(2026, 11, 2, 8, 0, 0, 123_000, tzinfo=UTC)


def district(failures: int, interval_minutes: int = 120) -> District:
    return District.model_validate(
        {
            "district_id": "d1",
            "name": "D",
            "clever_district_id": "c1",
            "consecutive_failures": failures,
            "settings": {"sync_interval_minutes": interval_minutes},
        }
    )


def test_two_checks_in_the_same_second_are_two_polls() -> None:
    # Given two polls started in the same millisecond by two requests
    first, second = sync_id_for("d1", T0), sync_id_for("d1", T0)
    # Then they have two ids, both carrying the time to the millisecond
    assert first != second
    assert first.startswith("20261102T080000123Z-")
    assert first.endswith("-d1")


def test_a_redelivered_trigger_gets_the_same_sync_id_and_another_trigger_another() -> None:
    assert sync_id_for("d1", T0, "event-1") == sync_id_for("d1", T0, "event-1")
    assert sync_id_for("d1", T0, "event-1") != sync_id_for("d1", T0, "event-2")
    assert sync_id_for("d1", T0, "event-1") != sync_id_for("d2", T0, "event-1")


def test_sync_ids_sort_by_time_and_are_execution_names() -> None:
    later = sync_id_for("d1", T0 + timedelta(milliseconds=1), "b")
    assert sync_id_for("d1", T0, "a") < later
    long = sync_id_for("d" * 100, T0)
    assert len(long) == 80
    assert all(c.isalnum() or c in "-_" for c in long)


def test_failures_in_a_row_back_off_exponentially_up_to_a_cap() -> None:
    waits = [retry_at(district(failures), T0) - T0 for failures in range(6)]
    assert waits[:4] == [timedelta(hours=2), timedelta(hours=4), timedelta(hours=8), timedelta(hours=16)]
    assert waits[4:] == [MAX_BACKOFF, MAX_BACKOFF]


def test_caps_follow_the_last_complete_poll() -> None:
    last = SyncRun(district_id="d1", sync_id="s", trigger="t", started_at=T0, pages=10, records=50_000)
    limits = paging_limits(last, 30.0)
    assert (limits.max_pages, limits.max_records, limits.budget_s) == (80, 170_000, 30.0)
    first = paging_limits(None, None)
    assert first.max_records is not None
    assert first.max_records >= 3_000_000
