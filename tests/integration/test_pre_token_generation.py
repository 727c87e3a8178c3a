"""Log in with Clever: the pre token generation function (invoked as Cognito invokes it, under its
own role) against the Clever simulator and an onboarded district in moto.

Each sign-in event is built the way Cognito builds it, from what Clever answers for the user's SSO
token (`/v3.0/me` for the id and district, `/userinfo` for the mapped attributes)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict, Resource
from devstack.lambdas import route_lambda_invokes, stack_handlers
from sis_sync.clever.client import CleverClient
from tests.onboarded import DISTRICT, TOKEN

OTHER_DISTRICT_TOKEN = "other-district-token"

# Cognito's V1_0 trigger event (shape of the "Pre token generation" page of the Cognito developer
# guide) for a user who signed in through the Hosted UI; the attributes are filled in per test.
COGNITO_EVENT: dict[str, Any] = {
    "version": "1",
    "triggerSource": "TokenGeneration_HostedAuth",
    "region": "us-east-1",
    "userPoolId": "us-east-1_Example1",
    "userName": "",
    "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
    "request": {
        "userAttributes": {},
        "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None},
    },
    "response": {"claimsOverrideDetails": None},
}


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    """The onboarded district (a token known to the stack) and a second one that never onboarded."""
    district = GeneratedDistrict(seed=11, schools=1, students=40, district_admins=2)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    sim.add_district(GeneratedDistrict(seed=12, schools=1, students=40), OTHER_DISTRICT_TOKEN)
    with sim.serve() as base_url:
        yield sim, base_url


@pytest.fixture
def routed(stack: Any) -> Iterator[Any]:
    with route_lambda_invokes(stack_handlers(stack.function_names, stack.function_modules)):
        yield stack


def first_user(base_url: str, token: str, role: str) -> str:
    with CleverClient(base_url, token) as client:
        return next(iter(client.users(role))).id  # type: ignore[arg-type]


def clever_sign_in_event(base_url: str, user_id: str) -> dict[str, Any]:
    """What Cognito sends after the user signed in with Clever: the mapped attributes from Clever's
    answers for the user's SSO token, and the `identities` Cognito keeps for a federated user."""
    sso = httpx.post(f"{base_url}/__sim/users/{user_id}/token", json={}).json()["token"]
    headers = {"Authorization": f"Bearer {sso}"}
    me = httpx.get(f"{base_url}/v3.0/me", headers=headers).json()["data"]
    userinfo = httpx.get(f"{base_url}/userinfo", headers=headers).json()
    event = copy.deepcopy(COGNITO_EVENT)
    event["userName"] = f"Clever_{userinfo['sub']}"
    event["request"]["userAttributes"] = {
        "sub": "4f1e6a2c-0000-4000-8000-00000000c1e7",
        "cognito:user_status": "EXTERNAL_PROVIDER",
        "identities": json.dumps(
            [
                {
                    "userId": userinfo["sub"],
                    "providerName": "Clever",
                    "providerType": "OIDC",
                    "issuer": None,
                    "primary": "true",
                    "dateCreated": "1767225600000",
                }
            ]
        ),
        "email": userinfo["email"],
        "email_verified": str(userinfo["email_verified"]).lower(),
        "given_name": userinfo["given_name"],
        "family_name": userinfo["family_name"],
        "custom:clever_user_id": me["id"],
        "custom:clever_district": me["district"],
    }
    return event


def sign_in(stack: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the trigger as Cognito does; a function error comes back as {"refused": message}."""
    response = boto3.client("lambda").invoke(
        FunctionName=stack.function_names["PreTokenGenerationFunction"], Payload=json.dumps(event)
    )
    answer: dict[str, Any] = json.loads(response["Payload"].read())
    return {"refused": answer["errorMessage"]} if "FunctionError" in response else answer


def id_token_overrides(answer: dict[str, Any]) -> dict[str, str]:
    details = answer["response"]["claimsOverrideDetails"] or {}
    return dict(details.get("claimsToAddOrOverride") or {})


def test_a_clever_district_admin_of_an_onboarded_district_gets_its_tenant_claims(
    routed: Any, simulator: tuple[CleverSimulator, str]
) -> None:
    # Given a district admin of the onboarded district signed in with Clever
    sim, base_url = simulator
    admin_id = first_user(base_url, TOKEN, "district_admin")
    event = clever_sign_in_event(base_url, admin_id)
    assert event["request"]["userAttributes"]["email_verified"] == "false"  # as Clever says
    record = sim.district.get(Resource.USERS, admin_id)
    assert record is not None
    # When Cognito asks the trigger before issuing the ID token
    answer = sign_in(routed, event)
    # Then the token names our district and the admin's e-mail on the district's own record, verified
    assert id_token_overrides(answer) == {
        "custom:role": "district_admin",
        "custom:district_id": DISTRICT,
        "email": str(record["email"]).lower(),
        "email_verified": "true",
    }
    assert answer["userName"] == event["userName"]  # the rest of the event goes back as it came


def test_a_clever_teacher_is_refused(routed: Any, simulator: tuple[CleverSimulator, str]) -> None:
    # Given a teacher of the onboarded district signed in with Clever
    _, base_url = simulator
    event = clever_sign_in_event(base_url, first_user(base_url, TOKEN, "teacher"))
    # When the trigger runs
    answer = sign_in(routed, event)
    # Then no token is issued, and the teacher is told why
    assert answer == {"refused": "Clever sign-in is for district administrators of your district."}


def test_a_district_admin_of_a_district_that_never_onboarded_is_refused(
    routed: Any, simulator: tuple[CleverSimulator, str]
) -> None:
    # Given an admin of a district that authorized Clever but was never onboarded here
    _, base_url = simulator
    event = clever_sign_in_event(base_url, first_user(base_url, OTHER_DISTRICT_TOKEN, "district_admin"))
    # When the trigger runs
    answer = sign_in(routed, event)
    # Then nothing is granted
    assert answer == {"refused": "Your Clever district does not use sis-sync."}


def test_a_district_admin_is_refused_once_the_district_token_is_revoked(
    routed: Any, simulator: tuple[CleverSimulator, str]
) -> None:
    # Given a district admin of the onboarded district, whose district then revoked the app's token
    sim, base_url = simulator
    event = clever_sign_in_event(base_url, first_user(base_url, TOKEN, "district_admin"))
    sim.faults.revoke_token(TOKEN)
    # When the trigger runs
    answer = sign_in(routed, event)
    # Then the role cannot be confirmed, so nothing is granted
    assert answer == {"refused": "Your district no longer shares its Clever data with sis-sync."}


def test_a_district_admin_claiming_another_district_is_refused(
    routed: Any, simulator: tuple[CleverSimulator, str]
) -> None:
    # Given an admin of the other district whose sign-in names the onboarded district
    _, base_url = simulator
    event = clever_sign_in_event(base_url, first_user(base_url, OTHER_DISTRICT_TOKEN, "district_admin"))
    onboarded_clever_id = clever_sign_in_event(base_url, first_user(base_url, TOKEN, "teacher"))["request"][
        "userAttributes"
    ]["custom:clever_district"]
    event["request"]["userAttributes"]["custom:clever_district"] = onboarded_clever_id
    # When the trigger runs
    answer = sign_in(routed, event)
    # Then the onboarded district's own token does not know that user: nothing is granted
    assert answer == {"refused": "Clever sign-in is for district administrators of your district."}


def test_an_operator_created_user_is_left_untouched(routed: Any) -> None:
    # Given a native Cognito user whose tenant attributes an operator set
    event = copy.deepcopy(COGNITO_EVENT)
    event["userName"] = "7d2a1c3e-0000-4000-8000-000000000001"
    event["request"]["userAttributes"] = {
        "sub": "7d2a1c3e-0000-4000-8000-000000000001",
        "cognito:user_status": "CONFIRMED",
        "email": "operator@example.org",
        "email_verified": "true",
        "custom:role": "operator",
    }
    # When the trigger runs
    answer = sign_in(routed, event)
    # Then the event goes back exactly as it came: no claim added, changed or suppressed
    assert answer == event
