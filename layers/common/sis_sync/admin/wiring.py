"""Where the CLI finds a stack's resources, and the boto3 clients it works with.

`--stack NAME`: CloudFormation's outputs, parameters and physical resources of that stack.
Without it: the functions' own environment variables (STATE_TABLE, TOKEN_PARAMETER_PREFIX,
POLL_FUNCTION_NAME, CLEVER_API_URL; `AWS_ENDPOINT_URL` for moto), which the devstack prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from sis_sync.admin.operations import Operator
from sis_sync.clever.client import DEFAULT_BASE_URL, CleverClient
from sis_sync.config import Environment
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore

POLL_TIMEOUT_S = 900  # the poll function's own timeout: `--wait` may take that long


class StackNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class StackNames:
    state_table: str
    token_parameter_prefix: str
    poll_function_name: str
    clever_api_url: str = DEFAULT_BASE_URL


def names_from_cloudformation(cloudformation: Any, stack: str) -> StackNames:
    try:
        [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        raise StackNotFoundError(f"stack {stack}: {error.response['Error']['Message']}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    resources = {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        for resource in page["StackResourceSummaries"]
    }
    return StackNames(
        state_table=outputs["StateTableName"],
        token_parameter_prefix=outputs["TokenParameterPrefix"],
        poll_function_name=resources["PollCleverFunction"],
        clever_api_url=parameters.get("CleverApiUrl") or DEFAULT_BASE_URL,
    )


def names_from_environment(env: Environment) -> StackNames:
    if not env.state_table or not env.poll_function_name:
        raise StackNotFoundError(
            "no stack: pass --stack NAME, or export the devstack's STATE_TABLE, TOKEN_PARAMETER_PREFIX,"
            " POLL_FUNCTION_NAME and AWS_ENDPOINT_URL (it prints them when it starts)"
        )
    return StackNames(
        state_table=env.state_table,
        token_parameter_prefix=env.token_parameter_prefix,
        poll_function_name=env.poll_function_name,
        clever_api_url=env.clever_api_url,
    )


class LambdaPolls:
    """poll_clever invoked as the API invokes it (Event), or synchronously for `--wait`."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function_name = function_name

    def invoke(self, request: dict[str, Any], *, wait: bool) -> dict[str, Any]:
        response = self._lambda.invoke(
            FunctionName=self._function_name,
            InvocationType="RequestResponse" if wait else "Event",
            Payload=json.dumps(request).encode(),
        )
        if not wait:
            return {}
        answer: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        if "FunctionError" in response:
            raise RuntimeError(f"the poll failed: {answer.get('errorType')}: {answer.get('errorMessage')}")
        return answer


def operator(stack: str | None, region: str | None) -> Operator:
    session = boto3.Session(region_name=region)
    names = (
        names_from_cloudformation(session.client("cloudformation"), stack)
        if stack
        else names_from_environment(Environment.from_os())
    )
    identity = session.client("sts").get_caller_identity()["Arn"]
    lambda_client = session.client("lambda", config=Config(read_timeout=POLL_TIMEOUT_S + 10))
    return Operator(
        state=StateTable(session.resource("dynamodb").Table(names.state_table)),
        tokens=TokenStore(session.client("ssm"), names.token_parameter_prefix),
        polls=LambdaPolls(lambda_client, names.poll_function_name),
        clever=lambda token: CleverClient(names.clever_api_url, token),
        now=lambda: datetime.now(UTC),
        actor=f"operator:{identity}",
    )
