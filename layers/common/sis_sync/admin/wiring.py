"""Where the CLI finds a stack's resources, and the boto3 clients it works with.

`--stack NAME`: CloudFormation's outputs and parameters of that stack.
Without it: the functions' own environment variables (STATE_TABLE, TOKEN_PARAMETER_PREFIX,
POLL_STATE_MACHINE_ARN, CLEVER_API_URL; `AWS_ENDPOINT_URL` for moto), which the devstack prints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import boto3

from sis_sync.admin.operations import Operator
from sis_sync.clever.client import DEFAULT_BASE_URL, CleverClient
from sis_sync.config import Environment
from sis_sync.scheduling import PULL_DEADLINE
from sis_sync.store.executions import Executions
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore

# `--wait` looks at the poll's execution this often, and gives up after the pull's own deadline
# (a pull not complete by then fails) plus the time to record and evaluate it
WAIT_INTERVAL_S: Final = 1.0
WAIT_LIMIT_S: Final = PULL_DEADLINE.total_seconds() + 900


class StackNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class StackNames:
    state_table: str
    token_parameter_prefix: str
    poll_state_machine_arn: str
    clever_api_url: str = DEFAULT_BASE_URL


def names_from_cloudformation(cloudformation: Any, stack: str) -> StackNames:
    try:
        [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        raise StackNotFoundError(f"stack {stack}: {error.response['Error']['Message']}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    return StackNames(
        state_table=outputs["StateTableName"],
        token_parameter_prefix=outputs["TokenParameterPrefix"],
        poll_state_machine_arn=outputs["PollStateMachineArn"],
        clever_api_url=parameters.get("CleverApiUrl") or DEFAULT_BASE_URL,
    )


def names_from_environment(env: Environment) -> StackNames:
    if not env.state_table or not env.poll_state_machine_arn:
        raise StackNotFoundError(
            "no stack: pass --stack NAME, or export the devstack's STATE_TABLE, TOKEN_PARAMETER_PREFIX,"
            " POLL_STATE_MACHINE_ARN and AWS_ENDPOINT_URL (it prints them when it starts)"
        )
    return StackNames(
        state_table=env.state_table,
        token_parameter_prefix=env.token_parameter_prefix,
        poll_state_machine_arn=env.poll_state_machine_arn,
        clever_api_url=env.clever_api_url,
    )


class MachinePolls:
    """The poll state machine started as the API starts it (one poll order, execution name = the
    sync id, one step per invocation); with `wait`, until the execution ends."""

    def __init__(
        self,
        sfn: Any,
        machine_arn: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sfn = sfn
        self._executions = Executions(sfn, machine_arn)
        self._sleep = sleep
        self._clock = clock

    def invoke(self, request: dict[str, Any], *, wait: bool) -> dict[str, Any]:
        arn = self._executions.start_unique(request["sync_id"], {"polls": [request]})
        if not wait:
            return {}
        give_up = self._clock() + WAIT_LIMIT_S
        while (execution := self._sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if self._clock() > give_up:
                raise RuntimeError(f"the poll is still running after {WAIT_LIMIT_S:.0f} s")
            self._sleep(WAIT_INTERVAL_S)
        if execution["status"] != "SUCCEEDED":
            raise RuntimeError(f"the poll's execution ended {execution['status']}")
        polls = json.loads(execution.get("output") or "{}").get("polls", [])
        return {"syncs": [sync for poll in polls for sync in poll.get("syncs", [])]}


def operator(stack: str | None, region: str | None) -> Operator:
    session = boto3.Session(region_name=region)
    names = (
        names_from_cloudformation(session.client("cloudformation"), stack)
        if stack
        else names_from_environment(Environment.from_os())
    )
    identity = session.client("sts").get_caller_identity()["Arn"]
    sfn = session.client("stepfunctions")
    return Operator(
        state=StateTable(session.resource("dynamodb").Table(names.state_table)),
        tokens=TokenStore(session.client("ssm"), names.token_parameter_prefix),
        polls=MachinePolls(sfn, names.poll_state_machine_arn),
        clever=lambda token: CleverClient(names.clever_api_url, token),
        now=lambda: datetime.now(UTC),
        actor=f"operator:{identity}",
    )
