"""The tests' IAM evaluator (tests/iam_policy.py): wildcards, NotAction/NotResource, Deny wins,
conditions, and the request mapping (tests/iam_requests.py) for S3 prefixes and DynamoDB indexes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_policy import (
    Decision,
    PolicyError,
    Request,
    Statement,
    UnmodeledConditionError,
    arn_matches,
    evaluate,
    statements_of,
)
from tests.iam_requests import UnmappedOperationError, Where, requests_for

BUCKET = "arn:aws:s3:::snap"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/State"
WHERE = Where(region="us-east-1", account="123456789012", secret_arn=lambda name: f"arn:secret:{name}-AbCdEf")


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource} | extra


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource} | extra


def decide(statements: list[dict[str, Any]], action: str, resource: str, **context: Any) -> Decision:
    return evaluate(statements_of([{"Statement": statements}]), Request(action, resource, context))


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        (f"{BUCKET}/changes/*", f"{BUCKET}/changes/d/s/x.csv", True),
        (f"{BUCKET}/changes/*", f"{BUCKET}/snapshots/d/s/x.json.gz", False),
        (f"{BUCKET}/*", f"{BUCKET}/snapshots/x", True),
        (f"{BUCKET}/*", BUCKET, False),  # objects, not the bucket
        (f"{BUCKET}/change?/*", f"{BUCKET}/changes/x", True),
        (f"{BUCKET}/change?/*", f"{BUCKET}/change/x", False),
        (TABLE, f"{TABLE}/index/gsi1", False),  # a table grant does not reach its indexes
        (f"{TABLE}/index/*", f"{TABLE}/index/gsi1", True),
        ("arn:aws:dynamodb:*:*:table/State", TABLE, True),
        ("arn:aws:dynamodb:*:123456789012:table/State", TABLE.replace("123456789012", "999999999999"), False),
        ("arn:aws:lambda:us-east-1:1:function:f*", "arn:aws:lambda:us-east-1:1:function:f:live", True),
        ("arn:aws:states:r:1:execution:m:*", "arn:aws:states:r:1:execution:m:run-1", True),
        ("arn:aws:states:r:1:execution:m:*", "arn:aws:states:r:1:execution:m2:run-1", False),
        ("arn:aws:s3:::Snap/*", f"{BUCKET}/x", False),  # resources are case-sensitive
        ("*", TABLE, True),
    ],
)
def test_resource_wildcards(pattern: str, arn: str, matches: bool) -> None:
    assert arn_matches(pattern, arn) is matches


@pytest.mark.parametrize(
    ("statements", "action", "resource", "decision"),
    [
        (
            [allow("s3:PutObject", f"{BUCKET}/changes/*")],
            "s3:PutObject",
            f"{BUCKET}/changes/a.csv",
            "allowed",
        ),
        ([allow("s3:PutObject", f"{BUCKET}/changes/*")], "s3:PutObject", f"{BUCKET}/snapshots/a", "implicit"),
        ([allow("s3:Get*", f"{BUCKET}/*")], "s3:GetObject", f"{BUCKET}/a", "allowed"),
        (
            [allow("S3:getobject", f"{BUCKET}/*")],
            "s3:GetObject",
            f"{BUCKET}/a",
            "allowed",
        ),  # actions ignore case
        ([allow("s3:Get*", f"{BUCKET}/*")], "s3:PutObject", f"{BUCKET}/a", "implicit"),
        (
            [allow("*", "*"), deny("s3:*", f"{BUCKET}/secret/*")],
            "s3:GetObject",
            f"{BUCKET}/secret/k",
            "explicit",
        ),
        (
            [deny("s3:*", f"{BUCKET}/secret/*"), allow("*", "*")],
            "s3:GetObject",
            f"{BUCKET}/open/k",
            "allowed",
        ),
        (
            [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}],
            "s3:DeleteObject",
            BUCKET,
            "implicit",
        ),
        (
            [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}],
            "s3:GetObject",
            BUCKET,
            "allowed",
        ),
        (
            [{"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/raw/*"}],
            "s3:GetObject",
            f"{BUCKET}/raw/x",
            "implicit",
        ),
        (
            [{"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/raw/*"}],
            "s3:GetObject",
            f"{BUCKET}/x",
            "allowed",
        ),
        ([allow("dynamodb:Query", TABLE)], "dynamodb:Query", f"{TABLE}/index/gsi1", "implicit"),
        (
            [allow("dynamodb:Query", [TABLE, f"{TABLE}/index/*"])],
            "dynamodb:Query",
            f"{TABLE}/index/gsi1",
            "allowed",
        ),
        ([], "s3:GetObject", f"{BUCKET}/a", "implicit"),
    ],
)
def test_allow_deny_and_wildcards(
    statements: list[dict[str, Any]], action: str, resource: str, decision: str
) -> None:
    expected = {
        "allowed": Decision.ALLOWED,
        "implicit": Decision.IMPLICIT_DENY,
        "explicit": Decision.EXPLICIT_DENY,
    }
    assert decide(statements, action, resource) is expected[decision]


SSM_KEY = allow(
    "kms:Decrypt",
    "arn:aws:kms:us-east-1:1:key/*",
    Condition={
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/aws/ssm"},
        "StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"},
    },
)
KEY = "arn:aws:kms:us-east-1:1:key/k-1"


@pytest.mark.parametrize(
    ("context", "decision"),
    [
        (
            {"kms:ViaService": "ssm.us-east-1.amazonaws.com", "kms:ResourceAliases": ("alias/aws/ssm",)},
            Decision.ALLOWED,
        ),
        ({"kms:ResourceAliases": ("alias/aws/ssm",)}, Decision.IMPLICIT_DENY),  # called directly, not via SSM
        (
            {"kms:ViaService": "ssm.us-east-1.amazonaws.com", "kms:ResourceAliases": ("alias/mine",)},
            Decision.IMPLICIT_DENY,
        ),
        ({"kms:ViaService": "ssm.us-east-1.amazonaws.com"}, Decision.IMPLICIT_DENY),  # ForAnyValue of nothing
    ],
)
def test_conditions_are_evaluated(context: dict[str, Any], decision: Decision) -> None:
    assert decide([SSM_KEY], "kms:Decrypt", KEY, **context) is decision


def test_negated_conditions_match_an_absent_key_and_if_exists_skips_it() -> None:
    not_prefix = allow("s3:ListBucket", BUCKET, Condition={"StringNotLike": {"s3:prefix": "raw/*"}})
    assert decide([not_prefix], "s3:ListBucket", BUCKET) is Decision.ALLOWED
    assert (
        decide([not_prefix], "s3:ListBucket", BUCKET, **{"s3:prefix": "raw/2026"}) is Decision.IMPLICIT_DENY
    )
    if_exists = allow("s3:ListBucket", BUCKET, Condition={"StringLikeIfExists": {"s3:prefix": "changes/*"}})
    assert decide([if_exists], "s3:ListBucket", BUCKET) is Decision.ALLOWED
    assert decide([if_exists], "s3:ListBucket", BUCKET, **{"s3:prefix": "raw/"}) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject", "*", Condition={"StringEquals": {"aws:PrincipalTag/team": "x"}}),
        allow("s3:GetObject", "*", Condition={"NumericLessThan": {"s3:prefix": "1"}}),
        allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"),
    ],
)
def test_what_cannot_be_judged_is_refused_not_guessed(statement: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        decide([statement], "s3:GetObject", "arn:aws:s3:::b/k")


def test_an_unmodeled_condition_only_matters_when_the_statement_matches() -> None:
    statement = allow("ses:SendEmail", "*", Condition={"StringEquals": {"ses:FromAddress": "a@b.c"}})
    assert decide([statement], "s3:GetObject", f"{BUCKET}/k") is Decision.IMPLICIT_DENY
    with pytest.raises(UnmodeledConditionError):
        decide([statement], "ses:SendEmail", "arn:aws:ses:us-east-1:1:identity/b.c")


def test_a_statement_with_unknown_fields_is_refused() -> None:
    with pytest.raises(PolicyError):
        Statement.parse({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"})


# ------------------------------------------------------------------ request mapping


def actions(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
    return [(r.action, r.resource) for r in requests_for(service, operation, params, WHERE)]


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "s3",
            "HeadObject",
            {"Bucket": "snap", "Key": "changes/a.csv"},
            [("s3:GetObject", f"{BUCKET}/changes/a.csv")],
        ),
        (
            "s3",
            "GetObject",
            {"Bucket": "snap", "Key": "k", "VersionId": "v1"},
            [("s3:GetObjectVersion", f"{BUCKET}/k")],
        ),
        (
            "s3",
            "UploadPart",
            {"Bucket": "snap", "Key": "changes/a.csv"},
            [("s3:PutObject", f"{BUCKET}/changes/a.csv")],
        ),
        ("s3", "ListObjectsV2", {"Bucket": "snap", "Prefix": "snapshots/"}, [("s3:ListBucket", BUCKET)]),
        (
            "s3",
            "CopyObject",
            {"Bucket": "snap", "Key": "b/k", "CopySource": "snap/a/k%20x"},
            [("s3:GetObject", f"{BUCKET}/a/k x"), ("s3:PutObject", f"{BUCKET}/b/k")],
        ),
        (
            "s3",
            "DeleteObjects",
            {"Bucket": "snap", "Delete": {"Objects": [{"Key": "raw/1"}, {"Key": "raw/2", "VersionId": "v"}]}},
            [("s3:DeleteObject", f"{BUCKET}/raw/1"), ("s3:DeleteObjectVersion", f"{BUCKET}/raw/2")],
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "State", "IndexName": "gsi1"},
            [("dynamodb:Query", f"{TABLE}/index/gsi1")],
        ),
        ("dynamodb", "Query", {"TableName": "State"}, [("dynamodb:Query", TABLE)]),
        (
            "dynamodb",
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "State"}}, {"ConditionCheck": {"TableName": "Roster"}}]},
            [("dynamodb:PutItem", TABLE), ("dynamodb:ConditionCheckItem", TABLE.replace("State", "Roster"))],
        ),
        ("dynamodb", "BatchWriteItem", {"RequestItems": {"State": []}}, [("dynamodb:BatchWriteItem", TABLE)]),
        (
            "ssm",
            "GetParameter",
            {"Name": "/sis-sync/s/clever-tokens/d-1"},
            [
                (
                    "ssm:GetParameter",
                    "arn:aws:ssm:us-east-1:123456789012:parameter/sis-sync/s/clever-tokens/d-1",
                )
            ],
        ),
        (
            "secretsmanager",
            "GetSecretValue",
            {"SecretId": "link-key"},
            [("secretsmanager:GetSecretValue", "arn:secret:link-key-AbCdEf")],
        ),
        (
            "stepfunctions",
            "DescribeExecution",
            {"executionArn": "arn:aws:states:us-east-1:1:execution:m:e"},
            [("states:DescribeExecution", "arn:aws:states:us-east-1:1:execution:m:e")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": "notify", "InvocationType": "Event"},
            [("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:notify")],
        ),
        (
            "sesv2",
            "SendEmail",
            {"FromEmailAddress": "Sync <sync@example.org>"},
            [
                ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/sync@example.org"),
                ("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/example.org"),
            ],
        ),
        ("sts", "GetCallerIdentity", {}, []),
    ],
)
def test_calls_map_to_actions_on_resources(
    service: str, operation: str, params: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert actions(service, operation, **params) == expected


def test_list_bucket_carries_its_prefix_for_conditions() -> None:
    [request] = requests_for("s3", "ListObjectsV2", {"Bucket": "snap", "Prefix": "changes/"}, WHERE)
    assert request.context["s3:prefix"] == "changes/"


@pytest.mark.parametrize(
    ("service", "operation"),
    [("s3", "PutBucketPolicy"), ("dynamodb", "DeleteTable"), ("ec2", "RunInstances")],
)
def test_an_unmapped_operation_fails_loudly(service: str, operation: str) -> None:
    with pytest.raises(UnmappedOperationError):
        requests_for(service, operation, {"Bucket": "snap", "TableName": "State"}, WHERE)
