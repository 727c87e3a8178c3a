"""Clever's pause of a district (issue 12, item 4): polls during it read and apply nothing and count
no failure; the first sync after it that removes above the thresholds is held with a note saying so."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import boto3
import pytest

from devstack.outbox import sent_messages
from sis_sync import services
from sis_sync.api.reports import district_view
from sis_sync.evaluation import csv_key
from sis_sync.model import Connection, SchoolStatus, SyncStatus
from tests.e2e.flow import real_handlers, roster, schools, sync
from tests.onboarded import DISTRICT

PAUSE_START = "2026-06-12T00:00:00+00:00"
PAUSE_END = "2026-08-24T12:00:00+00:00"


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def _district() -> Any:
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    return district


def test_polls_during_the_pause_read_nothing_apply_nothing_and_count_no_failure(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a synced district that Clever then pauses, whose SIS loses 30 % of a school meanwhile
    sim, _ = simulator
    sync("s001")
    target = sim.district.school_ids()[1]
    before = roster(schools()[target].school_id)
    services.state_table().update_district(DISTRICT, consecutive_failures=2)  # two failed polls before
    sim.scenarios.pause(pause_start=PAUSE_START, pause_end=PAUSE_END)
    sim.scenarios.semester_end(school_id=target)

    # When it is polled more often than it may fail (disconnect_after_failures is 3)
    runs = [sync(f"s00{n}") for n in (2, 3, 4)]

    # Then no poll failed, started an evaluation or changed a school; the roster is as it was
    assert [(r.status, r.clever_paused, r.execution_arn, r.changed_count) for r in runs] == [
        (SyncStatus.SUCCEEDED, True, None, 0)
    ] * 3
    held = schools()[target]
    assert held.status is SchoolStatus.CONNECTED
    assert held.pending is None
    assert held.applied is not None
    assert held.applied.sync_id == "s001"
    assert roster(held.school_id) == before
    # and the district is connected, with no failure counted, its last sync still the one that read data
    district = _district()
    assert (district.connection, district.consecutive_failures, district.last_error) == (
        Connection.CONNECTED,
        0,
        None,
    )
    assert district.last_sync_id == "s001"
    # and it records the pause, which GET /v1/districts/{d} shows
    pause = district_view(district).clever_pause
    assert pause is not None
    assert pause.paused is True
    assert pause.pause_start == datetime.fromisoformat(PAUSE_START)
    assert pause.pause_end == datetime.fromisoformat(PAUSE_END)
    assert pause.first_sync_id is None


def test_the_first_sync_after_the_pause_holds_large_removals_noting_the_pause(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a district paused by Clever while its SIS lost 30 % of a school, then resumed
    sim, _ = simulator
    sync("s001")
    first, second = sim.district.school_ids()[:2]
    sim.scenarios.pause(pause_start=PAUSE_START, pause_end=PAUSE_END)
    sim.scenarios.semester_end(school_id=first)
    sync("s002")
    sim.scenarios.resume()

    # When the first sync after the pause runs
    sync("s003")

    # Then the school is held for the removals, with a note that this is the first sync after the pause
    held = schools()[first]
    assert held.status is SchoolStatus.ON_HOLD
    assert held.pending_sync_id == "s003"
    assert [hold.reason.value for hold in held.holds] == ["large_removals", "after_pause"]
    assert held.holds[1].detail == {
        "pause_start": PAUSE_START,
        "pause_end": PAUSE_END,
        "first_sync_id": "s003",
    }
    pause = district_view(_district()).clever_pause
    assert pause is not None
    assert (pause.paused, pause.first_sync_id) == (False, "s003")
    # and the CSV marks each removal with both reasons
    body = boto3.client("s3").get_object(Bucket=stack.bucket, Key=csv_key(DISTRICT, held.school_id, "s003"))
    rows = list(csv.DictReader(io.StringIO(body["Body"].read().decode())))
    removed = [row for row in rows if row["change_type"] == "removed"]
    assert removed
    assert {row["hold_reasons"] for row in removed} == {"large_removals;after_pause"}
    # and the hold e-mail says so
    assert flow.join(60), "the hold e-mail (an asynchronous invoke) is still being sent"
    mails = [m for m in sent_messages(stack.account_id, stack.region) if "admin@example.org" in m["to"]]
    assert len(mails) == 1
    assert "First sync after Clever's pause" in mails[0]["subject"]
    assert "first sync after Clever paused your district's sync" in mails[0]["text"]

    # When a later sync brings large removals at another school, and new parents at the held one
    sim.scenarios.semester_end(school_id=second)
    sim.scenarios.new_parents(school_id=first)
    sync("s004")

    # Then that one is held for the removals alone: it is not the first sync after the pause
    assert [hold.reason.value for hold in schools()[second].holds] == ["large_removals"]
    # while the held school's newer change set keeps the note of the review it waits for
    assert schools()[first].pending_sync_id == "s004"
    assert [hold.reason.value for hold in schools()[first].holds] == ["large_removals", "after_pause"]
