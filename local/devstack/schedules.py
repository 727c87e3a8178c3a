"""What an EventBridge schedule does, done by hand: moto never fires a schedule, so the devstack and
the tests send the scheduled event to the schedule's target themselves (a function or a state
machine) and, for a state machine, wait for its execution."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

POLL_EVERY_S = 0.05


def scheduled_event(
    detail: dict[str, Any] | None = None, *, at: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The event an EventBridge schedule sends (a redelivery repeats its `id` and `time`)."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": (at or datetime.now(UTC)).isoformat(),
        "detail": detail or {},
    }


def run_execution(
    sfn: Any, state_machine_arn: str, event: dict[str, Any], *, timeout_s: float
) -> dict[str, Any]:
    """Start an execution with `event` as its input and wait for it: its output, or
    `{"error": {...}}` when it did not succeed (or did not finish within `timeout_s`)."""
    # EventBridge names each execution itself (moto would name every one "None")
    name = str(uuid.uuid4())
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(event))[
        "executionArn"
    ]
    try:
        described = wait_for_execution(sfn, arn, timeout_s=timeout_s)
    except TimeoutError:
        return {"error": {"status": "RUNNING", "cause": "", "execution": arn}}
    if described["status"] == "SUCCEEDED":
        output: dict[str, Any] = json.loads(described.get("output") or "{}")
        return output
    return {"error": {"status": described["status"], "cause": described.get("cause", ""), "execution": arn}}


def wait_for_execution(
    sfn: Any, execution_arn: str, *, timeout_s: float, poll_s: float = POLL_EVERY_S
) -> dict[str, Any]:
    """The execution described once it is no longer running (moto runs it on a thread of its
    own); TimeoutError after `timeout_s`: bounded, never open-ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(execution_arn)
        time.sleep(poll_s)
