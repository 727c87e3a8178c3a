"""Polls the API starts ("Check for new Clever data", "I fixed it") run through the poll state
machine (moto's ASL interpreter, real handlers in-process) one step per invocation, as the
schedule's do: a district whose pull outlasts one invocation completes instead of failing
`deadline_exceeded`, and a poll whose step never runs does not leave its sync running."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from clever_simulator import CleverSimulator
from devstack.lambdas import route_lambda_invokes, stack_handlers
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import SyncStatus
from tests.api_events import admin, call, http_event
from tests.e2e.flow import wait
from tests.onboarded import DISTRICT, generated_district
from tests.poll_orders import finished_executions

PAGE = 250  # 3,000 students: 12 student pages, 18 contact pages
PAGE_S = 5.0  # each Clever request takes this long on the simulated clock (NYC's page latency)
INVOCATION_BUDGET_S = 120.0  # what one invocation may spend reading Clever: far less than the pull
STEP_S = 20.0  # no page is started past this in one invocation


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    with generated_district(seed=17, schools=3, students=3_000) as served:
        yield served


class SimulatedClock:
    """Time that passes only as Clever answers (PAGE_S a request) or the client waits: the same
    for every invocation, so the pull's length is fixed however fast this machine is."""

    def __init__(self) -> None:
        self._now = 1_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    def answered(self, _response: httpx.Response) -> None:
        self.sleep(PAGE_S)


@pytest.fixture
def slow_clever(stack: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    """Every poll_clever invocation: a budget of INVOCATION_BUDGET_S, steps of STEP_S, and a Clever
    whose every page takes PAGE_S, all on one simulated clock."""
    _, base_url = simulator
    clock = SimulatedClock()

    def client(token: str) -> CleverClient:
        http = httpx.Client(event_hooks={"response": [clock.answered]})
        return CleverClient(base_url, token, page_limit=PAGE, http=http, clock=clock, sleep=clock.sleep)

    real_poller = services.poller
    monkeypatch.setattr(services, "poller", lambda: replace(real_poller(), clever=client, clock=clock))
    monkeypatch.setattr("functions.poll_clever.app.poll_budget", lambda remaining_ms: INVOCATION_BUDGET_S)
    monkeypatch.setattr("functions.poll_clever.app.STEP_S", STEP_S)
    return clock


def api(method: str, raw_path: str, body: Any = None) -> Any:
    from functions.api.app import lambda_handler  # imported inside the mock (STYLE: tests)

    return call(lambda_handler, http_event(method, raw_path, claims=admin(DISTRICT), body=body))


def execution_of(stack: Any, sync_id: str) -> str:
    return stack.poll_arn.replace(":stateMachine:", ":execution:") + f":{sync_id}"


def test_check_now_polls_a_district_larger_than_one_invocation_step_by_step(
    stack: Any, slow_clever: SimulatedClock
) -> None:
    # Given a district whose pull takes far longer than one invocation may read Clever (over 200
    # s at 5 s a page, against 120 s an invocation)
    with route_lambda_invokes(stack_handlers(stack.function_names, stack.function_modules)) as log:
        started_at = slow_clever()
        # When the admin checks for new Clever data
        response = api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True})
        assert response.status == 202, response.text
        sync_id = response.json()["sync_id"]
        # Then the poll machine's execution named by the sync id ran the poll one step per
        # invocation, each within its budget, and succeeded
        execution = wait(execution_of(stack, sync_id))
        assert execution["status"] == "SUCCEEDED", execution
        run = services.state_table().get_sync_run(DISTRICT, sync_id)
        assert run is not None
        assert run.status is SyncStatus.SUCCEEDED, run.error
        assert run.trigger == "manual"
        assert slow_clever() - started_at > 2 * INVOCATION_BUDGET_S
        steps = log.names().count(stack.function_names["PollCleverFunction"])
        assert steps > (slow_clever() - started_at) / INVOCATION_BUDGET_S
        # and its evaluation ran, so the sync's status goes from running to succeeded
        assert run.execution_arn
        assert wait(run.execution_arn)["status"] == "SUCCEEDED"
        status = api("GET", f"/v1/districts/{DISTRICT}/syncs/{sync_id}").json()
        assert (status["status"], status["error"]) == ("succeeded", None)
        assert len(status["schools"]["applied"]) == 3


def test_a_poll_whose_step_never_runs_fails_its_sync_and_frees_the_district(stack: Any) -> None:
    # Given poll_clever invocations that fail before the poll's first step (as a throttled or
    # broken function does, once Step Functions stops retrying)
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the function could not start")

    with route_lambda_invokes({stack.function_names["PollCleverFunction"]: broken}):
        # When the admin checks for new Clever data
        first = api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True}).json()["sync_id"]
        [execution] = finished_executions(stack.poll_arn)
        # Then the execution ends through the crash path: the sync it announced is failed, not
        # left running for ever
        assert execution["status"] == "SUCCEEDED", execution
        status = api("GET", f"/v1/districts/{DISTRICT}/syncs/{first}").json()
        assert status["status"] == "failed"
        assert status["error"]["code"] == "poll_crashed"
        assert "RuntimeError" in status["error"]["message"]
        # and the district's lease is free: the next check starts a new sync, not "already running"
        again = api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True}).json()
        assert again["already_running"] is False
        assert again["sync_id"] != first
