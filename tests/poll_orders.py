"""The polls the API (or the operator CLI) starts, recorded instead of run: each is an execution of
the real poll state machine in moto, whose poll_clever step records its payload and says done."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from devstack.lambdas import route_lambda_invokes

WAIT_SECONDS = 30


def finished_executions(machine_arn: str) -> list[dict[str, Any]]:
    """Every execution of the machine, described once none is running (bounded, never open-ended)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        if all(execution["status"] != "RUNNING" for execution in listed):
            return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]
        if time.monotonic() > deadline:
            raise TimeoutError(f"executions of {machine_arn} still running")
        time.sleep(0.05)


def poll_inputs(machine_arn: str) -> dict[str, Any]:
    """Execution name -> its input, for every finished execution of the poll machine."""
    return {e["name"]: json.loads(e["input"]) for e in finished_executions(machine_arn)}


@contextmanager
def recorded_polls(stack: Any) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Within the block, poll_clever's steps are recorded, not run: the callable returns their
    payloads once the poll executions started so far have ended."""
    invoked: list[dict[str, Any]] = []

    def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
        invoked.append(event)
        return {"syncs": [], "done": True}

    with route_lambda_invokes({stack.function_names["PollCleverFunction"]: record}) as log:

        def recorded() -> list[dict[str, Any]]:
            finished_executions(stack.poll_arn)
            assert log.join(WAIT_SECONDS), "an asynchronous invoke is still running"
            return invoked

        yield recorded
