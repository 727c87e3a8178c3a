"""The stack every integration test gets (tests/conftest.py `aws`) is built once per test worker and
returned to its fresh state before each test (devstack/reset.py, which `POST /dev/reset` uses too):
after any use, it must look exactly as it did just after the build, through the same AWS APIs the
system and the tests read, and leaving out any part of the reset must show."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.ses.models import ses_backends

import devstack.reset
from devstack.reset import BackendCopy, restore_fresh_state
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

    def restore_all_but_skipped(service: str, backend: Any, captured: BackendCopy | None) -> None:
        if not service.startswith(skipped):  # Step Functions executes in "stepfunctions-parser"
            restore(service, backend, captured)

    monkeypatch.setattr(devstack.reset, "restore_backend", restore_all_but_skipped)
    if skipped == "s3":
        monkeypatch.setattr(devstack.reset, "empty_buckets", lambda s3: None)
    # When it resets
    assert restore_fresh_state(built.fresh, boto3.client("s3"))
    # Then that service, and only that one, still shows the use
    after = describe(built.stack)
    assert {part for part in fresh if after[part] != fresh[part]} == {skipped}
