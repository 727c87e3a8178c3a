"""The stack every integration test gets (tests/conftest.py `aws`) is built once per test worker and
returned to its fresh state before each test (devstack/reset.py, which `POST /dev/reset` uses too):
after any use, it must look exactly as it did just after the build, through the same AWS APIs the
system and the tests read, and leaving out any part of the reset must show."""

from __future__ import annotations

import gc
import json
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core.base_backend import BackendDict, BaseBackend
from moto.ses.models import ses_backends

import devstack.reset
from devstack.lambdas import route_lambda_invokes
from devstack.reset import restore_fresh_state
from devstack.schedules import wait_for_execution
from tests.conftest import AwsStack, BuiltStack, StackCache, moto_keeping_state

NAME = "leftover"


@pytest.fixture
def new_build(aws_env: None, template: dict[str, Any]) -> Iterator[BuiltStack]:
    """A stack built for this test alone, as the `aws` fixture builds one."""
    with moto_keeping_state():
        yield StackCache(template).fresh()


@pytest.fixture
def reset_build(aws_env: None, built_stack: StackCache) -> Iterator[BuiltStack]:
    """The test worker's stack, reset as the `aws` fixture resets it."""
    with moto_keeping_state():
        yield built_stack.fresh()


def describe(stack: AwsStack) -> dict[str, Any]:
    """Everything a test could have left behind, as the AWS APIs show it."""
    ddb, s3, sfn = boto3.client("dynamodb"), boto3.client("s3"), boto3.client("stepfunctions")
    ses, ssm, secrets = boto3.client("ses"), boto3.client("ssm"), boto3.client("secretsmanager")
    cognito, sqs = boto3.client("cognito-idp"), boto3.client("sqs")
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    return {
        "dynamodb": {
            table: {
                "keys": ddb.describe_table(TableName=table)["Table"]["KeySchema"],
                "items": ddb.scan(TableName=table)["Items"],
            }
            for table in ddb.list_tables()["TableNames"]
        },
        "s3": {
            bucket["Name"]: [
                (entry["Key"], entry["VersionId"])
                for kind in ("Versions", "DeleteMarkers")
                for entry in s3.list_object_versions(Bucket=bucket["Name"]).get(kind, [])
            ]
            for bucket in s3.list_buckets()["Buckets"]
        },
        "stepfunctions": {
            machine["name"]: [
                e["name"]
                for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
            ]
            for machine in sfn.list_state_machines()["stateMachines"]
        },
        "ses": {
            "identities": sorted(ses.list_identities()["Identities"]),
            "sent": ses.get_send_quota()["SentLast24Hours"],
            "outbox": len(ses_backends[stack.account_id][stack.region].sent_messages),
        },
        "ssm": sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"]),
        "secretsmanager": {
            secret["Name"]: [
                v["VersionId"] for v in secrets.list_secret_version_ids(SecretId=secret["ARN"])["Versions"]
            ]
            for secret in secrets.list_secrets()["SecretList"]
        },
        "cognito-idp": {
            pool["Name"]: [u["Username"] for u in cognito.list_users(UserPoolId=pool["Id"])["Users"]]
            for pool in pools
        },
        "sqs": sqs.list_queues().get("QueueUrls", []),
    }


def use(stack: AwsStack) -> None:
    """What tests do: items, object versions, executions, mail, tokens, secrets, users, and an
    extra table and queue of their own."""
    ddb = boto3.client("dynamodb")
    for table in (stack.state_table, stack.roster_table, stack.idempotency_table):
        keys = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
        ddb.put_item(TableName=table, Item={key["AttributeName"]: {"S": NAME} for key in keys})
    ddb.create_table(
        TableName=NAME,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = boto3.client("s3")
    for body in (b"first", b"second"):
        s3.put_object(Bucket=stack.bucket, Key=f"snapshots/{NAME}.json", Body=body)
    s3.delete_object(Bucket=stack.bucket, Key=f"snapshots/{NAME}.json")
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.release_arn, name=NAME, input=json.dumps({}))[
        "executionArn"
    ]
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":  # moto runs it on a thread
        time.sleep(0.05)
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress=f"{NAME}@example.org")
    ses.send_email(
        Source=stack.sender_email,
        Destination={"ToAddresses": ["admin@example.org"]},
        Message={"Subject": {"Data": NAME}, "Body": {"Text": {"Data": NAME}}},
    )
    boto3.client("ssm").put_parameter(
        Name=f"{stack.token_parameter_prefix.rstrip('/')}/{NAME}", Value=NAME, Type="SecureString"
    )
    secrets = boto3.client("secretsmanager")
    secrets.put_secret_value(SecretId=stack.secret_arns["CleverAppSecret"], SecretString=NAME)
    cognito = boto3.client("cognito-idp")
    [pool] = cognito.list_user_pools(MaxResults=60)["UserPools"]
    cognito.admin_create_user(UserPoolId=pool["Id"], Username=f"{NAME}@example.org")
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.create_queue(QueueName=NAME)["QueueUrl"], MessageBody=NAME)


def test_a_reset_stack_equals_the_fresh_build(new_build: BuiltStack) -> None:
    built = new_build
    # Given a freshly built stack, then used as tests use it
    fresh = describe(built.stack)
    assert fresh["ses"]["identities"] == [built.stack.sender_email]  # as built: kept by a reset
    use(built.stack)
    used = describe(built.stack)
    assert {part for part in fresh if used[part] != fresh[part]} == set(fresh)  # each part changed
    # When it is reset
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    # Then nothing of the use shows: the same tables, buckets and machines, and no items, objects,
    # executions, mail, tokens, secret versions, users or queues of the use
    assert describe(built.stack) == fresh
    # and it can be used and reset again
    use(built.stack)
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    assert describe(built.stack) == fresh


@pytest.mark.parametrize(
    "skipped", ["s3", "dynamodb", "stepfunctions", "ses", "ssm", "secretsmanager", "cognito-idp", "sqs"]
)
def test_a_reset_that_skips_a_service_leaves_it_used(
    reset_build: BuiltStack, skipped: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = reset_build
    # Given a used stack, and a reset that leaves out one service
    fresh = describe(built.stack)
    use(built.stack)
    restore = devstack.reset.restore_backend

    def restore_all_but_skipped(service: str, backend: Any, state: dict[str, Any] | None) -> None:
        if not service.startswith(skipped):  # Step Functions executes in "stepfunctions-parser"
            restore(service, backend, state)

    monkeypatch.setattr(devstack.reset, "restore_backend", restore_all_but_skipped)
    if skipped == "s3":
        monkeypatch.setattr(devstack.reset, "empty_buckets", lambda s3: None)
    # When it resets
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    # Then that service, and only that one, still shows the use
    after = describe(built.stack)
    assert {part for part in fresh if after[part] != fresh[part]} == {skipped}


ATOMIC = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, str, bytes, int, float)
"""What `copy.deepcopy` keeps as it is (a function's globals are not the backend's state)."""


def backends_referred_to(backend: BaseBackend) -> list[BaseBackend]:
    """Every moto backend (itself included) that `backend`'s state holds a reference to."""
    found: list[BaseBackend] = []
    seen: set[int] = set()
    pending: list[Any] = [backend.__dict__]
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, ATOMIC):
            continue
        seen.add(id(item))
        if isinstance(item, BaseBackend):
            found.append(item)
        else:
            pending.extend(gc.get_referents(item))
    return found


def test_a_reset_leaves_references_between_backends_on_the_live_backends(
    reset_build: BuiltStack,
) -> None:
    built = reset_build
    # Given moto's backends as served, whose state refers to backends: moto's Lambda functions
    # hold the logs backend, IAM's account summary and Step Functions' state machines their own
    live = [backend for services in BackendDict._instances for _, _, backend in services.iter_backends()]  # type: ignore[misc]
    # When the stack is reset
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    # Then each of those references is to a backend moto serves, not to a copy of one
    referred = {backend: backends_referred_to(backend) for backend in live}
    referring = {type(backend).__name__ for backend, others in referred.items() if others}
    assert {"LambdaSimpleBackend", "IAMBackend", "StepFunctionsParserBackend"} <= referring
    detached = {
        (type(backend).__name__, type(other).__name__)
        for backend, others in referred.items()
        for other in others
        if not any(other is served for served in live)
    }
    assert detached == set()


def test_a_reset_functions_log_lands_where_filter_log_events_reads(reset_build: BuiltStack) -> None:
    built = reset_build
    stack = built.stack
    # Given a reset stack
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    # When one of its functions writes its output log as moto's Lambda does for an invoke
    functions = lambda_simple_backends[stack.account_id][stack.region]
    function = functions.get_function(stack.function_names["ApiFunction"])
    function.logs_backend.ensure_log_group(function.logs_group_name)
    function.save_logs(NAME)
    # Then CloudWatch Logs shows it
    logs = boto3.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=function.logs_group_name)["logGroups"]
    assert [group["logGroupName"] for group in groups] == [function.logs_group_name]
    events = logs.filter_log_events(logGroupName=function.logs_group_name)["events"]
    assert [event["message"] for event in events] == [NAME]


def test_an_execution_still_running_fails_the_next_test_and_leaves_the_stack_alone(
    reset_build: BuiltStack, built_stack: StackCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = reset_build.stack
    sfn = boto3.client("stepfunctions")
    entered, release = threading.Event(), threading.Event()

    def held(event: dict[str, Any], context: Any) -> dict[str, Any]:
        entered.set()
        release.wait(timeout=60)
        return {}

    monkeypatch.setattr(built_stack, "executions_wait_s", 0.2)
    with route_lambda_invokes(dict.fromkeys(stack.function_names.values(), held)) as invokes:
        # Given an execution held in its first Lambda task (RecordHistory) past the wait
        start = sfn.start_execution(
            stateMachineArn=stack.release_arn,
            name=NAME,
            input=json.dumps({"district_id": NAME, "manifest": {}, "history": {}}),
        )
        arn = start["executionArn"]
        try:
            assert entered.wait(timeout=10)
            # When the next test asks for the stack
            with pytest.raises(pytest.fail.Exception) as failed:
                built_stack.fresh()
            # Then it fails, naming the execution, and the stack is neither reset nor built again
            assert f"{stack.release_arn.rsplit(':', 1)[1]}/{NAME}" in str(failed.value)
            running = sfn.list_executions(stateMachineArn=stack.release_arn, statusFilter="RUNNING")
            assert [execution["executionArn"] for execution in running["executions"]] == [arn]
        finally:
            release.set()
            wait_for_execution(sfn, arn, timeout_s=60)
            invokes.join()
