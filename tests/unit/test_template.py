"""template.yaml, samconfig.toml and the state machine definitions, checked offline (no AWS, no moto)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from devstack.template import substitute_definition

REPO = Path(__file__).resolve().parents[2]
STATE_MACHINES = {
    "EvaluateStateMachine": REPO / "statemachine" / "evaluate.asl.json",
    "ReleaseStateMachine": REPO / "statemachine" / "release.asl.json",
    "PollStateMachine": REPO / "statemachine" / "poll.asl.json",
}
FUNCTIONS = {
    "PollCleverFunction": "functions/poll_clever/",
    "PlanPollsFunction": "functions/plan_polls/",
    "EvaluateHoldsFunction": "functions/evaluate_holds/",
    "ApplyChangesFunction": "functions/apply_changes/",
    "NotifyFunction": "functions/notify/",
    "ApiFunction": "functions/api/",
}
GLOBAL_VARIABLES = {
    "STATE_TABLE",
    "ROSTER_TABLE",
    "IDEMPOTENCY_TABLE",
    "SNAPSHOT_BUCKET",
    "CLEVER_API_URL",
    "TOKEN_PARAMETER_PREFIX",
    "LINK_KEY_SECRET_ARN",
    "SENDER_EMAIL",
    "DASHBOARD_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
}
EXTRA_VARIABLES = {
    "PollCleverFunction": {"EVALUATE_STATE_MACHINE_ARN", "NOTIFY_FUNCTION_NAME"},
    "ApiFunction": {
        "EVALUATE_STATE_MACHINE_ARN",
        "RELEASE_STATE_MACHINE_ARN",
        "POLL_STATE_MACHINE_ARN",
        "AUTH_AUTHORIZE_URL",
        "AUTH_TOKEN_URL",
        "AUTH_LOGOUT_URL",
        "AUTH_CLIENT_ID",
        "AUTH_SCOPES",
        "AUTH_CLEVER_CLIENT_ID",
    },
}
LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "States.Timeout",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 4,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}
# A district's poll that timed out is not retried in the same tick: it backs off (sis_sync.scheduling).
POLL_RETRY = LAMBDA_RETRY | {"ErrorEquals": [e for e in LAMBDA_RETRY["ErrorEquals"] if e != "States.Timeout"]}
SCOPED_SERVICES = ("dynamodb:", "s3:", "ssm:", "states:", "lambda:", "ses:", "kms:", "secretsmanager:")
PLAUSIBLE_SUBSTITUTIONS = {
    "EvaluateHoldsFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sis-sync-EvaluateHolds",
    "ApplyChangesFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sis-sync-ApplyChanges",
    "NotifyFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sis-sync-Notify",
    "PlanPollsFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sis-sync-PlanPolls",
    "PollCleverFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sis-sync-PollClever",
    "PollConcurrency": "5",
    "StateTableName": "sis-sync-StateTable",
    "MapConcurrency": "10",
}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def asl(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def all_states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor)
        for branch in state.get("Branches", []):
            yield from all_states(branch)


# ------------------------------------------------------------------ template


def test_cfn_lint_reports_nothing_even_informational() -> None:
    # Given the template; When cfn-lint checks it with informational rules on; Then it is clean
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--include-checks", "I", "--", "template.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_transforms_offline_to_plain_cloudformation(template: dict[str, Any]) -> None:
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not any(kind.startswith("AWS::Serverless::") for kind in kinds)
    assert "Transform" not in template
    for lid in FUNCTIONS:
        assert template["Resources"][lid]["Type"] == "AWS::Lambda::Function"
    for lid in STATE_MACHINES:
        assert template["Resources"][lid]["Type"] == "AWS::StepFunctions::StateMachine"
    assert template["Resources"]["HttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"


def test_functions_share_runtime_layer_tracing_and_code_paths(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    layer = resources["CommonLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    function_globals = sam_template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["Handler"] == "app.lambda_handler"
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    for lid, code in FUNCTIONS.items():
        assert resources[lid]["Properties"]["CodeUri"] == code
    poll = resources["PollCleverFunction"]["Properties"]
    assert (poll["Timeout"], poll["MemorySize"]) == (900, 1769)
    assert "Events" not in poll  # the schedule fans out: PollStateMachine polls one district per invocation
    [schedule] = resources["PollStateMachine"]["Properties"]["Events"].values()
    assert schedule["Properties"]["Schedule"] == {"Fn::Sub": "rate(${SyncRateMinutes} minutes)"}
    assert sam_template["Parameters"]["SyncRateMinutes"]["Default"] == 120


def test_every_function_gets_exactly_the_documented_environment(template: dict[str, Any]) -> None:
    for lid in FUNCTIONS:
        variables = template["Resources"][lid]["Properties"]["Environment"]["Variables"]
        assert set(variables) == GLOBAL_VARIABLES | EXTRA_VARIABLES.get(lid, set()), lid
        assert variables["POWERTOOLS_SERVICE_NAME"] == "sis-sync"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SisSync"


def test_poll_knows_the_notify_function_it_invokes(sam_template: dict[str, Any]) -> None:
    # the poller mails a disconnection by invoking notify asynchronously
    poll = sam_template["Resources"]["PollCleverFunction"]["Properties"]
    assert poll["Environment"]["Variables"]["NOTIFY_FUNCTION_NAME"] == {"Ref": "NotifyFunction"}
    assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": "NotifyFunction"}}} in poll["Policies"]


def test_no_function_environment_carries_a_secret(template: dict[str, Any]) -> None:
    # Clever tokens live in SSM SecureString parameters; the environment only names where.
    for lid in FUNCTIONS:
        variables = template["Resources"][lid]["Properties"]["Environment"]["Variables"]
        secretish = {n for n in variables if re.search(r"TOKEN|SECRET|PASSWORD|KEY", n)}
        assert secretish <= {"TOKEN_PARAMETER_PREFIX", "LINK_KEY_SECRET_ARN", "AUTH_TOKEN_URL"}, lid
        assert "CLEVER_DISTRICT_TOKEN" not in variables


def test_the_link_signing_key_is_generated_by_the_template(sam_template: dict[str, Any]) -> None:
    # Nothing is made by hand after `sam deploy` (DESIGN §7): CloudFormation generates the key.
    resources = sam_template["Resources"]
    secret = resources["LinkSigningKey"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] >= 48
    assert generate["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LINK_KEY_SECRET_ARN"] == {"Ref": "LinkSigningKey"}
    assert "LinkKeyParameter" not in sam_template["Outputs"]


def test_only_notify_and_api_read_the_link_signing_key(template: dict[str, Any]) -> None:
    readers = {
        lid.removesuffix("Role")
        for lid, role in resources_of(template, "AWS::IAM::Role").items()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if {"Ref": "LinkSigningKey"} in _as_list(statement["Resource"])
    }
    assert readers == {"NotifyFunction", "ApiFunction"}
    for lid in readers:
        assert _actions_on(template, f"{lid}Role", "LinkSigningKey") == {"secretsmanager:GetSecretValue"}


def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    # Without a LoggingConfig log group, Lambda creates /aws/lambda/<name> itself, kept forever and
    # outside the stack: every function (a new one too) names a group of the template instead.
    functions = resources_of(template, "AWS::Lambda::Function")
    groups = resources_of(template, "AWS::Logs::LogGroup")
    assert functions
    named = {}
    for lid, function in functions.items():
        reference = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
        how = "give it an AWS::Logs::LogGroup with RetentionInDays and `LoggingConfig: LogGroup: !Ref` it"
        assert reference.get("Ref") in groups, f"{lid}: {how}"
        named[lid] = reference["Ref"]
        group = groups[reference["Ref"]]
        assert group["Properties"]["RetentionInDays"] == 90, lid
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete", lid
    assert len(set(named.values())) == len(named), "each function has a group of its own"


def test_every_log_group_has_retention(template: dict[str, Any]) -> None:
    for lid, group in resources_of(template, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays"), lid


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_tables_keys_indexes_ttl_and_protection(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    state = resources["StateTable"]["Properties"]
    assert state["BillingMode"] == "PAY_PER_REQUEST"
    assert state["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    [gsi] = state["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert state["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert sam_template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    for lid in ("StateTable", "RosterTable"):
        props = resources[lid]["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert resources[lid]["DeletionPolicy"] == "Retain"
    idempotency = resources["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert idempotency["SSESpecification"] == {"SSEEnabled": True}


def test_bucket_is_private_encrypted_versioned_and_keeps_current_snapshots(
    sam_template: dict[str, Any],
) -> None:
    bucket = sam_template["Resources"]["SnapshotBucket"]["Properties"]
    [sse] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["changes/"]["ExpirationInDays"] == 90
    assert rules["raw/"]["ExpirationInDays"] == 30
    snapshots = rules["snapshots/"]
    assert "ExpirationInDays" not in snapshots  # the applied snapshot must stay readable
    assert snapshots["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert snapshots["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    [statement] = sam_template["Resources"]["SnapshotBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_http_api_uses_the_cognito_jwt_authorizer_except_public_routes(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    assert resources["HttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    assert "Body" not in resources["HttpApi"]["Properties"]  # routes are resources (no cycle)
    authorizer = resources_of(sam_template, "AWS::ApiGatewayV2::Authorizer")
    [(authorizer_id, properties)] = [(lid, r["Properties"]) for lid, r in authorizer.items()]
    assert properties["AuthorizerType"] == "JWT"
    assert properties["IdentitySource"] == ["$request.header.Authorization"]
    jwt = properties["JwtConfiguration"]
    assert jwt["Issuer"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"}
    assert jwt["Audience"] == [
        {"Ref": "UserPoolClient"},
        {"Fn::If": ["HasCleverSignIn", {"Ref": "CleverSignInClient"}, {"Ref": "AWS::NoValue"}]},
    ]
    integration = resources_of(sam_template, "AWS::ApiGatewayV2::Integration")
    [(integration_id, target)] = [(lid, r["Properties"]) for lid, r in integration.items()]
    assert target["IntegrationUri"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    assert target["PayloadFormatVersion"] == "2.0"
    routes = {}
    for route in resources_of(sam_template, "AWS::ApiGatewayV2::Route").values():
        route_properties = route["Properties"]
        assert route_properties["Target"] == {"Fn::Sub": f"integrations/${{{integration_id}}}"}
        if route_properties["AuthorizationType"] == "JWT":
            assert route_properties["AuthorizerId"] == {"Ref": authorizer_id}
        routes[route_properties["RouteKey"]] = route_properties["AuthorizationType"]
    assert routes == {
        "ANY /v1/{proxy+}": "JWT",
        "GET /v1/health": "NONE",
        "GET /v1/links/{token}": "NONE",
        "GET /v1/openapi.json": "NONE",
        "GET /v1/docs": "NONE",
        "GET /v1/auth-config": "NONE",
        "GET /": "NONE",
        "GET /static/{proxy+}": "NONE",
    }
    pool = resources["UserPool"]["Properties"]
    assert {a["Name"] for a in pool["Schema"]} >= {"district_id", "role"}
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == "OPTIONAL"
    client = resources["UserPoolClient"]["Properties"]
    assert not {"custom:district_id", "custom:role"} & set(client["WriteAttributes"])


def test_scoped_services_never_get_a_wildcard_resource(template: dict[str, Any]) -> None:
    for lid, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                scoped = [a for a in actions if a.startswith(SCOPED_SERVICES)]
                assert not (scoped and "*" in resources), (lid, scoped)


def test_outputs(sam_template: dict[str, Any]) -> None:
    assert set(sam_template["Outputs"]) >= {
        "ApiUrl",
        "UserPoolId",
        "UserPoolClientId",
        "EvaluateStateMachineArn",
        "ReleaseStateMachineArn",
        "SnapshotBucketName",
        "StateTableName",
        "RosterTableName",
        "IdempotencyTableName",
    }


def test_samconfig_has_dev_and_prod_environments() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for env, stack in (("default", "sis-sync-dev"), ("prod", "sis-sync-prod")):
        assert config[env]["global"]["parameters"]["stack_name"] == stack
        assert config[env]["global"]["parameters"]["region"]
        assert config[env]["build"]["parameters"]["cached"] is True
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert "confirm_changeset" in deploy
        assert f"Environment={'dev' if env == 'default' else 'prod'}" in deploy["parameter_overrides"]
        # no fake defaults: `sam deploy --guided` asks for the sender; the dashboard defaults to the API
        assert "SenderEmail" not in deploy["parameter_overrides"]
        assert "DashboardUrl" not in deploy["parameter_overrides"]
        assert "example." not in json.dumps(config[env])


# ------------------------------------------------------------------ state machines


@pytest.mark.parametrize("lid", sorted(STATE_MACHINES))
def test_definition_placeholders_match_the_template_substitutions(
    lid: str, sam_template: dict[str, Any]
) -> None:
    properties = sam_template["Resources"][lid]["Properties"]
    assert properties["DefinitionUri"] == STATE_MACHINES[lid].relative_to(REPO).as_posix()
    assert properties["Type"] == "STANDARD"
    assert properties["Tracing"] == {"Enabled": True}
    assert properties["Logging"]["Destinations"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", STATE_MACHINES[lid].read_text()))
    assert placeholders == set(properties["DefinitionSubstitutions"])


@pytest.mark.parametrize("path", sorted(STATE_MACHINES.values()), ids=lambda p: p.name)
def test_definition_passes_statelint(path: Path) -> None:
    definition = substitute_definition(path.read_text(), PLAUSIBLE_SUBSTITUTIONS)
    assert [p for p in Linter.validate(definition) if p not in STATELINT_PREDATES] == []


# statelint 3.1's schema predates the Distributed Map's ReaderConfig.InputType, which AWS requires
# to read a JSON array from S3 (docs: "ItemReader (Map)"); everything else must pass.
STATELINT_PREDATES = {
    'Field "InputType" not allowed in State Machine.States.EvaluateSchools.ItemReader.ReaderConfig',
    'Field "InputType" not allowed in State Machine.States.ReleaseSchools.ItemReader.ReaderConfig',
}


@pytest.mark.parametrize("path", sorted(STATE_MACHINES.values()), ids=lambda p: p.name)
def test_definition_is_jsonpath_with_retries_on_every_task(path: Path) -> None:
    machine = asl(path)
    assert machine.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert "{%" not in path.read_text()
    for name, state in all_states(machine):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath"
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), name
        if state["Resource"] == "arn:aws:states:::lambda:invoke":
            assert (POLL_RETRY if name == "PollDistrict" else LAMBDA_RETRY) in state["Retry"], name
            assert state["Parameters"]["FunctionName"].startswith("${"), name


def test_the_poll_machine_takes_given_orders_and_hands_each_whole_order_to_its_steps() -> None:
    # The API's and the operator's polls come as {"polls": [...]}: planning is skipped
    states = asl(STATE_MACHINES["PollStateMachine"])["States"]
    [choice] = [state for state in states.values() if state["Type"] == "Choice"]
    # IsPresent: on AWS a comparison on a missing $.polls fails the execution (moto takes Default)
    assert choice["Choices"] == [{"Variable": "$.polls", "IsPresent": True, "Next": "TakeOrders"}]
    assert choice["Default"] == "PlanPolls"
    assert states["TakeOrders"]["Next"] == states["PlanPolls"]["Next"] == "PollDistricts"
    # each step's payload is the whole order, so the API's school_ids reach poll_clever
    mapped = states["PollDistricts"]
    assert mapped["ItemSelector"] == {"order.$": "$$.Map.Item.Value"}
    inner = mapped["ItemProcessor"]["States"]
    assert inner["PollDistrict"]["Parameters"]["Payload.$"] == "$.order"
    # and a poll that crashed fails its still-running sync run and frees the lease before it ends
    [caught] = inner["PollDistrict"]["Catch"]
    assert caught["Next"] == "CloseCrashedRun"
    assert inner["CloseCrashedRun"]["Parameters"]["ConditionExpression"] == "#status = :running"
    assert inner["CloseCrashedRun"]["Next"] == "ReleaseCrashedLease"
    assert inner["ReleaseCrashedLease"]["Next"] == "PollCrashed"


def test_evaluate_maps_schools_and_routes_on_the_decision() -> None:
    machine = asl(STATE_MACHINES["EvaluateStateMachine"])
    [mapped] = [s for s in machine["States"].values() if s["Type"] == "Map"]
    # a Distributed Map over the poll's manifest in S3: any number of schools fits
    assert mapped["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert mapped["ItemReader"]["Parameters"] == {"Bucket.$": "$.manifest.bucket", "Key.$": "$.manifest.key"}
    assert mapped["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert mapped["MaxConcurrencyPath"] == "$.config.max_concurrency"
    configure = next(s for s in machine["States"].values() if s.get("ResultPath") == "$.config")
    assert configure["Parameters"] == {"max_concurrency.$": "States.StringToJson('${MapConcurrency}')"}
    assert mapped["ItemSelector"] == {
        "district_id.$": "$.district_id",
        "sync_id.$": "$.sync_id",
        "school_id.$": "$$.Map.Item.Value.school_id",
        "school.$": "$$.Map.Item.Value",
    }
    states = mapped["ItemProcessor"]["States"]
    evaluate = states[mapped["ItemProcessor"]["StartAt"]]
    assert evaluate["Parameters"] == {"FunctionName": "${EvaluateHoldsFunctionArn}", "Payload.$": "$"}
    assert evaluate["OutputPath"] == "$.Payload"
    choice = states[evaluate["Next"]]
    assert choice["Type"] == "Choice"
    assert choice["Default"] == "UnknownDecision"
    assert choice["Choices"][0] == {"Variable": "$.decision", "IsPresent": False, "Next": "UnknownDecision"}
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"] if "StringEquals" in c}
    assert set(routes) == {"hold", "apply", "unchanged"}
    # a district applying safe changes automatically gets them applied in the iteration, before the
    # sync's hold mail (which says so); a failure of that leaves the hold whole, still on hold
    should_apply_safe = states[routes["hold"]]
    assert should_apply_safe["Choices"][0] == {
        "Variable": "$.apply_safe",
        "IsPresent": False,
        "Next": "OnHold",
    }
    assert [c.get("Next") for c in should_apply_safe["Choices"]] == ["OnHold", "ApplySafeChanges"]
    assert should_apply_safe["Default"] == "OnHold"
    apply_safe = states["ApplySafeChanges"]
    assert apply_safe["Parameters"]["Payload"]["mode"] == "apply_safe"
    assert apply_safe["Parameters"]["FunctionName"] == "${ApplyChangesFunctionArn}"
    assert (apply_safe["Next"], apply_safe["Catch"][0]["Next"]) == ("OnHold", "OnHold")
    # no school mails from its iteration: one hold mail per sync, after the Map (see below)
    assert not any(
        s.get("Parameters", {}).get("FunctionName") == "${NotifyFunctionArn}" for s in states.values()
    )
    assert states[routes["apply"]]["Parameters"]["FunctionName"] == "${ApplyChangesFunctionArn}"
    assert states["UnknownDecision"]["Next"] == "RecordFailure"  # recorded; the other schools go on
    for task in ("EvaluateHolds", "ApplyChanges"):
        assert states[task]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
        ]
    record = states["RecordFailure"]
    assert record["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert record["Parameters"]["TableName"] == "${StateTableName}"
    assert record["Parameters"]["UpdateExpression"].startswith("ADD failed_schools :school")
    # a failed school ends its own iteration successfully, so the other schools keep running
    after = states[record["Next"]]
    assert states[after["Next"]]["Type"] == "Succeed"


def test_evaluate_mails_once_per_sync_after_the_map_and_after_a_failed_map() -> None:
    machine = asl(STATE_MACHINES["EvaluateStateMachine"])
    top = machine["States"]
    digest = {
        "FunctionName": "${NotifyFunctionArn}",
        "Payload": {
            "kind": "holds",
            "district_id.$": "$$.Execution.Input.district_id",
            "sync_id.$": "$$.Execution.Input.sync_id",
        },
    }
    # Given the Map of schools / Then its success goes through one NotifyHolds for the whole sync
    notify = top[top["EvaluateSchools"]["Next"]]
    assert (notify["Resource"], notify["Parameters"]) == ("arn:aws:states:::lambda:invoke", digest)
    assert notify["ResultPath"] is None  # the summary keeps the Map's results
    assert top[notify["Next"]]["Type"] == "Pass"
    assert notify["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordSyncFailure"}
    ]
    # and a Map that failed partway still mails the schools held so far, then fails with its own error
    [map_catch] = top["EvaluateSchools"]["Catch"]
    recorded = top[map_catch["Next"]]
    after = top[recorded["Next"]]
    assert after["Parameters"] == digest
    assert after["Next"] == "SyncFailed"
    assert after["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": "SyncFailed"}
    ]
    assert top["SyncFailed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_release_maps_over_the_approved_schools_and_refuses_a_stale_sync_id() -> None:
    machine = asl(STATE_MACHINES["ReleaseStateMachine"])
    states = machine["States"]
    [mapped] = [state for state in states.values() if state["Type"] == "Map"]
    # one execution per Clear holds: its schools come from the manifest, however many they are
    assert mapped["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert mapped["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert mapped["MaxConcurrencyPath"] == "$.config.max_concurrency"
    inner = mapped["ItemProcessor"]["States"]
    task = inner[mapped["ItemProcessor"]["StartAt"]]
    assert task["Parameters"]["FunctionName"] == "${ApplyChangesFunctionArn}"
    # the manifest item rides along and its `mode` alone says what apply_changes does: no constant
    # mode of the payload's own beside it
    assert task["Parameters"]["Payload"]["approval.$"] == "$.approval"
    assert mapped["ItemSelector"]["approval.$"] == "$$.Map.Item.Value"
    assert set(task["Parameters"]["Payload"]) == {
        "approval.$",
        "district_id.$",
        "sync_id.$",
        "school_id.$",
        "approved_by.$",
    }
    stale, failed = task["Catch"]
    assert stale["ErrorEquals"] == ["StalePendingSyncError"]  # the exception class apply_changes raises
    assert inner[stale["Next"]] == inner[stale["Next"]] | {"Type": "Pass", "Result": "stale"}
    # any other failure ends only that school; the release as a whole then fails, so it can be retried
    assert failed["ErrorEquals"] == ["States.ALL"]
    assert inner[failed["Next"]]["Result"] == "failed"
    assert "ArrayContains($.results, 'failed')" in json.dumps(states[mapped["Next"]])


def test_release_writes_the_approved_schools_histories_before_applying_any() -> None:
    machine = asl(STATE_MACHINES["ReleaseStateMachine"])
    states = machine["States"]
    # Given an input with a `history` (Clear holds, Apply safe changes), the first step writes it
    choice = states[machine["StartAt"]]
    [when] = choice["Choices"]
    assert (when["Variable"], when["IsPresent"]) == ("$.history", True)
    record = states[when["Next"]]
    assert record["Parameters"]["FunctionName"] == "${ApplyChangesFunctionArn}"
    assert record["Parameters"]["Payload"] == {
        "step": "record_history",  # apply_changes's step, named (ApplyChangesEvent)
        "district_id.$": "$.district_id",
        "manifest.$": "$.manifest",
        "history.$": "$.history",
    }
    assert record["ResultPath"] is None
    # a history that cannot be written is recorded beside the input and the release goes on: the
    # district audit entry already names every school, and the admin asked for the apply
    [caught] = record["Catch"]
    assert (caught["ErrorEquals"], caught["ResultPath"], caught["Next"]) == (
        ["States.ALL"],
        "$.history_error",
        "Configure",
    )
    # Then, as without one (Undo), the schools are applied after it
    assert record["Next"] == choice["Default"] == "Configure"
    assert states["Configure"]["Next"] == "ReleaseSchools"


def _actions_on(template: dict[str, Any], role: str, resource: str) -> set[str]:
    """Every action the role's inline policies allow on resources naming `resource`."""
    found: set[str] = set()
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if resource in json.dumps(statement["Resource"]):
                actions = statement["Action"]
                found.update(actions if isinstance(actions, list) else [actions])
    return found


def test_apply_changes_can_never_delete_from_the_roster(template: dict[str, Any]) -> None:
    actions = _actions_on(template, "ApplyChangesFunctionRole", "RosterTable")
    assert "dynamodb:BatchWriteItem" in actions
    assert not actions & {"dynamodb:DeleteItem", "dynamodb:*"}


S3_GRANTS = {
    "PollCleverFunctionRole": {
        ("s3:PutObject", "snapshots/*"),
        ("s3:PutObject", "manifests/*"),
        ("s3:PutObject", "pulls/*"),
        ("s3:GetObject", "pulls/*"),
    },
    "EvaluateHoldsFunctionRole": {
        ("s3:GetObject", "snapshots/*"),
        ("s3:PutObject", "changes/*"),
        ("s3:AbortMultipartUpload", "changes/*"),
        ("s3:PutObject", "changesets/*"),  # the change set, kept for the threshold preview
    },
    "ApplyChangesFunctionRole": {  # apply safe changes writes the safe part's snapshot and held CSV
        ("s3:GetObject", "snapshots/*"),
        ("s3:PutObject", "snapshots/*"),
        ("s3:PutObject", "changes/*"),
        ("s3:AbortMultipartUpload", "changes/*"),
        ("s3:GetObject", "releases/*"),  # the release's first step: the approved schools' histories
    },
    "NotifyFunctionRole": set(),
    "ApiFunctionRole": {
        ("s3:GetObject", "changes/*"),
        ("s3:GetObject", "changesets/*"),  # the threshold preview judges stored change sets
        ("s3:ListBucket", ""),  # "": the bucket itself
        ("s3:PutObject", "releases/*"),  # Clear holds' manifest of approved schools
    },
    "EvaluateStateMachineRole": {("s3:GetObject", "manifests/*")},
    "ReleaseStateMachineRole": {("s3:GetObject", "releases/*")},
}


def _snapshot_bucket_grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, key prefix) for every grant of `role` on the snapshot bucket: a PutObject on
    `changes/*` is not one on `snapshots/*`, and `*` (every key) shows as such."""
    found: set[tuple[str, str]] = set()
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                if "SnapshotBucket" not in json.dumps(resource):
                    continue
                sub = resource.get("Fn::Sub", "")
                text = sub if isinstance(sub, str) else sub[0]  # "${SnapshotBucket.Arn}/changes/*"
                prefix = text.rpartition("}")[2].removeprefix("/")
                found.update((action, prefix) for action in actions if action.startswith("s3:"))
    return found


@pytest.mark.parametrize("role", sorted(S3_GRANTS))
def test_snapshot_bucket_grants_are_per_key_prefix(template: dict[str, Any], role: str) -> None:
    assert _snapshot_bucket_grants(template, role) == S3_GRANTS[role]


def test_the_api_is_throttled_and_polls_have_reserved_concurrency(sam_template: dict[str, Any]) -> None:
    # A script hammering POST …/sync meets API Gateway's 429s; polls cannot take every Lambda slot
    [stage] = resources_of(sam_template, "AWS::ApiGatewayV2::Stage").values()
    throttling = stage["Properties"]["DefaultRouteSettings"]
    assert throttling == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    defaults = {name: p.get("Default") for name, p in sam_template["Parameters"].items()}
    assert 0 < defaults["ApiThrottlingRateLimit"] <= defaults["ApiThrottlingBurstLimit"]
    poll = sam_template["Resources"]["PollCleverFunction"]["Properties"]
    assert poll["ReservedConcurrentExecutions"] == {"Ref": "PollConcurrency"}
    assert 1 <= defaults["PollConcurrency"] <= 50


def test_the_api_never_writes_a_clever_token(template: dict[str, Any]) -> None:
    # "I fixed it" only reads the district's token; writing one is the discovery step's job
    role = template["Resources"]["ApiFunctionRole"]["Properties"]
    actions = {
        action
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert "ssm:GetParameter" in actions
    assert not {"ssm:PutParameter", "kms:Encrypt", "kms:GenerateDataKey"} & actions


@pytest.mark.parametrize("name", ["CleverApiUrl", "CleverOauthUrl", "DashboardUrl"])
def test_url_parameters_accept_only_https(sam_template: dict[str, Any], name: str) -> None:
    # Given the template's URL parameters; Then an https URL passes and an http one is refused
    pattern = sam_template["Parameters"][name]["AllowedPattern"]
    assert re.fullmatch(pattern, "https://api.example.org")
    for refused in ["http://api.example.org", "http://127.0.0.1:8000", "ftp://x", "HTTP://x"]:
        assert not re.fullmatch(pattern, refused), (name, refused)


def test_the_devstack_passes_its_http_urls_as_loopback_urls_only(sam_template: dict[str, Any]) -> None:
    from devstack.stack import _loopback, _parameter_values

    definitions = sam_template["Parameters"]
    # Given an http URL as an ordinary parameter, as CloudFormation would check it: refused
    with pytest.raises(ValueError, match="AllowedPattern"):
        _parameter_values(definitions, {"SenderEmail": "a@b.org", "DashboardUrl": "http://127.0.0.1:8000"})
    # Then the devstack's own loopback origin goes another way, and nothing else does
    assert _loopback(definitions, {"DashboardUrl": "http://127.0.0.1:8000"}) == {
        "DashboardUrl": "http://127.0.0.1:8000"
    }
    for url in ["http://evil.example", "http://127.0.0.1.evil.example", "https://127.0.0.1:8000/x"]:
        with pytest.raises(ValueError, match="loopback"):
            _loopback(definitions, {"DashboardUrl": url})
