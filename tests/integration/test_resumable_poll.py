"""A poll that pages from stored cursors across invocations (issue 13): cut into many steps, or
killed mid-listing or mid-partition, it ends with exactly the snapshots one uninterrupted poll
makes; partitioning is spread over the steps that page (each converts the pages it stores); and the
poll state machine (run by moto) loops a district's poll task until it says done."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator
from devstack.lambdas import route_lambda_invokes, stack_handlers
from devstack.schedules import run_execution, scheduled_event
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import SyncRun, SyncStatus
from sis_sync.polling import Poller, poll_district, poll_step
from sis_sync.pulling import CONVERTED, ListingCursor, converted_listing
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT, T0, generated_district

# Pages of a tenth of the district's students: 10 student pages and 15 contact pages at either
# size, so the smaller district has the same steps, cursors and kill points and only parses less.
LARGE = 20_000  # issue 13's resume-from-cursor test
SMALL = 5_000  # the crash tests and the state machine's loop
smaller = pytest.mark.parametrize("simulator", [SMALL], indirect=True)


def page_limit(students: int) -> int:
    return students // 10


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[tuple[CleverSimulator, str]]:
    """The 8-school district: LARGE students, or what a test asks for with `smaller`."""
    with generated_district(seed=13, schools=8, students=getattr(request, "param", LARGE)) as served:
        yield served


def invocation(base_url: str, students: int = LARGE) -> Poller:
    """What one poll_clever invocation builds: its own stores and client (nothing carried over)."""
    services.reset()
    page = page_limit(students)
    return replace(
        services.poller(),
        clever=lambda token: CleverClient(base_url, token, page_limit=page, sleep=lambda _: None),
    )


def shas(run: SyncRun) -> dict[str, str]:
    return {school.school_id: school.sha256 for school in run.changed_schools}


def longest_listing(sync_id: str) -> int:
    return max(cursor.pages for cursor in services.pull_store().cursors(DISTRICT, sync_id).values())


def stored_pages(bucket: str, sync_id: str) -> set[tuple[str, str]]:
    """(listing, page file) of every object stored under the pull's prefix."""
    prefix = f"pulls/{DISTRICT}/{sync_id}/"
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [obj["Key"].removeprefix(prefix) for page in pages for obj in page.get("Contents", [])]
    return {(key.split("/")[0], key.split("/")[1]) for key in keys}


def unconverted(bucket: str, sync_id: str) -> set[tuple[str, str]]:
    """The stored raw roster pages without their converted page."""
    stored = stored_pages(bucket, sync_id)
    return {(name, page) for name, page in stored if name in CONVERTED} - {
        (name, page) for name in CONVERTED for listing, page in stored if listing == converted_listing(name)
    }


def uninterrupted(base_url: str, sync_id: str, students: int = LARGE) -> SyncRun:
    with acting_as("PollCleverFunction"):
        return poll_district(invocation(base_url, students), DISTRICT, sync_id, trigger="test")


def test_a_poll_cut_into_many_invocations_makes_exactly_the_snapshots_of_an_uninterrupted_one(
    stack: Any, simulator: Any
) -> None:
    # Given a 20,000-student district and invocations that each start no page after 0 s (so each
    # stores one page per unfinished listing, then hands its cursors to the next)
    sim, base_url = simulator
    steps, converted_by_step = 0, []
    while True:
        steps += 1
        requests_before = sim.requests.total
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
        # and every roster page a step stored, it also stored converted (partitioning's bulk)
        assert unconverted(stack.bucket, "sync-resumed") == set()
        stored = stored_pages(stack.bucket, "sync-resumed")
        converted_by_step.append(sum(listing.endswith(".converted") for listing, _ in stored))
    resumed = step.run
    # Then it took one invocation per page of its longest listing plus one to partition, and succeeded
    assert resumed.status is SyncStatus.SUCCEEDED
    assert steps == longest_listing(resumed.sync_id) + 1 > 15
    # the partitioning was spread over the paging steps (each converted the pages it stored), and
    # the last step, which only joins them, read nothing from Clever
    assert converted_by_step == sorted(converted_by_step)
    assert len(set(converted_by_step)) == steps - 1
    assert sim.requests.total == requests_before
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


@smaller
def test_a_poll_killed_mid_listing_resumes_from_the_last_stored_page(stack: Any, simulator: Any) -> None:
    # Given an uninterrupted poll's request count for the district's users
    sim, base_url = simulator
    reference = uninterrupted(base_url, "sync-reference", SMALL)
    users_requests = sim.requests["/v3.0/users"]
    sim.requests.reset()
    # When a poll's invocation is killed after storing the students' third page
    killed = invocation(base_url, SMALL)
    killed = replace(killed, pulls=KilledAfterStoring(killed.pulls, after=3))
    with pytest.raises(Killed), acting_as("PollCleverFunction"):
        poll_step(killed, DISTRICT, "sync-killed", trigger="test")
    # and its retry (same sync id) runs to the end
    with acting_as("PollCleverFunction"):
        run = poll_district(invocation(base_url, SMALL), DISTRICT, "sync-killed", trigger="test")
    # Then only the page whose cursor was lost, and the page fetched ahead while it was stored, were
    # fetched again: none from zero, none skipped
    assert run.status is SyncStatus.SUCCEEDED
    assert sim.requests["/v3.0/users"] == users_requests + 2
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


@dataclass
class KilledAfterConverting:
    """The pulls store of an invocation that dies right after storing the converted students' page
    `after` (its raw page is stored too, its cursor has not moved)."""

    inner: Any
    after: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None:
        self.inner.put_page(district_id, sync_id, listing, number, body)
        if listing == converted_listing("students") and number == self.after:
            raise Killed


@dataclass
class KilledAfterSnapshots:
    """The snapshot bucket of an invocation that dies after writing `after` snapshots."""

    inner: Any
    after: int
    written: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, *args: Any) -> str:
        if self.written == self.after:
            raise Killed
        self.written += 1
        key: str = self.inner.put(*args)
        return key


@smaller
def test_a_poll_killed_mid_partition_resumes_to_the_same_snapshots(stack: Any, simulator: Any) -> None:
    # Given an uninterrupted poll of the district
    sim, base_url = simulator
    reference = uninterrupted(base_url, "sync-reference", SMALL)
    users_requests = sim.requests["/v3.0/users"]
    sim.requests.reset()
    # When an invocation dies after converting the students' second page (before its cursor moved)
    killed = invocation(base_url, SMALL)
    killed = replace(killed, pulls=KilledAfterConverting(killed.pulls, after=2))
    with pytest.raises(Killed), acting_as("PollCleverFunction"):
        poll_step(killed, DISTRICT, "sync-killed", trigger="test")
    # and the retry (steps that page for 1 s, too short to partition too) dies in its last step,
    # which only partitions, after writing 3 of the 8 snapshots
    while True:
        retry = invocation(base_url, SMALL)
        cursors = services.pull_store().cursors(DISTRICT, "sync-killed").values()
        if len(cursors) == 7 and all(cursor.done for cursor in cursors):  # only partitioning is left
            dying: Any = KilledAfterSnapshots(retry.snapshots, after=3)
            retry = replace(retry, snapshots=dying)
            with pytest.raises(Killed), acting_as("PollCleverFunction"):
                poll_step(retry, DISTRICT, "sync-killed", trigger="test", step_s=1.0)
            break
        with acting_as("PollCleverFunction"):
            assert not poll_step(retry, DISTRICT, "sync-killed", trigger="test", step_s=1.0).done
    # Then nothing of the pull is visible yet: no manifest, no evaluation, the run still running
    manifests = boto3.client("s3").list_objects_v2(
        Bucket=stack.bucket, Prefix=f"manifests/{DISTRICT}/sync-killed"
    )
    assert manifests.get("KeyCount") == 0
    assert services.poller().executions.find("sync-killed") is None
    run = services.state_table().get_sync_run(DISTRICT, "sync-killed")
    assert run is not None
    assert run.status is SyncStatus.RUNNING
    # and once retried, the poll ends with every school's snapshot the uninterrupted poll's, having
    # fetched again only the page whose cursor was lost and the page fetched ahead while it was stored
    with acting_as("PollCleverFunction"):
        run = poll_district(invocation(base_url, SMALL), DISTRICT, "sync-killed", trigger="test")
    assert run.status is SyncStatus.SUCCEEDED
    assert sim.requests["/v3.0/users"] == users_requests + 2
    assert len(shas(run)) == 8
    assert shas(run) == shas(reference)
    assert (run.pages, run.records, run.quarantine) == (
        reference.pages,
        reference.records,
        reference.quarantine,
    )
    assert unconverted(stack.bucket, "sync-killed") == set()


@smaller
def test_the_poll_state_machine_invokes_a_district_again_until_its_poll_is_done(
    aws: Any, stack: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given poll invocations that start no page after 0 s, and pages of 500 records
    _, base_url = simulator
    monkeypatch.setattr("functions.poll_clever.app.STEP_S", 0.0)
    monkeypatch.setattr(
        services,
        "clever_client_factory",
        lambda env: lambda token: CleverClient(base_url, token, page_limit=page_limit(SMALL)),
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
