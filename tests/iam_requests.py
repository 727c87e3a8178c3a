"""What IAM authorizes for one botocore call: its operation and parameters as IAM action(s) on
resource ARN(s), the way the AWS service authorization reference lists them.

`requests_for` knows the services the functions use, operation by operation; anything else raises
`UnmappedOperationError`, so a new call cannot skip the check silently. A few operations need no
permission at all (`sts:GetCallerIdentity`): they map to no request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote

from tests.iam_policy import ContextValue, Request


class UnmappedOperationError(LookupError):
    """A botocore operation the guard does not know how to authorize: map it in tests/iam_requests.py."""


@dataclass(frozen=True)
class Where:
    """The caller's account and region, and how to find a secret's full ARN from its name."""

    region: str
    account: str
    secret_arn: Callable[[str], str]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


Mapper = Callable[[str, Mapping[str, Any], Where], list[Request]]


def requests_for(service: str, operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    """The IAM requests behind `service`'s `operation` (botocore names: "s3", "PutObject")."""
    mapper = _MAPPERS.get(service)
    if mapper is None:
        raise UnmappedOperationError(f"{service}.{operation}: service not mapped")
    return mapper(operation, params, where)


def _unmapped(service: str, operation: str) -> UnmappedOperationError:
    return UnmappedOperationError(f"{service}.{operation}: operation not mapped")


def _request(action: str, resource: str, where: Where, **context: ContextValue) -> Request:
    return Request(
        action, resource, {"aws:SecureTransport": "true", "aws:RequestedRegion": where.region} | context
    )


# ------------------------------------------------------------------ S3

_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
}
_S3_VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _s3(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in _S3_BUCKET_ACTIONS:
        prefix = {"s3:prefix": str(params["Prefix"])} if "Prefix" in params else {}
        return [_request(_S3_BUCKET_ACTIONS[operation], bucket_arn(params["Bucket"]), where, **prefix)]
    if operation in {"CopyObject", "UploadPartCopy"}:
        source_bucket, source_key, source_version = _copy_source(params["CopySource"])
        read = "s3:GetObjectVersion" if source_version else "s3:GetObject"
        return [
            _request(read, object_arn(source_bucket, source_key), where),
            _request("s3:PutObject", object_arn(params["Bucket"], params["Key"]), where),
        ]
    if operation == "DeleteObjects":
        return [
            _request(
                "s3:DeleteObjectVersion" if "VersionId" in item else "s3:DeleteObject",
                object_arn(params["Bucket"], item["Key"]),
                where,
            )
            for item in params["Delete"]["Objects"]
        ]
    if operation in _S3_OBJECT_ACTIONS:
        action = _S3_OBJECT_ACTIONS[operation]
        if params.get("VersionId"):
            action = _S3_VERSION_ACTIONS.get(action, action)
        return [_request(action, object_arn(params["Bucket"], params["Key"]), where)]
    raise _unmapped("s3", operation)


def _copy_source(source: str | Mapping[str, str]) -> tuple[str, str, str | None]:
    if not isinstance(source, str):
        return source["Bucket"], source["Key"], source.get("VersionId")
    path, _, query = source.lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    return bucket, unquote(key), query or None


# ------------------------------------------------------------------ DynamoDB

_DYNAMODB_TABLE_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "DescribeTable",
    "DescribeTimeToLive",
    "DescribeContinuousBackups",
}
_TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def table_arn(name_or_arn: str, where: Where, index: str | None = None) -> str:
    arn = name_or_arn if name_or_arn.startswith("arn:") else where.arn("dynamodb", f"table/{name_or_arn}")
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in _DYNAMODB_TABLE_OPERATIONS:
        index = params.get("IndexName") if operation in {"Query", "Scan"} else None
        return [_request(f"dynamodb:{operation}", table_arn(params["TableName"], where, index), where)]
    if operation in {"BatchWriteItem", "BatchGetItem"}:
        return [_request(f"dynamodb:{operation}", table_arn(t, where), where) for t in params["RequestItems"]]
    if operation == "TransactWriteItems":
        return [
            _request(_TRANSACT_WRITE_ACTIONS[kind], table_arn(body["TableName"], where), where)
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [
            _request("dynamodb:GetItem", table_arn(item["Get"]["TableName"], where), where)
            for item in params["TransactItems"]
        ]
    raise _unmapped("dynamodb", operation)


# ------------------------------------------------------------------ SSM


def parameter_arn(name: str, where: Where) -> str:
    """`/a/b` -> arn:…:parameter/a/b (a `:version` or `:label` selector is not part of the ARN)."""
    if name.startswith("arn:"):
        return name
    base = name.split(":", 1)[0]
    return where.arn("ssm", "parameter" + (base if base.startswith("/") else "/" + base))


_SSM_ONE = {
    "GetParameter": "Name",
    "PutParameter": "Name",
    "DeleteParameter": "Name",
    "GetParameterHistory": "Name",
    "LabelParameterVersion": "Name",
    "GetParametersByPath": "Path",
}


def _ssm(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    # A SecureString under the AWS-managed key (alias/aws/ssm) is decrypted by SSM through KMS; that
    # key's policy lets every principal of the account use it via SSM, so no kms:Decrypt is checked.
    if operation in _SSM_ONE:
        return [_request(f"ssm:{operation}", parameter_arn(params[_SSM_ONE[operation]], where), where)]
    if operation in {"GetParameters", "DeleteParameters"}:
        return [_request(f"ssm:{operation}", parameter_arn(n, where), where) for n in params["Names"]]
    if operation == "DescribeParameters":
        return [_request("ssm:DescribeParameters", "*", where)]
    raise _unmapped("ssm", operation)


# ------------------------------------------------------------------ Secrets Manager

_SECRET_OPERATIONS = {
    "GetSecretValue",
    "PutSecretValue",
    "DescribeSecret",
    "UpdateSecret",
    "RotateSecret",
    "DeleteSecret",
    "GetResourcePolicy",
}


def _secretsmanager(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in _SECRET_OPERATIONS:
        return [_request(f"secretsmanager:{operation}", where.secret_arn(params["SecretId"]), where)]
    if operation == "BatchGetSecretValue" and "SecretIdList" in params:
        return [
            _request("secretsmanager:GetSecretValue", where.secret_arn(s), where)
            for s in params["SecretIdList"]
        ]
    if operation in {"ListSecrets", "GetRandomPassword", "BatchGetSecretValue"}:
        return [_request(f"secretsmanager:{operation}", "*", where)]
    raise _unmapped("secretsmanager", operation)


# ------------------------------------------------------------------ Step Functions

_SFN_ARN_PARAMETER = {
    "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn",
    "ListExecutions": "stateMachineArn",
    "DescribeStateMachine": "stateMachineArn",
    "DescribeExecution": "executionArn",
    "StopExecution": "executionArn",
    "GetExecutionHistory": "executionArn",
    "RedriveExecution": "executionArn",
    "DescribeStateMachineForExecution": "executionArn",
}


def _stepfunctions(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in _SFN_ARN_PARAMETER:
        return [_request(f"states:{operation}", str(params[_SFN_ARN_PARAMETER[operation]]), where)]
    if operation == "ListStateMachines":
        return [_request("states:ListStateMachines", "*", where)]
    raise _unmapped("stepfunctions", operation)


# ------------------------------------------------------------------ Lambda

_LAMBDA_ACTIONS = {
    "Invoke": "lambda:InvokeFunction",
    "InvokeAsync": "lambda:InvokeFunction",
    "InvokeWithResponseStream": "lambda:InvokeFunction",
    "GetFunction": "lambda:GetFunction",
    "GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
}


def function_arn(name: str, where: Where, qualifier: str | None = None) -> str:
    """A name, `name:qualifier`, `account:function:name` or a full ARN -> the function ARN."""
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:
        arn = f"arn:aws:lambda:{where.region}:{name}"
    else:
        arn = where.arn("lambda", f"function:{name}")
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


def _lambda(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in _LAMBDA_ACTIONS:
        arn = function_arn(params["FunctionName"], where, params.get("Qualifier"))
        return [_request(_LAMBDA_ACTIONS[operation], arn, where)]
    raise _unmapped("lambda", operation)


# ------------------------------------------------------------------ SES


def identity_arns(address: str, where: Where) -> list[str]:
    """The identities SES may authorize a From address against: the address and its domain."""
    _, email = parseaddr(address)
    domain = email.rpartition("@")[2]
    return [where.arn("ses", f"identity/{email}"), where.arn("ses", f"identity/{domain}")]


def _ses_sends(action: str, sender: str, configuration_set: str | None, where: Where) -> Iterator[Request]:
    # SES checks the identity it sends as (the verified address, else its domain); both are
    # required here, which is stricter than AWS only if the role names one of them on purpose.
    for arn in identity_arns(sender, where):
        yield _request(action, arn, where)
    if configuration_set:
        yield _request(action, where.arn("ses", f"configuration-set/{configuration_set}"), where)


def _sesv2(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation == "SendEmail":
        sender = params.get("FromEmailAddressIdentityArn") or params["FromEmailAddress"]
        if sender.startswith("arn:"):
            return [_request("ses:SendEmail", sender, where)]
        return list(_ses_sends("ses:SendEmail", sender, params.get("ConfigurationSetName"), where))
    raise _unmapped("sesv2", operation)


def _ses(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation in {"SendEmail", "SendRawEmail"} and "Source" in params:
        return list(
            _ses_sends(f"ses:{operation}", params["Source"], params.get("ConfigurationSetName"), where)
        )
    raise _unmapped("ses", operation)


# ------------------------------------------------------------------ the rest


def _sts(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if operation == "GetCallerIdentity":
        return []  # needs no permission: AWS answers it even under an explicit deny
    raise _unmapped("sts", operation)


def _generic(prefix: str, operations: set[str]) -> Mapper:
    """Services whose operations the functions call only where IAM has no resource type (`*`)."""

    def mapper(operation: str, params: Mapping[str, Any], where: Where) -> list[Request]:
        if operation not in operations:
            raise _unmapped(prefix, operation)
        return [_request(f"{prefix}:{operation}", "*", where)]

    return mapper


_MAPPERS: dict[str, Mapper] = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "stepfunctions": _stepfunctions,
    "lambda": _lambda,
    "sesv2": _sesv2,
    "ses": _ses,
    "sts": _sts,
    "cloudformation": _generic("cloudformation", {"DescribeStacks", "ListStacks", "ListExports"}),
    "cloudwatch": _generic("cloudwatch", {"PutMetricData"}),
    "xray": _generic(
        "xray", {"PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets"}
    ),
}
