"""The IAM guard catches a missing grant: a real poll under a role without its snapshot write fails
as it would on AWS, even where the poll swallows the error."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.lambdas import route_lambda_invokes, stack_handlers
from devstack.schedules import run_execution, scheduled_event
from sis_sync import services
from sis_sync.model import SyncStatus
from tests.iam_guard import IamGuard, function_roles
from tests.onboarded import DISTRICT, poll

MISSING = "WriteSnapshotsAndManifests"


def without_statement(template: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    """The transformed template less one statement of one role's inline policies."""
    changed = copy.deepcopy(template)
    removed = 0
    for policy in changed["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        kept = [s for s in statements if s.get("Sid") != sid]
        removed += len(statements) - len(kept)
        policy["PolicyDocument"]["Statement"] = kept
    assert removed == 1, f"{role} has no statement {sid}"
    return changed


@pytest.fixture
def poll_without_snapshot_write(stack: Any, template: dict[str, Any], iam_guard: IamGuard) -> IamGuard:
    crippled = without_statement(template, "PollCleverFunctionRole", MISSING)
    iam_guard.roles = function_roles(crippled, stack.resolver, stack.function_names)
    return iam_guard


def test_a_poll_without_its_snapshot_grant_is_denied_like_on_aws(
    poll_without_snapshot_write: IamGuard,
) -> None:
    guard = poll_without_snapshot_write
    # When a real poll runs as the poll function
    with pytest.raises(ClientError) as raised:
        poll("sync-a")
    # Then S3 refuses the snapshot write as AWS does, and the run never finishes
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    run = services.state_table().get_sync_run(DISTRICT, "sync-a")
    assert run is not None
    assert run.status is SyncStatus.RUNNING
    # and the guard lists the denial, which would fail the test at teardown
    with pytest.raises(AssertionError, match=r"s3:PutObject on arn:aws:s3:::.*/snapshots/d-test/"):
        guard.assert_clean()
    [denied] = guard.take_denials()
    assert (denied.function, denied.operation, denied.action) == (
        "PollCleverFunction",
        "s3.PutObject",
        "s3:PutObject",
    )


def test_a_denial_the_handler_swallows_is_still_reported(
    stack: Any, poll_without_snapshot_write: IamGuard
) -> None:
    guard = poll_without_snapshot_write
    scheduled = scheduled_event({"poll_all": True}, event_id="evt-1")
    # When the scheduled poll runs (its Map catches the district's crashed poll and carries on)
    with route_lambda_invokes(stack_handlers(stack.function_names, stack.function_modules)):
        machine = stack.resolver.resolve({"Ref": "PollStateMachine"})
        output = run_execution(boto3.client("stepfunctions"), machine, scheduled, timeout_s=60)
    # Then the execution itself succeeded, but the denial is on record
    assert output["polls"] == [{"syncs": [], "crashed": DISTRICT}]
    assert {(d.function, d.action) for d in guard.take_denials()} == {("PollCleverFunction", "s3:PutObject")}


def test_the_template_roles_let_the_same_poll_succeed(stack: Any, iam_guard: IamGuard) -> None:
    # Given the template as it is; When the same poll runs; Then it succeeds with nothing denied
    assert poll("sync-a").status is SyncStatus.SUCCEEDED
    assert iam_guard.denials() == []
    assert {"s3:PutObject", "states:StartExecution"} <= {c.action for c in iam_guard.calls}
