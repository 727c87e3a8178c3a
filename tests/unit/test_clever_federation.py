"""Log in with Clever in the devstack, as Cognito federates it: the local authorization server sends
the Clever sign-in client to the (simulated) Clever login, trades Clever's code at Clever's
`POST /oauth/tokens`, reads `/userinfo`, asks the pre token generation trigger, and issues an ID
token for that client with the trigger's claims, or sends the trigger's refusal back to the
dashboard. The trigger here is a recording stand-in; the real one runs in the browser test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict, Resource, Role
from devstack.auth import JwtAuthorizer, TokenIssuer
from devstack.authorization_server import AppClient, AuthorizationServer
from devstack.federation import Federation, IdentityProvider, TriggerFailedError
from devstack.template import load_sam_template
from sis_sync.pre_token_event import Answer, PreTokenGenerationEvent
from tests.unit.test_local_sign_in import (
    CLIENT,
    DASHBOARD,
    ISSUER,
    VERIFIER,
    Clock,
    authorize_query,
    sign_in,
)

CLEVER = "http://clever.test"  # the simulator, reached in-process
CLEVER_CLIENT = AppClient(client_id="clever-client", callback_urls=(DASHBOARD,), logout_urls=(DASHBOARD,))
IDP_RESPONSE = f"{ISSUER}/oauth2/idpresponse"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REFUSAL = "Clever sign-in is for district administrators of your district."


class RecordingTrigger:
    """Answers as the real trigger would for a district admin (by the user's Clever role), refuses others."""

    def __init__(self, sim: CleverSimulator) -> None:
        self.sim = sim
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        parsed = PreTokenGenerationEvent.model_validate(event)
        [identity] = parsed.identities()
        user = self.sim.district.get(Resource.USERS, identity.user_id)
        if user is None or "district_admin" not in user.get("roles", {}):
            raise TriggerFailedError(REFUSAL)
        claims = {"custom:role": "district_admin", "custom:district_id": "d-1", "email_verified": "true"}
        return Answer(add_or_override=claims | {"email": user["email"]}).into(parsed)


@pytest.fixture
def sim() -> CleverSimulator:
    return CleverSimulator(GeneratedDistrict(seed=11, schools=1, students=40, district_admins=1))


@pytest.fixture
def trigger(sim: CleverSimulator) -> RecordingTrigger:
    return RecordingTrigger(sim)


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(ISSUER, CLIENT.client_id, clock=Clock())


@pytest.fixture
def server(sim: CleverSimulator, trigger: RecordingTrigger, issuer: TokenIssuer) -> Any:
    mapping = load_sam_template(TEMPLATE)["Resources"]["CleverIdentityProvider"]["Properties"]
    client_id, client_secret = sim.client_credentials
    provider = IdentityProvider(
        name="Clever",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=f"{CLEVER}/oauth/authorize",
        token_url=f"{CLEVER}/oauth/tokens",
        attributes_url=f"{CLEVER}/userinfo",
        scopes="openid",
        attribute_mapping=mapping["AttributeMapping"],  # the template's own
    )
    federation = Federation(
        provider=provider,
        client=CLEVER_CLIENT,
        read_attributes=("email", "email_verified", "custom:district_id", "custom:role"),
        user_pool_id="us-east-1_local",
        region="us-east-1",
        trigger=trigger,
        http=lambda: httpx.Client(transport=httpx.WSGITransport(app=sim.app)),
    )
    app = AuthorizationServer(CLIENT, issuer, lambda _: "demo", federation=federation).app()
    return app.test_client()


def user_of(sim: CleverSimulator, role: Role) -> dict[str, Any]:
    [user] = sim.district.listing(Resource.USERS, role).page(None, 1).records
    return user


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def clever_login(server: Any, sim: CleverSimulator, user_id: str) -> dict[str, str]:
    """Log in with Clever from the authorize request to the dashboard's callback; its query."""
    # the dashboard's authorize request goes straight to Clever's login (no Hosted UI)
    query = authorize_query(client_id=CLEVER_CLIENT.client_id, identity_provider="Clever")
    to_clever = server.get("/oauth2/authorize", query_string=query)
    assert to_clever.status_code == 302
    location = to_clever.headers["Location"]
    assert location.startswith(f"{CLEVER}/oauth/authorize?")
    clever_request = query_of(location)
    assert clever_request["client_id"] == sim.client_credentials[0]
    assert clever_request["redirect_uri"] == IDP_RESPONSE
    # the user picks themselves on the simulated Clever login, which comes back with a code
    login = sim.app.test_client()
    assert "Clever simulator" in login.get("/oauth/authorize", query_string=clever_request).get_data(
        as_text=True
    )
    back = login.post("/oauth/authorize", data=clever_request | {"user_id": user_id})
    assert back.status_code == 302
    assert back.headers["Location"].startswith(IDP_RESPONSE + "?")
    answer = server.get("/oauth2/idpresponse", query_string=query_of(back.headers["Location"]))
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(DASHBOARD + "?")
    return query_of(answer.headers["Location"])


def exchange(server: Any, code: str, client_id: str = CLEVER_CLIENT.client_id) -> Any:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": DASHBOARD,
        "code_verifier": VERIFIER,
    }
    return server.post("/oauth2/token", data=form)


def test_a_clever_district_admin_gets_an_id_token_for_the_clever_client_with_the_triggers_claims(
    server: Any, sim: CleverSimulator, trigger: RecordingTrigger, issuer: TokenIssuer
) -> None:
    # Given a district admin of the simulated district
    admin = user_of(sim, Role.DISTRICT_ADMIN)

    # When they log in with Clever and the dashboard exchanges the code with the Clever client
    answer = clever_login(server, sim, admin["id"])
    assert answer["state"] == "state-1"
    tokens = exchange(server, answer["code"])

    # Then the trigger was asked with Cognito's event: Clever's identity and the mapped attributes
    [event] = trigger.events
    attributes = event["request"]["userAttributes"]
    assert json.loads(attributes["identities"])[0] | {"dateCreated": None} == {
        "userId": admin["id"],
        "providerName": "Clever",
        "providerType": "OIDC",
        "issuer": None,
        "primary": "true",
        "dateCreated": None,
    }
    assert attributes["custom:clever_user_id"] == admin["id"]
    assert attributes["custom:clever_district"] == sim.district.district_id
    assert attributes["email_verified"] == "false"
    assert (event["callerContext"]["clientId"], event["userName"]) == (
        "clever-client",
        f"Clever_{admin['id']}",
    )
    assert event["triggerSource"] == "TokenGeneration_HostedAuth"
    # and the ID token is for the Clever client, with what the trigger gave, verified as the gateway does
    assert tokens.status_code == 200, tokens.get_json()
    authorizer = JwtAuthorizer(
        ISSUER, [CLIENT.client_id, CLEVER_CLIENT.client_id], lambda _: issuer.public_key
    )
    claims = authorizer.verify(tokens.get_json()["id_token"])
    assert claims["aud"] == CLEVER_CLIENT.client_id
    assert (claims["custom:role"], claims["custom:district_id"]) == ("district_admin", "d-1")
    assert (claims["email"], claims["email_verified"]) == (admin["email"], "true")
    assert "custom:clever_user_id" not in claims  # not among the client's read attributes


def test_a_refusal_of_the_trigger_goes_back_to_the_dashboard_in_cognitos_words(
    server: Any, sim: CleverSimulator
) -> None:
    # Given a teacher (not a district admin)
    teacher = user_of(sim, Role.TEACHER)

    # When they log in with Clever
    answer = clever_login(server, sim, teacher["id"])

    # Then no code: the dashboard gets the trigger's message as Cognito words it
    assert "code" not in answer
    assert answer == {
        "error": "invalid_request",
        "error_description": f"PreTokenGeneration failed with error {REFUSAL}.",
        "state": "state-1",
    }


def test_codes_stay_with_their_client_and_the_clever_client_has_no_email_form(
    server: Any, sim: CleverSimulator
) -> None:
    # a dashboard code cannot be redeemed by the Clever client, nor a Clever one by the dashboard's
    refused = exchange(server, sign_in(server)["code"])
    assert (refused.status_code, refused.get_json()["error"]) == (400, "invalid_grant")
    code = clever_login(server, sim, user_of(sim, Role.DISTRICT_ADMIN)["id"])["code"]
    assert exchange(server, code, client_id=CLIENT.client_id).status_code == 400
    # the e-mail form signs in the dashboard client only; the dashboard client has no Clever
    login = server.post(
        "/login", data=authorize_query(client_id=CLEVER_CLIENT.client_id) | {"email": "a@b.org"}
    )
    assert login.status_code == 400
    to_clever = server.get("/oauth2/authorize", query_string=authorize_query(identity_provider="Clever"))
    assert to_clever.status_code == 400


def test_an_idp_answer_that_belongs_to_no_sign_in_is_an_error_page(server: Any) -> None:
    response = server.get("/oauth2/idpresponse", query_string={"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert "belongs to no sign-in" in response.get_data(as_text=True)


# ------------------------------------------------------------------ the simulated Clever OAuth


def clever_code(sim: CleverSimulator, redirect_uri: str = IDP_RESPONSE) -> str:
    params = {"response_type": "code", "client_id": sim.client_credentials[0], "redirect_uri": redirect_uri}
    back = sim.app.test_client().post(
        "/oauth/authorize", data=params | {"user_id": user_of(sim, Role.TEACHER)["id"]}
    )
    return query_of(back.headers["Location"])["code"]


def redeem(
    sim: CleverSimulator, code: str, redirect_uri: str = IDP_RESPONSE, secret: str | None = None
) -> Any:
    client_id, client_secret = sim.client_credentials
    return httpx.Client(transport=httpx.WSGITransport(app=sim.app)).post(
        f"{CLEVER}/oauth/tokens",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(client_id, secret or client_secret),
    )


def test_clevers_code_is_single_use_and_bound_to_its_redirect_uri_and_client(sim: CleverSimulator) -> None:
    code = clever_code(sim)
    first = redeem(sim, code)
    assert first.status_code == 200
    userinfo = httpx.Client(transport=httpx.WSGITransport(app=sim.app)).get(
        f"{CLEVER}/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert userinfo.json()["sub"] == user_of(sim, Role.TEACHER)["id"]
    assert redeem(sim, code).json()["error"] == "invalid_grant"  # replayed
    assert redeem(sim, clever_code(sim), redirect_uri="http://elsewhere/").json()["error"] == "invalid_grant"
    assert redeem(sim, clever_code(sim), secret="wrong").status_code == 401


def test_clevers_login_page_refuses_an_unknown_client(sim: CleverSimulator) -> None:
    page = sim.app.test_client().get(
        "/oauth/authorize",
        query_string={"response_type": "code", "client_id": "nobody", "redirect_uri": IDP_RESPONSE},
    )
    assert page.status_code == 400
    assert "Location" not in page.headers
