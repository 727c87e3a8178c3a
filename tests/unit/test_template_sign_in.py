"""template.yaml's sign-in and API wiring, offline: no circular reference, a public PKCE client whose
callback is the dashboard URL (the API's own unless given), a valid Hosted UI domain prefix."""

from __future__ import annotations

import graphlib
import re
from typing import Any

import pytest

from devstack.template import Resolver

STACK_ID = (
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/SIS-Sync-Prod/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
)
API_URL = "https://api123.execute-api.eu-west-1.amazonaws.com"
# Cognito: lower-case letters, digits and hyphens, 1-63, not starting or ending with a hyphen, and
# none of the reserved words
DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")


def _references(value: Any) -> set[str]:
    """Logical ids and parameters a property value names (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add((argument if isinstance(argument, str) else argument[0]).split(".")[0])
            elif key == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                found |= {name.split(".")[0] for name in _SUB_NAME.findall(text)}
                found |= _references(argument)
            else:
                found |= _references(argument)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def dependency_graph(template: dict[str, Any]) -> dict[str, set[str]]:
    resources = template["Resources"]
    graph: dict[str, set[str]] = {}
    for lid, resource in resources.items():
        depends = resource.get("DependsOn", [])
        named = _references(resource.get("Properties", {})) | set(
            [depends] if isinstance(depends, str) else depends
        )
        graph[lid] = {name for name in named if name in resources}
    return graph


def resolver(dashboard_url: str, clever_client_id: str = "") -> Resolver:
    refs = {
        "AWS::Region": "eu-west-1",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": STACK_ID,
        "AWS::StackName": "SIS-Sync-Prod",
        "DashboardUrl": dashboard_url,
        "HttpApi": "api123",
        "UserPoolDomain": "sis-sync-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "UserPoolClient": "client123",
        "UserPool": "eu-west-1_pool",
        "CleverClientId": clever_client_id,
        "CleverSignInClient": "clever-client123",
    }
    conditions = {
        "HasDashboardUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DashboardUrl"}, ""]}]},
        "HasCleverSignIn": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CleverClientId"}, ""]}]},
    }
    return Resolver(refs, {}, conditions)


def test_the_transformed_template_has_no_circular_reference(template: dict[str, Any]) -> None:
    # Given every function naming the API's URL, and the client naming it as its callback
    graph = dependency_graph(template)
    assert "HttpApi" in graph["UserPoolClient"]
    assert "HttpApi" in graph["ApiFunction"]
    # When CloudFormation orders the resources / Then it can (a cycle would raise CycleError)
    order = list(graphlib.TopologicalSorter(graph).static_order())
    assert order.index("ApiFunction") < order.index("ApiIntegration")
    assert graph["HttpApi"] == set()  # the API names nothing: anything may name it


def test_the_cycle_check_catches_a_cycle() -> None:
    # (the check above cannot pass vacuously) SAM's HttpApi writes its integration into the API's body
    looped = {
        "Resources": {
            "HttpApi": {"Properties": {"Body": {"Fn::Sub": "${ApiFunction.Arn}/invocations"}}},
            "ApiFunction": {"Properties": {"Environment": {"Fn::Sub": "https://${HttpApi}.example"}}},
        }
    }
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(dependency_graph(looped)).static_order())


def test_the_app_client_is_public_code_with_pkce_and_cannot_write_the_email(
    sam_template: dict[str, Any],
) -> None:
    client = sam_template["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False  # PKCE instead of a secret the browser cannot keep
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["WriteAttributes"]  # an absent list would make every standard attribute writable
    assert not {"email", "email_verified", "custom:district_id", "custom:role"} & set(
        client["WriteAttributes"]
    )
    assert {"email", "email_verified"} <= set(client["ReadAttributes"])


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", API_URL), ("https://sis-sync.district.example", "https://sis-sync.district.example")],
)
def test_the_dashboard_url_defaults_to_the_apis_own_and_is_the_callback_and_logout_url(
    sam_template: dict[str, Any], given: str, expected: str
) -> None:
    resolve = resolver(given).resolve
    parameter = sam_template["Parameters"]["DashboardUrl"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], given)
    assert not re.fullmatch(parameter["AllowedPattern"], "https://trailing.example/")
    client = sam_template["Resources"]["UserPoolClient"]["Properties"]
    assert (
        resolve(sam_template["Globals"]["Function"]["Environment"]["Variables"]["DASHBOARD_URL"]) == expected
    )
    assert resolve(client["CallbackURLs"]) == [expected + "/"]  # the dashboard's own redirect_uri
    assert resolve(client["LogoutURLs"]) == [expected + "/"]


def test_the_hosted_ui_domain_prefix_is_valid_whatever_the_stack_name(sam_template: dict[str, Any]) -> None:
    domain = sam_template["Resources"]["UserPoolDomain"]["Properties"]
    prefix = resolver("").resolve(domain["Domain"])
    assert DOMAIN_PREFIX.match(prefix), prefix  # a stack named SIS-Sync-Prod still gives lower case
    assert not re.search("aws|amazon|cognito", prefix)
    assert domain["UserPoolId"] == {"Ref": "UserPool"}


def test_the_api_function_is_told_the_hosted_ui_endpoints(sam_template: dict[str, Any]) -> None:
    variables = sam_template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    resolved = {
        name: resolver("").resolve(value) for name, value in variables.items() if name.startswith("AUTH_")
    }
    hosted_ui = "https://sis-sync-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b.auth.eu-west-1.amazoncognito.com"
    assert resolved == {
        "AUTH_AUTHORIZE_URL": f"{hosted_ui}/oauth2/authorize",
        "AUTH_TOKEN_URL": f"{hosted_ui}/oauth2/token",
        "AUTH_LOGOUT_URL": f"{hosted_ui}/logout",
        "AUTH_CLIENT_ID": "client123",
        "AUTH_SCOPES": "openid email profile",
        "AUTH_CLEVER_CLIENT_ID": "",  # no Clever app: no Log in with Clever
    }
    # with a Clever app, the dashboard learns the Clever sign-in client (GET /v1/auth-config)
    clever = resolver("", clever_client_id="clever-app").resolve(variables["AUTH_CLEVER_CLIENT_ID"])
    assert clever == "clever-client123"
    # a user pool trigger must not depend on its pool: the pool's names stay off the Globals
    assert not any(
        "UserPool" in str(v) for v in sam_template["Globals"]["Function"]["Environment"]["Variables"].values()
    )
