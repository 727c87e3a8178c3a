"""The stack built in moto from template.yaml: resources, IAM scoping, and both state machines running."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest

from devstack.lambdas import InvokeLog, route_lambda_invokes
from devstack.stack import StackResources as AwsStack

Handler = Callable[[dict[str, Any], Any], Any]
DISTRICT = "d-1"
SYNC = "sync-2026-11-02T08"


class StalePendingSyncError(Exception):  # the class name Step Functions catches
    """Stands in for apply_changes' refusal (Step Functions matches the class name)."""


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def evaluate_input(aws: AwsStack, schools: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluate machine's input, its schools written to a manifest as the poll writes them."""
    key = f"manifests/{DISTRICT}/{SYNC}.json"
    boto3.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=json.dumps(schools).encode())
    return {"district_id": DISTRICT, "sync_id": SYNC, "manifest": {"bucket": aws.bucket, "key": key}}


def run(
    arn: str, payload: dict[str, Any], deadline_s: float = 30.0, name: str | None = None
) -> dict[str, Any]:
    """Start an execution (named, when one test runs the same machine twice) and wait for moto's
    executor thread to finish it."""
    sfn = boto3.client("stepfunctions")
    named = {"name": name} if name else {}
    execution_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload), **named)[
        "executionArn"
    ]
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{execution_arn} still running after {deadline_s}s")


def sync_item(stack: AwsStack) -> dict[str, Any]:
    key = {"pk": {"S": f"DISTRICT#{DISTRICT}"}, "sk": {"S": f"SYNC#{SYNC}"}}
    item: dict[str, Any] = (
        boto3.client("dynamodb").get_item(TableName=stack.state_table, Key=key).get("Item", {})
    )
    return item


@pytest.fixture
def routed(aws: AwsStack) -> Iterator[Callable[[dict[str, Handler]], InvokeLog]]:
    """Route invokes of the named logical functions to stub handlers for the duration of a test."""
    with ExitStack() as stack:

        def install(handlers: dict[str, Handler]) -> InvokeLog:
            named = {aws.function_names[lid]: handler for lid, handler in handlers.items()}
            return stack.enter_context(route_lambda_invokes(named))

        yield install


# ------------------------------------------------------------------ resources


def test_tables_are_created_with_the_template_keys_indexes_and_ttl(
    aws: AwsStack, template: dict[str, Any]
) -> None:
    dynamodb = boto3.client("dynamodb")
    names = {
        "StateTable": aws.state_table,
        "RosterTable": aws.roster_table,
        "IdempotencyTable": aws.idempotency_table,
    }
    for lid, resource in resources_of(template, "AWS::DynamoDB::Table").items():
        declared = resource["Properties"]
        table = dynamodb.describe_table(TableName=names[lid])["Table"]
        assert table["KeySchema"] == declared["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in declared.get("GlobalSecondaryIndexes", [])}
        backups = dynamodb.describe_continuous_backups(TableName=names[lid])["ContinuousBackupsDescription"]
        pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        assert (pitr == "ENABLED") == ("PointInTimeRecoverySpecification" in declared)
    ttl = dynamodb.describe_time_to_live(TableName=aws.idempotency_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    assert (
        dynamodb.describe_table(TableName=aws.state_table)["Table"]["GlobalSecondaryIndexes"][0]["IndexName"]
        == "gsi1"
    )


def test_bucket_configuration_matches_the_template(aws: AwsStack) -> None:
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=aws.bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=aws.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=aws.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    ownership = s3.get_bucket_ownership_controls(Bucket=aws.bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=aws.bucket)["Rules"]}
    assert lifecycle["expire-change-csvs"]["Expiration"] == {"Days": 90}
    assert lifecycle["snapshots-to-infrequent-access"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    # The template's TLS-only bucket policy is left out in moto, which cannot see the transport
    # and would deny every request (tests/unit/test_template.py checks the template has it).
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=aws.bucket)


def test_link_key_sender_and_functions_exist(aws: AwsStack) -> None:
    # the key the template generates: 64 letters and digits (GenerateSecretString honoured)
    secret_arn = aws.environment["LINK_KEY_SECRET_ARN"]
    assert secret_arn == aws.secret_arns["LinkSigningKey"]
    key = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    assert len(key) == 64
    assert key.isalnum()
    assert aws.sender_email in boto3.client("ses").list_identities()["Identities"]
    lambda_client = boto3.client("lambda")
    for lid, name in aws.function_names.items():
        configuration = lambda_client.get_function_configuration(FunctionName=name)
        assert configuration["FunctionArn"] == aws.function_arns[lid]
        assert configuration["Runtime"] == "python3.11"
        assert configuration["Environment"]["Variables"] == aws.function_environments[lid]
        named_for_where = {"TOKEN_PARAMETER_PREFIX", "AUTH_TOKEN_URL"}  # a path and a URL, no token
        assert not any(
            "TOKEN" in n for n in configuration["Environment"]["Variables"] if n not in named_for_where
        )
    assert aws.function_modules["PollCleverFunction"] == "functions.poll_clever.app.lambda_handler"


def test_every_secret_of_the_template_exists_and_only_generated_ones_have_a_value(
    aws: AwsStack, template: dict[str, Any]
) -> None:
    secrets = boto3.client("secretsmanager")
    declared = resources_of(template, "AWS::SecretsManager::Secret")
    assert set(aws.secret_arns) == set(declared)
    for lid, secret in declared.items():
        described = secrets.describe_secret(SecretId=aws.secret_arns[lid])
        properties = secret["Properties"]
        if {"GenerateSecretString", "SecretString"} & set(properties):
            assert secrets.get_secret_value(SecretId=described["ARN"])["SecretString"], lid
        else:  # a value set only after deploy: CloudFormation creates the secret empty
            with pytest.raises(secrets.exceptions.ResourceNotFoundException):
                secrets.get_secret_value(SecretId=described["ARN"])


def test_every_log_group_exists_with_its_retention(aws: AwsStack, template: dict[str, Any]) -> None:
    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    declared = resources_of(template, "AWS::Logs::LogGroup")
    assert len(groups) == len(declared)
    assert sorted(g.get("retentionInDays", 0) for g in groups) == sorted(
        g["Properties"].get("RetentionInDays", 0) for g in declared.values()
    )


def test_exported_environment_points_at_the_created_resources(aws: AwsStack) -> None:
    import os

    assert os.environ["STATE_TABLE"] == aws.state_table
    assert os.environ["SNAPSHOT_BUCKET"] == aws.bucket
    assert os.environ["EVALUATE_STATE_MACHINE_ARN"] == aws.evaluate_arn
    assert os.environ["RELEASE_STATE_MACHINE_ARN"] == aws.release_arn
    assert os.environ["TOKEN_PARAMETER_PREFIX"] == "/sis-sync/sis-sync-test/clever-tokens/"


def test_the_user_pool_its_hosted_ui_domain_and_public_client_exist_as_the_api_is_told(aws: AwsStack) -> None:
    cognito = boto3.client("cognito-idp")
    [pool] = cognito.list_user_pools(MaxResults=10)["UserPools"]
    [listed] = cognito.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    client = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=listed["ClientId"])[
        "UserPoolClient"
    ]
    api = aws.function_environments["ApiFunction"]
    dashboard = aws.environment["DASHBOARD_URL"]
    assert api["AUTH_CLIENT_ID"] == client["ClientId"]
    assert (client["CallbackURLs"], client["LogoutURLs"]) == ([dashboard + "/"], [dashboard + "/"])
    assert (client["AllowedOAuthFlows"], client.get("ClientSecret")) == (["code"], None)
    domain = cognito.describe_user_pool_domain(Domain="sis-sync-local")["DomainDescription"]
    assert domain["UserPoolId"] == pool["Id"]
    assert api["AUTH_TOKEN_URL"] == "https://sis-sync-local.auth.us-east-1.amazoncognito.com/oauth2/token"


def test_moto_accepts_both_substituted_definitions(aws: AwsStack) -> None:
    sfn = boto3.client("stepfunctions")
    for arn in (aws.evaluate_arn, aws.release_arn):
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        assert "${" not in definition
        assert aws.function_arns["ApplyChangesFunction"] in definition


# ------------------------------------------------------------------ IAM, resolved


def grants(role_name: str) -> set[str]:
    """A role's inline policies summarised as "<what>:<access>" labels."""
    iam = boto3.client("iam")
    labels: set[str] = set()
    for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                for resource in resources:
                    label = _label(action, resource)
                    if label:
                        labels.add(label)
    return labels


def _label(action: str, resource: str) -> str | None:
    service, verb = action.split(":")
    if service in {"dynamodb", "s3", "ssm", "states", "lambda", "ses"}:
        assert resource != "*", action
    if service == "dynamodb" and "/index/" not in resource:
        table = resource.rsplit("/", 1)[1].removeprefix("sis-sync-test-")
        return f"{table}:{'write' if verb in {'PutItem', 'UpdateItem', 'DeleteItem'} else 'read'}"
    if service == "s3":
        # "<prefix>:read|write" per key prefix granted ("bucket:…" = every key); "bucket:list" = ListBucket
        keys = resource.split(":::", 1)[1].partition("/")[2]
        if not keys:
            return f"bucket:{'list' if verb == 'ListBucket' else verb}"
        prefix = keys.removesuffix("*").rstrip("/") or "bucket"
        return f"{prefix}:{'write' if verb in S3_WRITES else 'read'}"
    if service == "ssm" and verb != "DescribeParameters":
        what = "tokens" if "/clever-tokens/" in resource else "ssm"
        return f"{what}:{'write' if verb == 'PutParameter' else 'read'}"
    if service == "secretsmanager":  # "<name>-<6 random characters>", named like the tables
        secret = resource.split(":")[6].rsplit("-", 1)[0].removeprefix("sis-sync-test").lstrip("-/")
        return f"{secret}:{'read' if verb == 'GetSecretValue' else 'write'}"
    if service == "states":
        return f"{verb}:{resource.split(':')[6].removeprefix('sis-sync-test-')}"
    if service == "lambda":
        return f"invoke:{resource.split(':')[6].removeprefix('sis-sync-test-').rstrip('*')}"
    if service == "ses":
        return "ses:send"
    return None


S3_WRITES = {"PutObject", "DeleteObject", "DeleteObjectVersion", "AbortMultipartUpload"}

EXPECTED_GRANTS = {
    "PollCleverFunction": {
        "StateTable:read",
        "StateTable:write",
        "snapshots:write",
        "manifests:write",  # the evaluate flow's list of changed schools
        "pulls:write",  # raw Clever pages as they arrive (a pull across invocations)
        "pulls:read",  # read back to partition once every listing is complete
        "tokens:read",
        "StartExecution:evaluate",
        "DescribeExecution:evaluate",  # a retried poll finds the execution it started
        "invoke:NotifyFunction",
    },
    "EvaluateHoldsFunction": {
        "StateTable:read",
        "StateTable:write",
        "snapshots:read",
        "changes:write",
        "changesets:write",  # each evaluated change set, for the threshold preview
    },
    "ApplyChangesFunction": {
        "StateTable:read",
        "StateTable:write",
        "RosterTable:read",
        "RosterTable:write",
        "snapshots:read",
        "snapshots:write",  # apply safe changes stores the safe part as a snapshot
        "changes:write",  # and the CSV of what is still held
        "releases:read",  # the release's first step: the approved schools' histories
    },
    "NotifyFunction": {
        "StateTable:read",
        "StateTable:write",  # notified_reasons only (one UpdateItem statement)
        "IdempotencyTable:read",
        "IdempotencyTable:write",
        "ses:send",
        "LinkSigningKey:read",
    },
    "ApiFunction": {
        "StateTable:read",
        "StateTable:write",
        "RosterTable:read",
        "changes:read",
        "changesets:read",  # the threshold preview judges stored change sets
        "bucket:list",  # a missing CSV is a 404, not a 403
        "tokens:read",  # "I fixed it" tests the token; the API never writes one
        "LinkSigningKey:read",
        "StartExecution:poll",  # Check for new Clever data, I fixed it: never invokes poll_clever itself
        "StartExecution:evaluate",
        "StartExecution:release",
        "DescribeExecution:evaluate",
        "DescribeExecution:release",
        "releases:write",  # Clear holds' manifest of approved schools
    },
    "PreTokenGenerationFunction": {"tokens:read"},  # and a Query of the state table's gsi1 index
    "EvaluateStateMachine": {
        "invoke:EvaluateHoldsFunction",
        "invoke:ApplyChangesFunction",
        "invoke:NotifyFunction",
        "StateTable:write",
        "manifests:read",  # the list of changed schools its Distributed Map reads
        "StartExecution:evaluate",  # the Distributed Map's child executions
        "DescribeExecution:evaluate",
        "StopExecution:evaluate",
    },
    "PlanPollsFunction": set(),  # only a Query of the state table's gsi1 index (the due districts)
    "PollStateMachine": {
        "invoke:PlanPollsFunction",
        "invoke:PollCleverFunction",
        "StateTable:write",  # a crashed poll's sync run failed and its lease freed
    },
    "ReleaseStateMachine": {
        "invoke:ApplyChangesFunction",
        "releases:read",  # the approved schools its Distributed Map reads
        "StartExecution:release",  # the Distributed Map's child executions
        "DescribeExecution:release",
        "StopExecution:release",
    },
}


@pytest.mark.parametrize("lid", sorted(EXPECTED_GRANTS))
def test_each_role_is_least_privilege_and_resource_scoped(aws: AwsStack, lid: str) -> None:
    assert grants(f"sis-sync-test-{lid}Role") == EXPECTED_GRANTS[lid]


# ------------------------------------------------------------------ executions


def test_echo_backend_has_no_decision_so_the_school_fails_and_is_recorded(aws: AwsStack) -> None:
    # Given moto's Docker-free Lambda, which returns the payload it was sent
    # When a district's schools are evaluated
    result = run(aws.evaluate_arn, evaluate_input(aws, [{"school_id": "s1"}]))
    # Then the missing decision is not mistaken for a route: the school's failure lands on the sync run
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["results"] == [
        {"school_id": "s1", "outcome": "failed", "error": "UnknownDecision"}
    ]
    assert sync_item(aws)["last_error"]["M"]["error"] == {"S": "UnknownDecision"}
    assert sync_item(aws)["failed_schools"] == {"SS": ["s1"]}


def _decide(decisions: dict[str, str]) -> Handler:
    def evaluate_holds(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return {
            "district_id": event["district_id"],
            "sync_id": event["sync_id"],
            "school_id": event["school_id"],
            "decision": decisions[event["school_id"]],
            "notify": True,
        }

    return evaluate_holds


def _fail(error: Exception) -> Handler:
    def handler(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        raise error

    return handler


def test_each_school_follows_its_decision(aws: AwsStack, routed: Any) -> None:
    # Given evaluate_holds decides hold, apply and unchanged for three schools
    log = routed(
        {
            "EvaluateHoldsFunction": _decide({"s1": "hold", "s2": "apply", "s3": "unchanged"}),
            "NotifyFunction": lambda event, _c: {"sent": True},
            "ApplyChangesFunction": lambda event, _c: {"applied": True},
        }
    )
    schools = [{"school_id": s, "name": f"School {s}"} for s in ("s1", "s2", "s3")]
    # When the district is evaluated
    result = run(aws.evaluate_arn, evaluate_input(aws, schools))
    # Then the held school is mailed, the clean one applied, the unchanged one left alone
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output == {
        "district_id": DISTRICT,
        "sync_id": SYNC,
        "results": [
            {"school_id": "s1", "outcome": "on_hold"},
            {"school_id": "s2", "outcome": "connected"},
            {"school_id": "s3", "outcome": "unchanged"},
        ],
    }
    calls = [(aws_name, event.get("school_id")) for aws_name, event in log.calls]
    assert (aws.function_names["ApplyChangesFunction"], "s2") in calls
    assert len(calls) == 5
    # and the admins are mailed once for the whole sync, after the Map
    assert [event for name, event in log.calls if name == aws.function_names["NotifyFunction"]] == [
        {"kind": "holds", "district_id": DISTRICT, "sync_id": SYNC}
    ]
    assert log.calls[-1][0] == aws.function_names["NotifyFunction"]
    first = next(event for name, event in log.calls if name == aws.function_names["EvaluateHoldsFunction"])
    assert set(first) == {"district_id", "sync_id", "school_id", "school"}
    assert first["school"]["name"].startswith("School ")


def test_a_failing_school_is_recorded_and_the_others_still_run(aws: AwsStack, routed: Any) -> None:
    # Given applying s1 crashes while s2 is unchanged
    routed(
        {
            "EvaluateHoldsFunction": _decide({"s1": "apply", "s2": "unchanged"}),
            "ApplyChangesFunction": _fail(RuntimeError("roster write failed")),
        }
    )
    # When the district is evaluated
    schools = [{"school_id": "s1"}, {"school_id": "s2"}]
    result = run(aws.evaluate_arn, evaluate_input(aws, schools))
    # Then the run succeeds, s1 is a recorded failure and s2 was processed
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["results"] == [
        {"school_id": "s1", "outcome": "failed", "error": "RuntimeError"},
        {"school_id": "s2", "outcome": "unchanged"},
    ]
    item = sync_item(aws)
    assert item["failed_schools"] == {"SS": ["s1"]}
    assert item["last_error"]["M"]["school_id"] == {"S": "s1"}
    assert item["last_error"]["M"]["error"] == {"S": "RuntimeError"}


def test_a_failed_map_still_mails_the_schools_held_before_it_failed(aws: AwsStack, routed: Any) -> None:
    # Given a Map that fails as a whole (here: its manifest cannot be read)
    log = routed({"NotifyFunction": lambda event, _c: {"sent": True}})
    payload = evaluate_input(aws, []) | {"manifest": {"bucket": aws.bucket, "key": "manifests/d-1/gone.json"}}
    # When the district is evaluated
    result = run(aws.evaluate_arn, payload)
    # Then the run fails and is recorded on the sync run, and the sync's hold mail is still asked
    # for once (it names whatever schools were held before the failure, read from their outcomes)
    assert result["status"] == "FAILED", result
    assert "last_error" in sync_item(aws)
    assert log.calls == [
        (aws.function_names["NotifyFunction"], {"kind": "holds", "district_id": DISTRICT, "sync_id": SYNC})
    ]


def release_input(aws: AwsStack, approvals: list[dict[str, str]]) -> dict[str, Any]:
    """The release machine's input, its approved schools in a manifest as Clear holds writes it."""
    key = f"releases/{DISTRICT}/release-test.json"
    boto3.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=json.dumps(approvals).encode())
    manifest = {"bucket": aws.bucket, "key": key}
    return {"district_id": DISTRICT, "approved_by": "admin@example.org", "manifest": manifest}


def test_release_applies_each_approved_change_set(aws: AwsStack, routed: Any) -> None:
    log = routed({"ApplyChangesFunction": lambda event, _c: {"released": event["school_id"]}})
    approvals = [{"school_id": "s1", "sync_id": SYNC}, {"school_id": "s2", "sync_id": "s-older"}]
    result = run(aws.release_arn, release_input(aws, approvals))
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"district_id": DISTRICT, "results": ["released", "released"]}
    events = sorted((event for _, event in log.calls), key=lambda event: str(event["school_id"]))
    assert events == [
        {
            "district_id": DISTRICT,
            "approved_by": "admin@example.org",
            **approval,
            "approval": approval,  # the manifest item as stored: its `mode` (absent = release) alone decides
        }
        for approval in approvals
    ]


def test_a_stale_school_is_reported_and_a_failed_one_fails_the_release(aws: AwsStack, routed: Any) -> None:
    # Given s1's change set moved on, s2's apply crashes and s3 applies
    def apply(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        if event["school_id"] == "s1":
            raise StalePendingSyncError("pending sync moved on")
        if event["school_id"] == "s2":
            raise RuntimeError("roster write failed")
        return {"released": event["school_id"]}

    log = routed({"ApplyChangesFunction": apply})
    approvals = [{"school_id": s, "sync_id": SYNC} for s in ("s1", "s2", "s3")]
    result = run(aws.release_arn, release_input(aws, approvals))
    # Then every school ran, and the release fails (so that clearing s2 again starts a new attempt)
    assert {event["school_id"] for _, event in log.calls} == {"s1", "s2", "s3"}
    assert (result["status"], result["error"]) == ("FAILED", "ReleaseFailed")
    # And a stale school alone is not a failure
    routed({"ApplyChangesFunction": _fail(StalePendingSyncError("pending sync moved on"))})
    result = run(aws.release_arn, release_input(aws, approvals[:1]), name="stale-only")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["results"] == ["stale"]
