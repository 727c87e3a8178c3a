"""The scheduled poll fans out (statemachine/poll.asl.json, run by moto): one poll_clever invocation
per due district, so a district whose listing never ends fails on its own, backed off, while a
healthy district polls in the same tick; and a redelivered schedule finds the polls it started."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.lambdas import InvokeLog, route_lambda_invokes, stack_handlers
from devstack.schedules import run_execution, scheduled_event
from devstack.token_onboarding import onboard_with_token
from sis_sync import services
from sis_sync.model import SyncRun, SyncStatus

HEALTHY, ENDLESS = "d-healthy", "d-endless"
TOKENS = {HEALTHY: "token-healthy", ENDLESS: "token-endless"}
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def clever() -> Iterator[CleverSimulator]:
    healthy = GeneratedDistrict(31, schools=1, students=40)
    endless = GeneratedDistrict(32, schools=1, students=40)
    sim = CleverSimulator(healthy, tokens={TOKENS[HEALTHY]: healthy.district_id})
    sim.add_district(endless, token=TOKENS[ENDLESS])
    # the second district's sections never end: every last page links to a new, distinct page
    sim.faults.endless("/v3.0/sections", token=TOKENS[ENDLESS])
    with sim.serve() as base_url:
        sim.base = base_url  # type: ignore[attr-defined]
        yield sim


@pytest.fixture
def routed(aws: Any, clever: CleverSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[InvokeLog]:
    monkeypatch.setenv("CLEVER_API_URL", clever.base)  # type: ignore[attr-defined]
    for district_id, token in TOKENS.items():
        onboard_with_token(
            clever.base,  # type: ignore[attr-defined]
            token,
            district_id=district_id,
            admin_email="admin@example.org",
            now=T0,
        )
    # the endless district synced before: 4 pages, 150 records (its caps follow from them)
    earlier = SyncRun(
        district_id=ENDLESS, sync_id="earlier", trigger="schedule", started_at=T0, pages=4, records=150
    )
    services.state_table().put_sync_run(earlier.model_copy(update={"status": SyncStatus.SUCCEEDED}))
    services.state_table().update_district(ENDLESS, last_sync_id="earlier")
    with route_lambda_invokes(stack_handlers(aws.function_names, aws.function_modules)) as log:
        yield log
    services.reset()


def tick(aws: Any, event_id: str) -> dict[str, Any]:
    """What the schedule does: start the poll state machine with its event, wait for it (a
    redelivered event repeats its id and its time)."""
    machine = aws.resolver.resolve({"Ref": "PollStateMachine"})
    at = T0 + timedelta(hours=int(event_id.rsplit("-", 1)[-1]))
    event = scheduled_event({"poll_all": True}, at=at, event_id=event_id)
    return run_execution(boto3.client("stepfunctions"), machine, event, timeout_s=120)


def synced(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {sync["district_id"]: sync for poll in output["polls"] for sync in poll["syncs"]}


def test_an_endless_district_fails_alone_and_backs_off_while_a_healthy_one_polls(
    aws: Any, routed: InvokeLog
) -> None:
    # Given two due districts, one of whose listings never ends
    state = services.state_table()
    started = datetime.now(UTC)
    # When the schedule fires
    first = synced(tick(aws, "event-1"))
    # Then each district was its own poll invocation, and the healthy one succeeded
    assert routed.names().count(aws.function_names["PollCleverFunction"]) == 2
    assert first[HEALTHY]["status"] == "succeeded"
    assert first[ENDLESS]["status"] == "failed"
    # and the endless one failed at its page cap with a recorded error, storing nothing
    run = state.get_sync_run(ENDLESS, first[ENDLESS]["sync_id"])
    assert run is not None
    assert run.error is not None
    assert run.error.code == "limit_exceeded"
    listing = boto3.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix=f"snapshots/{ENDLESS}/")
    assert listing.get("KeyCount", 0) == 0
    assert all(s.latest_sha256() is None for s in state.schools(ENDLESS))
    # and it waits longer after each failure in a row (it cannot stay first in line)
    interval = timedelta(minutes=120)
    endless = state.get_district(ENDLESS)
    assert endless is not None
    assert endless.next_poll_at is not None
    assert endless.next_poll_at >= started + interval
    tick(aws, "event-2")
    again = state.get_district(ENDLESS)
    assert again is not None
    assert again.next_poll_at is not None
    assert again.consecutive_failures == 2
    assert again.next_poll_at >= started + 2 * interval


def test_a_redelivered_schedule_finds_the_polls_it_started(aws: Any, routed: InvokeLog) -> None:
    # Given a schedule whose polls ran
    first = synced(tick(aws, "event-1"))
    # When EventBridge delivers the same event again
    again = synced(tick(aws, "event-1"))
    # Then the same sync ids come back, and the healthy district's poll is not run twice
    assert again[HEALTHY]["sync_id"] == first[HEALTHY]["sync_id"]
    assert again[HEALTHY]["status"] == SyncStatus.SUCCEEDED.value
    runs = services.state_table().sync_runs(HEALTHY)
    assert [r.sync_id for r in runs] == [first[HEALTHY]["sync_id"]]
    assert (
        len(boto3.client("stepfunctions").list_executions(stateMachineArn=aws.evaluate_arn)["executions"])
        == 1
    )
    # while a new event is a new poll
    other = synced(tick(aws, "event-2"))
    assert other[HEALTHY]["sync_id"] != first[HEALTHY]["sync_id"]
