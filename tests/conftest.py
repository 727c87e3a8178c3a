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
              Each test worker builds the stack once (`built_stack`) and returns moto to its state
              just after that build before every test (`devstack.reset`): what a test sees is a
              fresh build. moto is patched in only while a test runs, as `mock_aws` per test did.
- `iam_guard` the guard the `aws` fixture installed (its recorded calls; `take_denials`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.base_backend import BackendDict
from moto.core.custom_responses_mock import reset_responses_mock
from moto.core.models import MockAWS, responses_mock

from devstack.reset import FreshState, capture_fresh_state, restore_fresh_state
from devstack.stack import StackResources, create_stack
from devstack.template import load_sam_template, transform_template
from tests.iam_guard import FunctionRole, IamGuard, enforce, function_roles, installed

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


@dataclass(frozen=True)
class BuiltStack:
    stack: AwsStack
    roles: dict[str, FunctionRole]
    fresh: FreshState
    """moto just after the build: what every test starts from."""


class StackCache:
    """The stack one test worker built, returned to its fresh state for each test that asks."""

    executions_wait_s = 60.0
    """How long a test's Step Functions executions may run on after it ends."""

    def __init__(self, template: dict[str, Any]) -> None:
        self._template = template
        self._built: BuiltStack | None = None

    def fresh(self) -> BuiltStack:
        """Call with moto patched in. The stack as a fresh build has it: restored when it is still
        in moto, else built again (a `mock_aws` elsewhere reset moto, a test created or removed a
        bucket). Fails while an execution of an earlier test still runs: its thread would write
        into whatever stack comes next, restored or rebuilt."""
        built = self._built
        if built is not None:
            running = _executions_still_running(self.executions_wait_s)
            _fail_if_running(running, "of an earlier test", self.executions_wait_s)
            if restore_fresh_state(built.fresh, boto3.client("s3")):
                return built
        self._built = None
        BackendDict.reset()  # what `mock_aws` did on entering: nothing of before stays
        self._built = built = self._build()
        return built

    def _build(self) -> BuiltStack:
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
            transformed=self._template,
        )
        roles = function_roles(self._template, stack.resolver, stack.function_names)
        return BuiltStack(stack, roles, capture_fresh_state(boto3.client("s3")))


@contextmanager
def moto_keeping_state() -> Iterator[None]:
    """`mock_aws` for one test that neither resets moto's backends on entering nor empties them on
    leaving (the stack built for an earlier test stays); outside tests nothing is patched."""
    if MockAWS._mocks_active:
        raise RuntimeError("mock_aws is already active: the stack would be built into it")
    reset_responses_mock(responses_mock)  # else each start would register moto's URLs once more
    mock = mock_aws(config=MOTO_CONFIG)
    mock.start(reset=False)
    try:
        yield
    finally:
        mock.stop(remove_data=False)


@pytest.fixture(scope="session")
def built_stack(template: dict[str, Any]) -> StackCache:
    """Per test worker (xdist runs each in its own process, so each has its own moto)."""
    return StackCache(template)


@pytest.fixture
def aws(aws_env: None, built_stack: StackCache, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStack]:
    """Every resource of the template in moto, as freshly built, with the functions' environment
    exported; the IAM guard checks this test's calls alone."""
    with moto_keeping_state():
        built = built_stack.fresh()
        stack = built.stack
        for name, value in stack.environment.items():
            monkeypatch.setenv(name, value)
        with enforce(IamGuard(dict(built.roles), stack.account_id)) as guard:
            try:
                yield stack
            finally:
                running = _executions_still_running(built_stack.executions_wait_s)
        _fail_if_running(running, "of this test", built_stack.executions_wait_s)
        guard.assert_clean()


def _executions_still_running(timeout_s: float) -> list[str]:
    """moto runs executions on threads of their own: one still running when a test ends would go
    on writing into the next test's tables (a failure it records creates a partial SYNC# item).
    Waits up to `timeout_s` for them; "machine/execution" of each that still runs."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while True:
        running = [
            f"{machine['name']}/{execution['name']}"
            for machine in sfn.list_state_machines()["stateMachines"]
            for execution in sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )["executions"]
        ]
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.05)


def _fail_if_running(running: list[str], whose: str, waited_s: float) -> None:
    if running:
        pytest.fail(
            f"Step Functions executions {whose} still running after {waited_s:g} s: "
            f"{', '.join(running)} (their threads would write into the next test's stack)",
            pytrace=False,
        )


@pytest.fixture
def iam_guard(aws: AwsStack) -> IamGuard:
    return installed()
