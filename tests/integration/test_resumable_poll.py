"""A poll that pages from stored cursors across invocations (issue 13): cut into many steps, or
killed mid-listing, it ends with exactly the snapshots one uninterrupted poll makes; and the poll
state machine (run by moto) loops a district's poll task until it says done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.lambdas import route_lambda_invokes, stack_handlers
from devstack.schedules import run_execution, scheduled_event
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import SyncRun, SyncStatus
from sis_sync.polling import Poller, poll_district, poll_step
from sis_sync.pulling import ListingCursor
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT, T0, TOKEN

PAGE = 2_000  # 20,000 students: 10 student pages, 15 contact pages


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    district = GeneratedDistrict(seed=13, schools=8, students=20_000)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    with sim.serve() as base_url:
        yield sim, base_url


def invocation(base_url: str) -> Poller:
    """What one poll_clever invocation builds: its own stores and client (nothing carried over)."""
    services.reset()
    return replace(
        services.poller(),
        clever=lambda token: CleverClient(base_url, token, page_limit=PAGE, sleep=lambda _: None),
    )


def shas(run: SyncRun) -> dict[str, str]:
    return {school.school_id: school.sha256 for school in run.changed_schools}


def longest_listing(sync_id: str) -> int:
    return max(cursor.pages for cursor in services.pull_store().cursors(DISTRICT, sync_id).values())


def uninterrupted(base_url: str, sync_id: str) -> SyncRun:
    with acting_as("PollCleverFunction"):
        return poll_district(invocation(base_url), DISTRICT, sync_id, trigger="test")


def test_a_poll_cut_into_many_invocations_makes_exactly_the_snapshots_of_an_uninterrupted_one(
    stack: Any, simulator: Any
) -> None:
    # Given a 20,000-student district and invocations that each start no page after 0 s (so each
    # stores one page per unfinished listing, then hands its cursors to the next)
    _, base_url = simulator
    steps = 0
    while True:
        steps += 1
        with acting_as("PollCleverFunction"):
            step = poll_step(invocation(base_url), DISTRICT, "sync-resumed", trigger="test", step_s=0.0)
        # When the poll is not done, the next invocation carries on; the district stays leased
        if step.done:
            break
        assert step.run.status is SyncStatus.RUNNING
        now = datetime.now(UTC)
        assert (
            services.state_table().take_poll_lease(DISTRICT, "another", now=now, until=now) == "sync-resumed"
        )
    resumed = step.run
    # Then it took one invocation per page of its longest listing plus one to partition, and succeeded
    assert resumed.status is SyncStatus.SUCCEEDED
    assert steps == longest_listing(resumed.sync_id) + 1 > 15
    assert resumed.records > 20_000 * 2.5
    # and an uninterrupted poll of the same data makes every school's snapshot the same
    again = uninterrupted(base_url, "sync-uninterrupted")
    assert again.status is SyncStatus.SUCCEEDED
    assert len(shas(again)) == 8
    assert shas(again) == shas(resumed)
    assert (again.pages, again.records, again.quarantine) == (
        resumed.pages,
        resumed.records,
        resumed.quarantine,
    )


class Killed(BaseException):
    """A Lambda killed mid-invocation (nothing in the poll catches it)."""


@dataclass
class KilledAfterStoring:
    """The pulls store of an invocation that dies after storing students' page `after`, before
    its cursor moves past it (the worst moment: the page is in S3, the cursor says it is not)."""

    inner: Any
    after: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def save_cursor(self, district_id: str, sync_id: str, listing: str, cursor: ListingCursor) -> None:
        if listing == "students" and cursor.pages == self.after:
            raise Killed
        self.inner.save_cursor(district_id, sync_id, listing, cursor)


def test_a_poll_killed_mid_listing_resumes_from_the_last_stored_page(stack: Any, simulator: Any) -> None:
    # Given an uninterrupted poll's request count for the district's users
    sim, base_url = simulator
    reference = uninterrupted(base_url, "sync-reference")
    users_requests = sim.requests["/v3.0/users"]
    sim.requests.reset()
    # When a poll's invocation is killed after storing the students' third page
    killed = invocation(base_url)
    killed = replace(killed, pulls=KilledAfterStoring(killed.pulls, after=3))
    with pytest.raises(Killed), acting_as("PollCleverFunction"):
        poll_step(killed, DISTRICT, "sync-killed", trigger="test")
    # and its retry (same sync id) runs to the end
    with acting_as("PollCleverFunction"):
        run = poll_district(invocation(base_url), DISTRICT, "sync-killed", trigger="test")
    # Then only the page whose cursor was lost was fetched again: none from zero, none skipped
    assert run.status is SyncStatus.SUCCEEDED
    assert sim.requests["/v3.0/users"] == users_requests + 1
    assert (run.pages, run.records) == (reference.pages, reference.records)
    # and every school's snapshot is the uninterrupted poll's
    assert len(shas(run)) == 8
    assert shas(run) == shas(reference)
    pages = boto3.client("s3").list_objects_v2(
        Bucket=stack.bucket, Prefix=f"pulls/{DISTRICT}/sync-killed/students/"
    )
    stored = services.pull_store().cursors(DISTRICT, "sync-killed")["students"].pages
    assert [obj["Key"].rsplit("/", 1)[1] for obj in pages["Contents"]] == [
        f"{n:05d}.json.gz" for n in range(1, stored + 1)
    ]
    assert stored >= 10


def test_the_poll_state_machine_invokes_a_district_again_until_its_poll_is_done(
    aws: Any, stack: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given poll invocations that start no page after 0 s, and pages of 2,000 records
    _, base_url = simulator
    monkeypatch.setattr("functions.poll_clever.app.STEP_S", 0.0)
    monkeypatch.setattr(
        services,
        "clever_client_factory",
        lambda env: lambda token: CleverClient(base_url, token, page_limit=PAGE),
    )
    machine = aws.resolver.resolve({"Ref": "PollStateMachine"})
    event = scheduled_event({"poll_all": True}, at=T0, event_id="event-loop")
    # When the schedule fires
    with route_lambda_invokes(stack_handlers(aws.function_names, aws.function_modules)) as log:
        output = run_execution(boto3.client("stepfunctions"), machine, event, timeout_s=600)
    # Then the district's poll task ran once per page of the longest listing plus once to
    # partition, and succeeded
    [poll] = output["polls"]
    [sync] = poll["syncs"]
    assert sync["status"] == "succeeded"
    invoked = log.names().count(aws.function_names["PollCleverFunction"])
    assert invoked == longest_listing(sync["sync_id"]) + 1 > 15
    run = services.state_table().get_sync_run(DISTRICT, sync["sync_id"])
    assert run is not None
    assert run.changed_count == 8
