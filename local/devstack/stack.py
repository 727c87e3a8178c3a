"""Build the resources of template.yaml in moto (in-process `mock_aws` or a moto server).

Everything comes from the transformed template itself: table keys, indexes and TTL, bucket
configuration, IAM roles and their policies, function environments and the state machine
definitions with their DefinitionSubstitutions. Nothing here restates the schema, so tests and the
devstack cannot drift from what is deployed.

Lambda functions are created with a stub zip so their ARNs exist; `StackResources.function_names`
and `function_modules` tell the caller which handler to route each invoke to.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from devstack.template import (
    Resolver,
    artifact_path,
    load_sam_template,
    substitute_definition,
    transform_template,
)


class ClientFactory(Protocol):
    """What `create_stack` needs of a boto3 Session (the devstack may add an endpoint_url)."""

    @property
    def region_name(self) -> str | None: ...

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class StackResources:
    """Physical names of what `create_stack` built, keyed the way the template names them."""

    state_table: str
    roster_table: str
    idempotency_table: str
    bucket: str
    evaluate_arn: str
    release_arn: str
    poll_arn: str
    function_arns: dict[str, str]
    """Logical id (e.g. "PollCleverFunction") -> function ARN."""
    function_names: dict[str, str]
    """Logical id -> function name (what a Step Functions or SDK invoke names)."""
    function_modules: dict[str, str]
    """Logical id -> the handler's module and attribute, e.g. "functions.poll_clever.app.lambda_handler"."""
    function_environments: dict[str, dict[str, str]]
    """Logical id -> the function's resolved environment (template Globals merged with its own)."""
    environment: dict[str, str]
    """Union of every function's environment: what an in-process test or devstack exports."""
    secret_arns: dict[str, str]
    """Logical id (e.g. "LinkSigningKey") -> ARN of each AWS::SecretsManager::Secret."""
    token_parameter_prefix: str
    sender_email: str
    region: str
    account_id: str
    parameters: dict[str, str] = field(default_factory=dict)
    resolver: Resolver = field(default_factory=lambda: Resolver({}, {}), compare=False, repr=False)
    """What the resources were built with: resolves any of the template's intrinsics to these names
    (the tests resolve the roles' policies with it)."""


def create_stack(
    template_path: Path,
    session: ClientFactory,
    names_prefix: str = "sis-sync",
    parameters: Mapping[str, str] | None = None,
    transformed: Mapping[str, Any] | None = None,
    loopback_urls: Mapping[str, str] | None = None,
) -> StackResources:
    """Create every secret, data, IAM, log, Lambda, SES and Step Functions resource of the template.

    `parameters` override the template's Parameter defaults (required ones without a default must
    be given) and must match their AllowedPattern, as CloudFormation checks. `loopback_urls` are URL
    parameters the devstack serves itself over http on 127.0.0.1/localhost, which the template
    (https only) would refuse: only such URLs are accepted there. `transformed` skips the SAM
    transform when the caller already has it.
    """
    region = session.region_name or "us-east-1"
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:  # one client per service: creating one costs ~25 ms
        if service not in clients:
            clients[service] = session.client(service)
        return clients[service]

    template = (
        dict(transformed)
        if transformed is not None
        else transform_template(load_sam_template(template_path), region)
    )
    resources: dict[str, dict[str, Any]] = template["Resources"]
    account_id: str = client("sts").get_caller_identity()["Account"]
    parameter_values = _parameter_values(template.get("Parameters", {}), parameters or {}) | _loopback(
        template.get("Parameters", {}), loopback_urls or {}
    )
    template_dir = template_path.parent

    def of_type(kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in resources.items() if r.get("Type") == kind}

    # A secret's Ref is its ARN, whose suffix Secrets Manager picks: create the secrets first, so
    # that the roles' policies and the functions' environments name ARNs that exist.
    resolver = stack_resolver(template, names_prefix, region, account_id, parameter_values)
    secret_arns = {
        lid: _create_secret(
            client("secretsmanager"),
            resolver.resolve({"Ref": lid}),
            resolver.resolve(resource.get("Properties", {})),
        )
        for lid, resource in of_type("AWS::SecretsManager::Secret").items()
    }
    resolver = resolver.with_names(secret_arns, {})

    for lid, resource in of_type("AWS::IAM::Role").items():
        _create_role(client("iam"), resolver.resolve(resource["Properties"]), resolver.resolve({"Ref": lid}))
    for lid, resource in of_type("AWS::DynamoDB::Table").items():
        _create_table(
            client("dynamodb"), resolver.resolve({"Ref": lid}), resolver.resolve(resource["Properties"])
        )
    policies = {
        resolver.resolve(r["Properties"]["Bucket"]): resolver.resolve(r["Properties"]["PolicyDocument"])
        for r in of_type("AWS::S3::BucketPolicy").values()
    }
    for lid, resource in of_type("AWS::S3::Bucket").items():
        name = resolver.resolve({"Ref": lid})
        _create_bucket(
            client("s3"), name, resolver.resolve(resource.get("Properties", {})), region, policies.get(name)
        )
    for lid, resource in of_type("AWS::Logs::LogGroup").items():
        _create_log_group(
            client("logs"), resolver.resolve({"Ref": lid}), resolver.resolve(resource.get("Properties", {}))
        )
    # Cognito makes up its own ids: what references the pool or client from here on gets moto's.
    resolver = _create_user_pools(client("cognito-idp"), resources, resolver)

    functions: dict[str, dict[str, Any]] = {}
    for lid, resource in of_type("AWS::Lambda::Function").items():
        properties = resolver.resolve(resource["Properties"])
        functions[lid] = properties
        _create_function(client("lambda"), resolver.resolve({"Ref": lid}), properties)

    for lid, resource in of_type("AWS::StepFunctions::StateMachine").items():
        properties = resolver.resolve(resource["Properties"])
        definition = artifact_path(template_dir, properties["DefinitionS3Location"]).read_text(
            encoding="utf-8"
        )
        client("stepfunctions").create_state_machine(
            name=resolver.resolve({"Fn::GetAtt": [lid, "Name"]}),
            definition=substitute_definition(definition, properties.get("DefinitionSubstitutions", {})),
            roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"),
            tracingConfiguration={"enabled": bool(properties.get("TracingConfiguration", {}).get("Enabled"))},
        )

    environments = {lid: dict(p.get("Environment", {}).get("Variables", {})) for lid, p in functions.items()}
    environment: dict[str, str] = {}
    for variables in environments.values():
        environment.update(variables)
    sender = environment["SENDER_EMAIL"]
    client("ses").verify_email_identity(EmailAddress=sender)

    return StackResources(
        state_table=environment["STATE_TABLE"],
        roster_table=environment["ROSTER_TABLE"],
        idempotency_table=environment["IDEMPOTENCY_TABLE"],
        bucket=environment["SNAPSHOT_BUCKET"],
        evaluate_arn=resolver.resolve({"Ref": "EvaluateStateMachine"}),
        release_arn=resolver.resolve({"Ref": "ReleaseStateMachine"}),
        poll_arn=resolver.resolve({"Ref": "PollStateMachine"}),
        function_arns={lid: resolver.resolve({"Fn::GetAtt": [lid, "Arn"]}) for lid in functions},
        function_names={lid: resolver.resolve({"Ref": lid}) for lid in functions},
        function_modules={lid: _handler_module(template_dir, p) for lid, p in functions.items()},
        function_environments=environments,
        environment=environment,
        secret_arns=secret_arns,
        token_parameter_prefix=environment["TOKEN_PARAMETER_PREFIX"],
        sender_email=sender,
        region=region,
        account_id=account_id,
        parameters=parameter_values,
        resolver=resolver,
    )


# ------------------------------------------------------------------ names


def stack_resolver(
    template: Mapping[str, Any],
    names_prefix: str,
    region: str,
    account_id: str,
    parameter_values: Mapping[str, str],
) -> Resolver:
    """The resolver `create_stack` builds with: the same physical names, so anything resolved with
    it (e.g. the roles' policies the tests enforce) names exactly the resources in moto."""
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": names_prefix,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{names_prefix}/local",
    }
    known = {**pseudo, **parameter_values}
    refs, attributes = _physical_names(template["Resources"], names_prefix, region, account_id, known)
    return Resolver(refs, attributes, template.get("Conditions", {}))


def _parameter_values(definitions: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    unknown = set(overrides) - set(definitions)
    if unknown:
        raise ValueError(f"unknown template parameters: {sorted(unknown)}")
    values: dict[str, str] = {}
    for name, definition in definitions.items():
        if name in overrides:
            values[name] = str(overrides[name])
            pattern = definition.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, values[name]):
                raise ValueError(f"template parameter {name} does not match its AllowedPattern {pattern}")
        elif "Default" in definition:
            values[name] = str(definition["Default"])
        else:
            raise ValueError(f"template parameter {name} has no default: pass it in `parameters`")
    return values


_LOOPBACK_URL: Final = re.compile(r"http://(127\.0\.0\.1|localhost)(:\d+)?")


def _loopback(definitions: Mapping[str, Any], urls: Mapping[str, str]) -> dict[str, str]:
    """The devstack's own http URLs for URL parameters of the template: loopback origins only."""
    for name, url in urls.items():
        if name not in definitions:
            raise ValueError(f"unknown template parameter: {name}")
        if not _LOOPBACK_URL.fullmatch(url):
            raise ValueError(f"{name}: only an http://127.0.0.1 or http://localhost origin is a loopback URL")
    return dict(urls)


def _physical_names(
    resources: Mapping[str, Mapping[str, Any]],
    prefix: str,
    region: str,
    account: str,
    known: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """`Ref` and `Fn::GetAtt` values: readable physical names (CloudFormation adds random suffixes)."""
    refs = dict(known)
    attributes: dict[str, str] = {}
    early = Resolver(known, {})
    for lid, resource in resources.items():
        kind = resource.get("Type", "")
        properties = resource.get("Properties", {})
        name = f"{prefix}-{lid}"
        if kind == "AWS::DynamoDB::Table":
            refs[lid] = properties.get("TableName", name)
            attributes[f"{lid}.Arn"] = f"arn:aws:dynamodb:{region}:{account}:table/{refs[lid]}"
        elif kind == "AWS::S3::Bucket":
            refs[lid] = properties.get("BucketName", name.lower()[:63])
            attributes[f"{lid}.Arn"] = f"arn:aws:s3:::{refs[lid]}"
        elif kind == "AWS::Lambda::Function":
            refs[lid] = name[:64]
            attributes[f"{lid}.Arn"] = f"arn:aws:lambda:{region}:{account}:function:{refs[lid]}"
        elif kind == "AWS::StepFunctions::StateMachine":
            machine = early.resolve(properties.get("StateMachineName", name))
            refs[lid] = f"arn:aws:states:{region}:{account}:stateMachine:{machine}"
            attributes[f"{lid}.Arn"] = refs[lid]
            attributes[f"{lid}.Name"] = machine
        elif kind == "AWS::IAM::Role":
            refs[lid] = name[:64]
            attributes[f"{lid}.Arn"] = f"arn:aws:iam::{account}:role/{refs[lid]}"
        elif kind == "AWS::Logs::LogGroup":
            refs[lid] = early.resolve(properties.get("LogGroupName", f"/{prefix}/{lid}"))
            attributes[f"{lid}.Arn"] = f"arn:aws:logs:{region}:{account}:log-group:{refs[lid]}:*"
        elif kind == "AWS::Cognito::UserPool":
            refs[lid] = f"{region}_{prefix.replace('-', '')}"[:55]
            attributes[f"{lid}.Arn"] = f"arn:aws:cognito-idp:{region}:{account}:userpool/{refs[lid]}"
        elif kind == "AWS::SecretsManager::Secret":
            refs[lid] = early.resolve(properties.get("Name", name))  # its name, until it has an ARN
        elif kind == "AWS::Lambda::LayerVersion":
            refs[lid] = f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
        else:
            refs[lid] = name
    return refs, attributes


# ------------------------------------------------------------------ IAM


def _create_role(iam: Any, properties: Mapping[str, Any], name: str) -> None:
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
    )
    for policy in properties.get("Policies", []):
        # SAM policy templates omit Version (IAM then assumes 2008-10-17); moto insists on one.
        document = {"Version": "2012-10-17"} | policy["PolicyDocument"]
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
        )
    for arn in properties.get("ManagedPolicyArns", []):
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:  # moto lacks some AWS-managed policies
            continue


# ------------------------------------------------------------------ Secrets Manager, CloudWatch Logs

_RANDOM_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _create_secret(secretsmanager: Any, name: str, properties: Mapping[str, Any]) -> str:
    """The secret as CloudFormation makes it, its value generated (GenerateSecretString, by Secrets
    Manager's own generator), given (SecretString) or none yet (set after deploy). Returns its ARN."""
    known = {"Name", "Description", "KmsKeyId", "Tags", "GenerateSecretString", "SecretString"}
    _refuse_unknown("AWS::SecretsManager::Secret", properties, known)
    if {"GenerateSecretString", "SecretString"} <= set(properties):
        raise ValueError(f"secret {name}: GenerateSecretString and SecretString exclude each other")
    kwargs: dict[str, Any] = {
        k: properties[k] for k in ("Description", "KmsKeyId", "Tags") if k in properties
    }
    if "SecretString" in properties:
        kwargs["SecretString"] = properties["SecretString"]
    if "GenerateSecretString" in properties:
        kwargs["SecretString"] = _generated_secret_string(secretsmanager, properties["GenerateSecretString"])
    arn: str = secretsmanager.create_secret(Name=name, **kwargs)["ARN"]
    return arn


def _generated_secret_string(secretsmanager: Any, generate: Mapping[str, Any]) -> str:
    _refuse_unknown(
        "GenerateSecretString",
        generate,
        {*_RANDOM_PASSWORD_OPTIONS, "GenerateStringKey", "SecretStringTemplate"},
    )
    options = {k: generate[k] for k in _RANDOM_PASSWORD_OPTIONS if k in generate}
    if "PasswordLength" in options:
        options["PasswordLength"] = int(options["PasswordLength"])
    password: str = secretsmanager.get_random_password(**options)["RandomPassword"]
    if "GenerateStringKey" not in generate:
        return password
    # as CloudFormation does: the password under GenerateStringKey in the JSON SecretStringTemplate
    template = json.loads(generate.get("SecretStringTemplate", "{}"))
    return json.dumps(template | {generate["GenerateStringKey"]: password})


def _create_log_group(logs: Any, name: str, properties: Mapping[str, Any]) -> None:
    _refuse_unknown("AWS::Logs::LogGroup", properties, {"LogGroupName", "RetentionInDays"})
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in properties:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))


# ------------------------------------------------------------------ DynamoDB

_TABLE_PASSTHROUGH = (
    "TableName",
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "DeletionProtectionEnabled",
    "ProvisionedThroughput",
)
_TABLE_AFTER_CREATE = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


def _create_table(dynamodb: Any, name: str, properties: Mapping[str, Any]) -> None:
    known = {*_TABLE_PASSTHROUGH, *_TABLE_AFTER_CREATE, "SSESpecification", "StreamSpecification"}
    _refuse_unknown("AWS::DynamoDB::Table", properties, known)
    kwargs: dict[str, Any] = {k: properties[k] for k in _TABLE_PASSTHROUGH if k in properties}
    kwargs["TableName"] = name
    if "SSESpecification" in properties:
        sse = properties["SSESpecification"]
        kwargs["SSESpecification"] = {"Enabled": sse["SSEEnabled"]} | {
            k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse
        }
    if "StreamSpecification" in properties:
        view = properties["StreamSpecification"]["StreamViewType"]
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    dynamodb.create_table(**kwargs)
    if "TimeToLiveSpecification" in properties:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"]
        )
    if "PointInTimeRecoverySpecification" in properties:
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=properties["PointInTimeRecoverySpecification"]
        )


# ------------------------------------------------------------------ S3


def _create_bucket(
    s3: Any, name: str, properties: Mapping[str, Any], region: str, policy: Mapping[str, Any] | None
) -> None:
    steps: dict[str, Callable[[Any], None]] = {
        "BucketEncryption": lambda v: s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                    | ({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})
                    for r in v["ServerSideEncryptionConfiguration"]
                ]
            },
        ),
        "PublicAccessBlockConfiguration": lambda v: s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=v
        ),
        "OwnershipControls": lambda v: s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=v),
        "VersioningConfiguration": lambda v: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=v),
        "LifecycleConfiguration": lambda v: s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in v["Rules"]]}
        ),
    }
    _refuse_unknown("AWS::S3::Bucket", properties, {*steps, "BucketName"})
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    for key, step in steps.items():
        if key in properties:
            step(properties[key])
    enforceable = _enforceable_in_moto(policy) if policy is not None else None
    if enforceable and enforceable["Statement"]:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(enforceable))


def _enforceable_in_moto(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The bucket policy less its TLS-only statements: moto cannot see the transport and would
    deny every request (its policy check ignores the `aws:SecureTransport` condition)."""
    statements = [
        s
        for s in policy.get("Statement", [])
        if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))
    ]
    return dict(policy) | {"Statement": statements}


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One CloudFormation lifecycle rule in the S3 API's shape."""
    known = {
        "Id",
        "Status",
        "Prefix",
        "ExpirationInDays",
        "Transitions",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
    _refuse_unknown("LifecycleConfiguration rule", rule, known)
    api: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        }
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return api


# ------------------------------------------------------------------ Cognito

_USER_POOL_KNOWN = {
    "UserPoolName",
    "UsernameAttributes",
    "AutoVerifiedAttributes",
    "MfaConfiguration",
    "EnabledMfas",
    "DeletionProtection",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "Policies",
    "Schema",
    "LambdaConfig",
}


def _create_user_pools(
    cognito: Any, resources: Mapping[str, Mapping[str, Any]], resolver: Resolver
) -> Resolver:
    """User pools, their Hosted UI domains and app clients; returns `resolver` with their real ids."""

    def of_type(kind: str) -> dict[str, Mapping[str, Any]]:
        # a resource whose Condition is false (the Clever sign-in client without Clever) is not made
        return {
            lid: r
            for lid, r in resources.items()
            if r.get("Type") == kind and ("Condition" not in r or resolver.condition(r["Condition"]))
        }

    refs: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for lid, resource in of_type("AWS::Cognito::UserPool").items():
        properties = dict(resolver.resolve(resource.get("Properties", {})))
        _refuse_unknown("AWS::Cognito::UserPool", properties, _USER_POOL_KNOWN)
        name = properties.pop("UserPoolName", lid)
        enabled_mfas = properties.pop("EnabledMfas", [])
        pool = cognito.create_user_pool(PoolName=name, **properties)["UserPool"]
        if "SOFTWARE_TOKEN_MFA" in enabled_mfas:
            cognito.set_user_pool_mfa_config(
                UserPoolId=pool["Id"],
                SoftwareTokenMfaConfiguration={"Enabled": True},
                MfaConfiguration=properties.get("MfaConfiguration", "OFF"),
            )
        refs[lid] = pool["Id"]
        attributes[f"{lid}.Arn"] = pool["Arn"]
        provider = f"cognito-idp.{cognito.meta.region_name}.amazonaws.com/{pool['Id']}"
        attributes[f"{lid}.ProviderName"] = provider
        attributes[f"{lid}.ProviderURL"] = "https://" + attributes[f"{lid}.ProviderName"]
    resolver = resolver.with_names(refs, attributes)
    for lid, resource in of_type("AWS::Cognito::UserPoolDomain").items():
        properties = resolver.resolve(resource["Properties"])
        _refuse_unknown("AWS::Cognito::UserPoolDomain", properties, {"Domain", "UserPoolId"})
        cognito.create_user_pool_domain(Domain=properties["Domain"], UserPoolId=properties["UserPoolId"])
        refs[lid] = properties["Domain"]
    # federated providers (Log in with Clever) before the clients that name them
    for lid, resource in of_type("AWS::Cognito::UserPoolIdentityProvider").items():
        properties = resolver.resolve(resource["Properties"])
        known = {"UserPoolId", "ProviderName", "ProviderType", "ProviderDetails", "AttributeMapping"}
        _refuse_unknown("AWS::Cognito::UserPoolIdentityProvider", properties, known | {"IdpIdentifiers"})
        cognito.create_identity_provider(**properties)
        refs[lid] = properties["ProviderName"]
    for lid, resource in of_type("AWS::Cognito::UserPoolClient").items():
        # CloudFormation's properties are the CreateUserPoolClient request's own
        created = cognito.create_user_pool_client(**resolver.resolve(resource["Properties"]))
        refs[lid] = created["UserPoolClient"]["ClientId"]
    return resolver.with_names(refs, {})


# ------------------------------------------------------------------ Lambda


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _create_function(lambda_client: Any, name: str, properties: Mapping[str, Any]) -> None:
    optional = {
        key: properties[key]
        for key in ("Description", "Timeout", "MemorySize", "Architectures")
        if key in properties
    }
    if "Environment" in properties:
        optional["Environment"] = {"Variables": dict(properties["Environment"].get("Variables", {}))}
    if "TracingConfig" in properties:
        optional["TracingConfig"] = properties["TracingConfig"]
    lambda_client.create_function(
        FunctionName=name,
        Runtime=properties["Runtime"],
        Role=properties["Role"],
        Handler=properties["Handler"],
        Code={"ZipFile": _stub_zip()},
        **optional,
    )


def _handler_module(template_dir: Path, properties: Mapping[str, Any]) -> str:
    """ "functions/poll_clever/" + "app.lambda_handler" -> "functions.poll_clever.app.lambda_handler".

    The handler module keeps its package name (every function's is `app`), but the modules beside
    it are imported as Lambda imports them, top-level from the function's folder (the api's
    `routes`): such a folder must be on the import path, checked here rather than at the first
    request, since handlers are imported lazily.
    """
    folder = artifact_path(template_dir, properties["Code"])
    handler_file = properties["Handler"].partition(".")[0] + ".py"
    own = sorted(p.name for p in folder.iterdir() if p.name != handler_file and _is_module(p))
    roots = {Path(entry or ".").resolve() for entry in sys.path}
    if own and folder.resolve() not in roots:
        raise RuntimeError(f"{folder} must be on the import path: its handler imports {own} top-level")
    return ".".join([*folder.relative_to(template_dir).parts, properties["Handler"]])


def _is_module(path: Path) -> bool:
    return path.suffix == ".py" or (path / "__init__.py").is_file()


def _refuse_unknown(what: str, properties: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(properties) - known
    if unknown:
        raise ValueError(f"{what}: the moto builder does not handle {sorted(unknown)} yet")
