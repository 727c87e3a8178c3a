"""Shared fixtures: fake AWS credentials, the transformed template, and the stack built in moto.

- `aws_env`   fake credentials + region us-east-1; removes anything that would send boto3 to a real
              endpoint or profile (with AWS_ENDPOINT_URL set, moto's mock_aws does not intercept).
- `template`  (session) template.yaml translated offline by aws-sam-translator to plain CloudFormation.
- `aws`       inside `mock_aws` (Step Functions executes real ASL; Lambda is moto's Docker-free echo
              backend): every resource of the template, built from the template itself by
              `devstack.stack.create_stack`; the function environment (STATE_TABLE, ...) is exported.
              Yields an `AwsStack`. Route invokes to real handlers with `devstack.lambdas`.
              Every call made as a function is checked against that function's role
              (tests/iam_guard.py); a denial fails the test at teardown.
- `iam_guard` the guard the `aws` fixture installed (its recorded calls; `take_denials`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.stack import StackResources, create_stack
from devstack.template import load_sam_template, transform_template
from tests.iam_guard import IamGuard, enforce, function_roles, installed

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
STACK_PREFIX = "sis-sync-test"
SENDER_EMAIL = "sis-sync@example.org"
DASHBOARD_URL = "https://sis-sync.example.org"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

AwsStack = StackResources
"""What the `aws` fixture yields: table/bucket names, state machine and function ARNs, environment."""


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region; no endpoint override, profile or shared config can leak in."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in {
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_CA_BUNDLE",
        }:
            monkeypatch.delenv(name)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as loaded (SAM resources, short-form intrinsics as dicts)."""
    return load_sam_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml transformed offline to plain CloudFormation (no IAM or other AWS call)."""
    return transform_template(sam_template, REGION)


@pytest.fixture
def aws(aws_env: None, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStack]:
    """Every resource of the template in moto, with the functions' environment exported."""
    with mock_aws(config=MOTO_CONFIG):
        stack = create_stack(
            TEMPLATE_PATH,
            boto3.Session(region_name=REGION),
            names_prefix=STACK_PREFIX,
            # One school (and district) at a time: moto's DynamoDB is not thread-safe under
            # concurrent transactions.
            parameters={
                "SenderEmail": SENDER_EMAIL,
                "DashboardUrl": DASHBOARD_URL,
                "MapConcurrency": "1",
                "ScheduledPollConcurrency": "1",
            },
            transformed=template,
        )
        for name, value in stack.environment.items():
            monkeypatch.setenv(name, value)
        roles = function_roles(template, stack.resolver, stack.function_names)
        with enforce(IamGuard(roles, stack.account_id)) as guard:
            yield stack
            _let_executions_finish(stack)
        guard.assert_clean()


def _let_executions_finish(stack: AwsStack, timeout_s: float = 60.0) -> None:
    """moto runs executions on threads of their own: one still running when a test ends would go
    on writing into the next test's tables (a failure it records creates a partial SYNC# item)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    for machine in sfn.list_state_machines()["stateMachines"]:
        arn = machine["stateMachineArn"]
        while (
            time.monotonic() < deadline
            and sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
        ):
            time.sleep(0.05)


@pytest.fixture
def iam_guard(aws: AwsStack) -> IamGuard:
    return installed()
