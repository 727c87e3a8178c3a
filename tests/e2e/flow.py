"""Driving the real evaluate and release state machines in moto, with every Lambda invoke routed
in-process to the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from clever_simulator.scenarios import ScenarioEffect
from devstack.lambdas import InvokeLog, route_lambda_invokes, stack_handlers
from devstack.schedules import wait_for_execution
from sis_sync import services
from sis_sync.model import School, SyncRun
from tests.onboarded import DISTRICT, poll

WAIT_SECONDS = 60


@contextmanager
def real_handlers(stack: Any) -> Iterator[InvokeLog]:
    with route_lambda_invokes(stack_handlers(stack.function_names, stack.function_modules)) as log:
        yield log


def wait(execution_arn: str, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    """Until the execution ends (moto runs it on a worker thread); bounded, never open-ended."""
    return wait_for_execution(boto3.client("stepfunctions"), execution_arn, timeout_s=seconds, poll_s=0.05)


def sync(sync_id: str) -> SyncRun:
    """A poll and, when it started one, its evaluate execution run to the end (which must succeed)."""
    run = poll(sync_id)
    if run.execution_arn:
        execution = wait(run.execution_arn)
        assert execution["status"] == "SUCCEEDED", execution
        failed = [r for r in json.loads(execution["output"])["results"] if r.get("outcome") == "failed"]
        assert failed == [], failed
    return run


def release(
    stack: Any, school_id: str, sync_id: str, name: str, history: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The release machine run to the end over one approval, started as Clear holds starts it
    (with `history`, the ReleaseHistory its first step writes)."""
    key = f"releases/{DISTRICT}/{name}.json"
    approvals = [{"school_id": school_id, "sync_id": sync_id}]
    boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(approvals).encode())
    payload = {
        "district_id": DISTRICT,
        "approved_by": "admin@example.org",
        "manifest": {"bucket": stack.bucket, "key": key},
        "school_count": 1,
    } | ({"history": history} if history else {})
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=stack.release_arn, name=name, input=json.dumps(payload))
    return wait(started["executionArn"])


def schools() -> dict[str, School]:
    return {
        school.clever_school_id or school.school_id: school
        for school in services.state_table().schools(DISTRICT)
    }


def roster(school_id: str) -> list[dict[str, Any]]:
    return sorted(services.roster_table().items(DISTRICT, school_id), key=lambda item: item["sk"])


@dataclass(frozen=True)
class Held:
    """A school that one scenario at Clever put on hold at sync s002, after a clean s001."""

    clever_id: str
    school_id: str
    run: SyncRun  # s002's
    effect: ScenarioEffect  # what the scenario changed at Clever (the students it removed, …)
    roster_before: list[dict[str, Any]]  # the school's roster as s001 applied it


def hold_one_school(simulator: Any, scenario: str, index: int = 0) -> Held:
    """Sync s001 clean, then make `scenario` happen at the `index`-th school (at its first student,
    for many_guardians) and sync s002, which holds it."""
    sim, _ = simulator
    sync("s001")
    clever_id: str = sim.district.school_ids()[index]
    before = roster(schools()[clever_id].school_id)
    if scenario == "many_guardians":
        effect = sim.scenarios.many_guardians(student_id=sim.district.student_ids_of_school(clever_id)[0])
    else:
        effect = getattr(sim.scenarios, scenario)(school_id=clever_id)
    run = sync("s002")
    return Held(clever_id, schools()[clever_id].school_id, run, effect, before)
