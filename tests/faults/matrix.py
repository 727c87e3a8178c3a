"""The fault matrix: one row per fault, injected into the Clever simulator or the AWS side while a
sync or an action runs. Every row starts from a district synced once (f001) with a small change
waiting at one school (below every threshold), runs its action and returns what happened as a
short outcome string that the row pins; the test then counts the invariants and recovers."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import pytest

from clever_simulator import GeneratedDistrict
from sis_sync import services
from sis_sync.applying import StalePendingSyncError, apply_pending
from sis_sync.clever.client import CleverClient
from sis_sync.clever.models import District as CleverDistrict
from sis_sync.evaluation import evaluate_school
from sis_sync.model import Connection, Decision, SyncRun
from sis_sync.polling import poll_district
from sis_sync.store import roster_table
from sis_sync.store.executions import Executions
from tests.api_events import ApiResponse, admin, call, http_event
from tests.e2e.flow import real_handlers, release, wait
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT, TOKEN
from tests.poll_orders import recorded_polls

PAGE = 40  # records per page: every listing spans several pages
OTHER_TOKEN = "token-of-another-district"


def sid(n: int) -> str:
    """The row's n-th sync id: sortable like the poll's own ids and older than any of them."""
    return f"20000101T0000{n:02d}000Z-f{n}-{DISTRICT}"


class SimTime:
    """The simulator's sleep and the client's clock. A simulated wait moves the clock at once (a
    slow drip "takes" minutes without taking them); while stalled, a wait blocks until released
    (a server that never answers, so the client's read timeout fires)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.stalled = False
        self._lock = threading.Lock()
        self._released = threading.Event()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.stalled:
            self._released.wait(30)  # bounded: a forgotten release cannot hang the server
            return
        with self._lock:
            self.now += seconds

    def release(self) -> None:
        self.stalled = False
        self._released.set()


@dataclass
class Ctx:
    sim: Any
    stack: Any
    time: SimTime
    monkeypatch: pytest.MonkeyPatch
    client_options: dict[str, Any] = field(default_factory=dict)
    hook: Callable[[], None] | None = None


class _HookedClient(CleverClient):
    """Runs the context's hook once, when the poll first reads Clever (after it read the district
    from the state table, before it writes anything back)."""

    def __init__(self, *args: Any, hook: Callable[[], None] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hook = hook

    def district(self) -> CleverDistrict:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return super().district()


class _NoExecutions(Executions):
    """Snapshots are taken, no evaluate execution starts: the row plays the flow itself."""

    def __init__(self) -> None:
        super().__init__(None, "")

    def start(self, name: str, payload: dict[str, Any], *, retry_failed: bool = False) -> str:
        return f"not-started:{name}"

    def find(self, name: str) -> str | None:
        return None


def poll(ctx: Ctx, sync_id: str, *, evaluate: bool = True) -> SyncRun:
    """A real poll as the poll function, its client on the simulated clock, never really waiting."""
    url = services.environment().clever_api_url
    options = {"page_limit": PAGE, "sleep": lambda _: None, "clock": ctx.time.clock, **ctx.client_options}
    hook, ctx.hook = ctx.hook, None
    poller = replace(services.poller(), clever=lambda token: _HookedClient(url, token, hook=hook, **options))
    if not evaluate:
        poller = replace(poller, executions=_NoExecutions())
    with acting_as("PollCleverFunction"):
        return poll_district(poller, DISTRICT, sync_id, trigger="test")


def sync(ctx: Ctx, sync_id: str) -> SyncRun:
    """A poll and its evaluate execution (if it started one) run to the end with the real handlers."""
    with real_handlers(ctx.stack):
        run = poll(ctx, sync_id)
        if run.execution_arn:
            execution = wait(run.execution_arn)
            assert execution["status"] == "SUCCEEDED", execution
    return run


def outcome(run: SyncRun) -> str:
    return f"{run.status.value}:{run.error.code}" if run.error else run.status.value


def api(method: str, raw_path: str, body: Any = None) -> ApiResponse:
    from functions.api.app import lambda_handler  # imported inside the mock (STYLE: tests)

    return call(lambda_handler, http_event(method, raw_path, claims=admin(DISTRICT), body=body))


def held_schools() -> list[tuple[str, str]]:
    """(school id, pending sync id) of every school on hold."""
    return [
        (school.school_id, school.pending.sync_id)
        for school in services.state_table().schools(DISTRICT)
        if school.pending is not None and school.pending.decision is Decision.HOLD
    ]


def school_id_of(ctx: Ctx, index: int) -> str:
    clever_id = ctx.sim.district.school_ids()[index]
    [school_id] = [
        s.school_id for s in services.state_table().schools(DISTRICT) if s.clever_school_id == clever_id
    ]
    return school_id


def recover(ctx: Ctx) -> None:
    """Clear the fault, reconnect if it disconnected the district, poll again, approve what the
    rules hold (the admin's part of recovering), so that the roster must equal Clever's."""
    ctx.time.release()
    ctx.sim.faults.clear()
    ctx.client_options.clear()
    services.token_store().put(DISTRICT, TOKEN)
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    sync_id = sid(9)
    if district.connection is not Connection.CONNECTED:
        # "I fixed it": the poll it orders (a poll machine execution) is run here, under the sync
        # id the API announced
        with recorded_polls(ctx.stack) as recorded:
            answer = api("POST", f"/v1/districts/{DISTRICT}/reconnect")
            assert answer.status == 200, answer.text
            [order] = recorded()
        sync_id = order["sync_id"]
    recovered = sync(ctx, sync_id)
    assert outcome(recovered) == "succeeded", recovered
    with real_handlers(ctx.stack):
        for school_id, sync_id in held_schools():
            assert release(ctx.stack, school_id, sync_id, f"recover-{school_id}")["status"] == "SUCCEEDED"


# --- the rows' preparations (after the clean sync f001) ---------------------------------------------


def small_change(ctx: Ctx) -> None:
    """5 % of one school's students leave: below every threshold, so applied without a hold."""
    ctx.sim.scenarios.semester_end(school_id=ctx.sim.district.school_ids()[0], share=0.05)


def held_change(ctx: Ctx) -> None:
    """An emergency contact at one school, held by sync f002."""
    ctx.sim.scenarios.emergency_contact(school_id=ctx.sim.district.school_ids()[0])
    sync(ctx, sid(2))
    assert len(held_schools()) == 1


def held_removals(ctx: Ctx) -> None:
    """30 % of one school's students leave, held by sync f002."""
    ctx.sim.scenarios.semester_end(school_id=ctx.sim.district.school_ids()[0], share=0.3)
    sync(ctx, sid(2))
    assert len(held_schools()) == 1


# --- the rows' actions --------------------------------------------------------------------------------


def faulted_sync(inject: Callable[[Ctx], None]) -> Callable[[Ctx], str]:
    def act(ctx: Ctx) -> str:
        inject(ctx)
        return outcome(sync(ctx, sid(2)))

    return act


def read_timeouts(ctx: Ctx) -> None:
    ctx.time.stalled = True
    ctx.sim.faults.slow(1.0, path="/v3.0/users")
    ctx.client_options["timeout_s"] = 0.2


def slow_drip(ctx: Ctx) -> None:
    # 10 simulated seconds per 256 bytes: every read is quick, a page takes far over 120 s
    ctx.sim.faults.drip(10.0, chunk_bytes=256, path="/v3.0/users")


def revoked_mid_listing(ctx: Ctx) -> None:
    ctx.sim.faults.revoke_from_page("/v3.0/users", 2, role="student")


def token_of_another_district(ctx: Ctx) -> None:
    ctx.sim.add_district(GeneratedDistrict(seed=99, schools=2, students=40), token=OTHER_TOKEN)
    services.token_store().put(DISTRICT, OTHER_TOKEN)


class _CrashError(Exception):
    """The apply function dies (timeout, OOM) right after a batch was written."""


def crash_after_each_batch(ctx: Ctx) -> str:
    """The apply dies after batch 1, is retried and dies after batch 2, ... until one attempt
    writes fewer batches than the crash waits for and commits."""
    ctx.monkeypatch.setattr(roster_table, "BATCH_SIZE", 2)
    run = poll(ctx, sid(2), evaluate=False)
    crashes = 0
    for ref in run.changed_schools:
        with acting_as("EvaluateHoldsFunction"):
            result = evaluate_school(services.evaluator(), DISTRICT, sid(2), ref)
        if result.decision is not Decision.APPLY:
            continue
        for crash_at in range(1, 1000):

            def crash(batch: int, at: int = crash_at) -> None:
                if batch == at:
                    raise _CrashError(batch)

            try:
                with acting_as("ApplyChangesFunction"):
                    apply_pending(
                        replace(services.applier(), after_batch=crash),
                        DISTRICT,
                        ref.school_id,
                        sid(2),
                        mode="apply",
                    )
                break
            except _CrashError:
                crashes += 1
    return f"{outcome(run)}:crashes>=2:{crashes >= 2}"


def duplicate_delivery(ctx: Ctx) -> str:
    """Every Step Functions task of sync f002 delivered twice (after the first run ended), and the
    poll itself redelivered."""
    run = sync(ctx, sid(2))
    answers = []
    for ref in run.changed_schools:
        with acting_as("EvaluateHoldsFunction"):
            evaluate_school(services.evaluator(), DISTRICT, sid(2), ref)
        with acting_as("ApplyChangesFunction"):
            answers.append(
                apply_pending(services.applier(), DISTRICT, ref.school_id, sid(2), mode="apply").outcome
            )
    again = poll(ctx, sid(2))
    return f"{outcome(run)}:{','.join(answers)}:{again.execution_arn == run.execution_arn}"


def poll_and_clear(ctx: Ctx) -> str:
    """The admin clears the hold of f002 while poll f003 of the same data runs."""
    [(school_id, sync_id)] = held_schools()
    release_arn = ctx.stack.release_arn

    def clear() -> None:
        body = {"schools": [{"school_id": school_id, "sync_id": sync_id}]}
        answer = api("POST", f"/v1/districts/{DISTRICT}/holds/clear", body)
        assert answer.status == 202, answer.text
        # the release runs to its end before the poll goes on (the harness waits, not the poll)
        contextvars.Context().run(releases_end)

    def releases_end() -> None:
        sfn = boto3.client("stepfunctions")
        for execution in sfn.list_executions(stateMachineArn=release_arn)["executions"]:
            assert wait(execution["executionArn"])["status"] == "SUCCEEDED"

    ctx.hook = clear
    run = sync(ctx, sid(3))
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.applied is not None
    return f"{outcome(run)}:f002 applied={school.applied.sync_id == sid(2)}:held={len(held_schools())}"


def poll_and_settings_patch(ctx: Ctx) -> str:
    """The admin tightens removal_pct to 2 while the poll that sees 5 % leave runs: the rule must
    fire on the new setting and hold the school (under the old 10 % it would apply)."""

    def tighten() -> None:
        answer = api(
            "PATCH",
            f"/v1/districts/{DISTRICT}/settings",
            {"thresholds": {"removal_pct": 2, "removal_min_count": 1}},
        )
        assert answer.status == 200, answer.text

    ctx.hook = tighten
    run = sync(ctx, sid(2))
    return f"{outcome(run)}:held={len(held_schools())}"


def two_applies(ctx: Ctx) -> str:
    """The admin's release of f002 is being written when sync f003 (the district undid the
    removals) is evaluated: two change sets of one school applied at once."""
    [(school_id, _)] = held_schools()
    ctx.sim.scenarios.reset()
    run = poll(ctx, sid(3), evaluate=False)
    [ref] = [s for s in run.changed_schools if s.school_id == school_id]

    def newer_sync_lands(batch: int) -> None:
        if batch == 1:
            with acting_as("EvaluateHoldsFunction"):
                evaluate_school(services.evaluator(), DISTRICT, sid(3), ref)

    racing = replace(services.applier(), after_batch=newer_sync_lands)
    try:
        with acting_as("ApplyChangesFunction"):
            apply_pending(racing, DISTRICT, school_id, sid(2), mode="release")
    except StalePendingSyncError:
        return "release:stale"
    return "release:applied"


@dataclass(frozen=True)
class Row:
    name: str
    act: Callable[[Ctx], str]
    expect: str
    prepare: Callable[[Ctx], None] = small_change


ROWS: list[Row] = [
    Row(
        "5xx storm",
        faulted_sync(lambda c: c.sim.faults.transient_errors(10_000, status=503, html=False)),
        "failed:unavailable",
    ),
    Row(
        "429 storm with Retry-After",
        faulted_sync(lambda c: c.sim.faults.rate_limit_storm(4, retry_after=3)),
        "succeeded",
    ),
    Row(
        "429 storm without Retry-After", faulted_sync(lambda c: c.sim.faults.rate_limit_storm(4)), "succeeded"
    ),
    Row("read timeouts", faulted_sync(read_timeouts), "failed:unavailable"),
    Row("slow drip", faulted_sync(slow_drip), "failed:unavailable"),
    Row(
        "truncated JSON",
        faulted_sync(lambda c: c.sim.faults.malformed_json(path="/v3.0/users")),
        "failed:bad_response",
    ),
    Row(
        "HTML with 200",
        faulted_sync(lambda c: c.sim.faults.html_ok(path="/v3.0/sections")),
        "failed:bad_response",
    ),
    Row(
        "full page without next",
        faulted_sync(lambda c: c.sim.faults.truncate("/v3.0/users", 1, role="student")),
        "failed:truncated",
    ),
    Row(
        "endless distinct next links",
        faulted_sync(lambda c: c.sim.faults.endless("/v3.0/users", role="student")),
        "failed:limit_exceeded",
    ),
    Row(
        "duplicate ids",
        faulted_sync(lambda c: c.sim.faults.duplicate_ids("/v3.0/users", role="student")),
        "succeeded",
    ),
    Row("dangling references", faulted_sync(lambda c: c.sim.faults.dangling_references()), "succeeded"),
    Row("revoked token mid-listing", faulted_sync(revoked_mid_listing), "failed:auth"),
    Row(
        "token of another district", faulted_sync(token_of_another_district), "failed:token_district_mismatch"
    ),
    Row("crash after each apply batch", crash_after_each_batch, "succeeded:crashes>=2:True"),
    Row("duplicate task delivery", duplicate_delivery, "succeeded:already_applied:True"),
    Row("concurrent poll + clear", poll_and_clear, "succeeded:f002 applied=True:held=0", prepare=held_change),
    Row("concurrent poll + settings PATCH", poll_and_settings_patch, "succeeded:held=1"),
    Row("concurrent apply of two syncs", two_applies, "release:stale", prepare=held_removals),
]


@contextmanager
def simulated(sim_time: SimTime) -> Iterator[SimTime]:
    try:
        yield sim_time
    finally:
        sim_time.release()
