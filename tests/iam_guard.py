"""Least privilege, enforced in the tests: every AWS call a function makes is checked against its
own role's statements from the transformed template, and a call its role does not allow fails as on
AWS (a botocore `ClientError` AccessDenied / AccessDeniedException).

- Which function runs: `devstack.lambdas.running_function` (set around every routed handler, in
  the handler's thread) or `acting_as("PollCleverFunction")` for a test that calls domain code
  directly. Calls outside any function (test setup, reading results, moto's Step Functions
  interpreter) are not checked. Threads a function hands work to through a ThreadPoolExecutor
  (boto3's S3 transfers) run as that function, as they share its credentials on Lambda.
- What a call needs: tests/iam_requests.py (an unmapped operation fails loudly).
- Whether the role allows it: tests/iam_policy.py.
- A denial is raised into the code under test AND recorded; `IamGuard.assert_clean` (run at the
  `aws` fixture's teardown) fails the test on any recorded denial or unmapped call, because code may
  swallow the error (the poll logs "district poll crashed").
- A presigned URL makes no call, but S3 authorizes its request with the signer's role: the role
  must allow the action on that key. It is recorded (and fails the test) rather than raised, since
  on AWS the signing succeeds and the download is refused.
- S3 answers a missing key with 403 instead of 404 when the role lacks s3:ListBucket on the bucket;
  the guard does the same, so code that expects "not found" sees what AWS would send.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.iam.aws_managed_policies import aws_managed_policies_data

from devstack.lambdas import running_as, running_function
from devstack.template import Resolver
from tests.iam_policy import Decision, Request, Statement, evaluate, statements_of
from tests.iam_requests import UnmappedOperationError, Where, requests_for

# AWS-managed policies SAM attaches (basic execution, tracing): accepted only if they grant nothing
# but CloudWatch Logs and X-Ray, which the functions never call through botocore.
_MANAGED_POLICY_SERVICES = ("logs:", "xray:")
_MISSING_KEY_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

acting_as = running_as
"""`with acting_as("ApiFunction"):` — the block runs as that function (logical id or name)."""


@dataclass(frozen=True)
class FunctionRole:
    function: str
    """Logical id of the function, e.g. "PollCleverFunction"."""
    role_name: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class CheckedCall:
    function: str
    operation: str
    """`service.Operation` as botocore names it (`s3.PutObject`), or `…(presigned)`."""
    action: str
    resource: str
    decision: Decision
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        needs = f"{self.operation} needs {self.action} on {self.resource}"
        return f"{self.function}: {needs}: {self.decision.value}{note}"


def function_roles(
    template: Mapping[str, Any], resolver: Resolver, function_names: Mapping[str, str]
) -> dict[str, FunctionRole]:
    """Each Lambda function's role statements, resolved; keyed by logical id AND function name."""
    resources: Mapping[str, Any] = template["Resources"]
    roles: dict[str, FunctionRole] = {}
    for lid, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_reference = resource["Properties"]["Role"]
        if set(role_reference) != {"Fn::GetAtt"}:
            raise ValueError(f"{lid}: its Role is not a role of this template: {role_reference!r}")
        role_id = role_reference["Fn::GetAtt"][0]
        properties = resolver.resolve(resources[role_id]["Properties"])
        _check_managed_policies(role_id, properties.get("ManagedPolicyArns", []))
        if properties.get("PermissionsBoundary"):
            raise ValueError(f"{role_id}: permissions boundaries are not evaluated")
        statements = statements_of(p["PolicyDocument"] for p in properties.get("Policies", []))
        role = FunctionRole(lid, resolver.resolve({"Ref": role_id}), tuple(statements))
        roles[lid] = role
        roles[function_names[lid]] = role
    return roles


def _check_managed_policies(role_id: str, arns: list[str]) -> None:
    known = json.loads(aws_managed_policies_data)
    for arn in arns:
        name = arn.rsplit("/", 1)[-1]
        if not arn.startswith("arn:aws:iam::aws:policy/") or name not in known:
            raise ValueError(f"{role_id}: managed policy {arn} is not evaluated; put its grants inline")
        for statement in statements_of([known[name]["Document"]]):
            actions = statement.not_actions or statement.actions
            if statement.not_actions is not None or not all(
                a.startswith(_MANAGED_POLICY_SERVICES) for a in actions
            ):
                raise ValueError(f"{role_id}: managed policy {arn} grants more than logs and X-Ray")


@dataclass
class IamGuard:
    roles: dict[str, FunctionRole]
    account: str
    calls: list[CheckedCall] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the tests look at --------------------------------------------------------------------

    def denials(self) -> list[CheckedCall]:
        with self._lock:
            return [c for c in self.calls if c.decision is not Decision.ALLOWED]

    def take_denials(self) -> list[CheckedCall]:
        """The denials so far, forgotten (a test that expects some takes them before teardown)."""
        with self._lock:
            denied = [c for c in self.calls if c.decision is not Decision.ALLOWED]
            self.calls = [c for c in self.calls if c.decision is Decision.ALLOWED]
            return denied

    def assert_clean(self) -> None:
        problems = [str(c) for c in self.denials()] + [f"unmapped: {u}" for u in self.unmapped]
        assert not problems, "AWS calls the functions' roles do not allow:\n  " + "\n  ".join(problems)

    # -- checking ----------------------------------------------------------------------------------

    def role_of(self, function: str) -> FunctionRole:
        if function not in self.roles:
            raise LookupError(f"{function!r} is no Lambda function of the template")
        return self.roles[function]

    def check(
        self, role: FunctionRole, operation: str, requests: list[Request], note: str = ""
    ) -> list[CheckedCall]:
        """Record each request's decision under `role`; the denied ones."""
        checked = [
            CheckedCall(role.function, operation, r.action, r.resource, evaluate(role.statements, r), note)
            for r in requests
        ]
        with self._lock:
            self.calls.extend(checked)
        return [c for c in checked if c.decision is not Decision.ALLOWED]

    def record_unmapped(self, function: str, error: UnmappedOperationError) -> None:
        with self._lock:
            self.unmapped.append(f"{function}: {error}")

    def where(self, client: BaseClient, original: Callable[..., Any]) -> Where:
        def secret_arn(secret_id: str) -> str:
            if secret_id.startswith("arn:"):
                return secret_id
            try:  # the name's full ARN (with AWS's random suffix), looked up unchecked
                arn: str = original(client, "DescribeSecret", {"SecretId": secret_id})["ARN"]
            except ClientError:
                return f"arn:aws:secretsmanager:{client.meta.region_name}:{self.account}:secret:{secret_id}"
            return arn

        return Where(region=client.meta.region_name, account=self.account, secret_arn=secret_arn)


def access_denied(
    client: BaseClient, operation: str, role: FunctionRole, denied: CheckedCall, account: str
) -> ClientError:
    """The error AWS answers with: `AccessDenied` for query/XML services, `…Exception` for JSON ones
    (botocore's modeled class when the service has one); a HEAD answers a bare 403."""
    if operation == "HeadObject":
        code, message = "403", "Forbidden"
    else:
        protocol = client.meta.service_model.protocol
        code = "AccessDenied" if protocol in {"query", "rest-xml", "ec2"} else "AccessDeniedException"
        why = (
            "with an explicit deny in an identity-based policy"
            if denied.decision is Decision.EXPLICIT_DENY
            else f"because no identity-based policy allows the {denied.action} action"
        )
        principal = f"arn:aws:sts::{account}:assumed-role/{role.role_name}/{role.function}"
        what = f"{denied.action} on resource: {denied.resource}"
        message = f"User: {principal} is not authorized to perform: {what} {why}"
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}
    error_class: type[ClientError] = client.exceptions.from_code(code)
    return error_class(response, operation)


@contextmanager
def enforce(guard: IamGuard) -> Iterator[IamGuard]:
    """Within the block, every call made as a function is checked against its role."""
    global _installed
    original_call = BaseClient._make_api_call
    original_params = BaseClient._emit_api_params
    original_submit = concurrent.futures.ThreadPoolExecutor.submit

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        function = running_function.get()
        if function is None:
            return original_call(client, operation, params)
        role = guard.role_of(function)
        service = client.meta.service_model.service_name
        try:
            requests = requests_for(service, operation, params, guard.where(client, original_call))
        except UnmappedOperationError as error:
            guard.record_unmapped(role.function, error)
            raise
        denied = guard.check(role, f"{service}.{operation}", requests)
        if denied:
            raise access_denied(client, operation, role, denied[0], guard.account)
        try:
            return original_call(client, operation, params)
        except ClientError as error:
            if service == "s3" and operation in {"GetObject", "HeadObject"}:
                _missing_key_without_list_bucket(guard, client, role, operation, params, error)
            raise

    def emit_api_params(client: BaseClient, api_params: Any, operation_model: Any, context: Any) -> Any:
        function = running_function.get()
        if function is not None and context.get("is_presign_request"):
            role = guard.role_of(function)
            service = client.meta.service_model.service_name
            requests = requests_for(
                service, operation_model.name, api_params, guard.where(client, original_call)
            )
            guard.check(role, f"{service}.{operation_model.name}(presigned)", requests, "a presigned URL")
        return original_params(client, api_params, operation_model, context)

    def submit(executor: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return original_submit(executor, contextvars.copy_context().run, fn, *args, **kwargs)

    if _installed is not None:
        raise RuntimeError("an IAM guard is already installed")
    BaseClient._make_api_call = make_api_call
    BaseClient._emit_api_params = emit_api_params
    concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
    _installed = guard
    try:
        yield guard
    finally:
        _installed = None
        BaseClient._make_api_call = original_call
        BaseClient._emit_api_params = original_params
        concurrent.futures.ThreadPoolExecutor.submit = original_submit  # type: ignore[method-assign]


def _missing_key_without_list_bucket(
    guard: IamGuard,
    client: BaseClient,
    role: FunctionRole,
    operation: str,
    params: Mapping[str, Any],
    error: ClientError,
) -> None:
    if error.response.get("Error", {}).get("Code") not in _MISSING_KEY_CODES:
        return
    listing = requests_for("s3", "ListObjectsV2", {"Bucket": params["Bucket"]}, guard.where(client, _no_call))
    denied = guard.check(role, f"s3.{operation}", listing, "a missing key is a 403 without s3:ListBucket")
    if denied:
        raise access_denied(client, operation, role, denied[0], guard.account) from error


def _no_call(*_: Any) -> Any:
    raise AssertionError("S3 needs no secret lookup")


_installed: IamGuard | None = None


def installed() -> IamGuard:
    """The guard now enforcing (the `aws` fixture installs one per test)."""
    if _installed is None:
        raise RuntimeError("no IAM guard is installed")
    return _installed
