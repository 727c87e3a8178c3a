"""The devstack's sign-in, as the dashboard and API Gateway meet it on AWS: the local authorization
server (authorization code + PKCE, the Hosted UI's endpoints) and the local gateway's JWT authorizer
(signature through the JWKS, issuer, audience, expiry). Clocks are injected; nothing sleeps."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from devstack.auth import JwtAuthorizer, TokenIssuer
from devstack.authorization_server import SESSION_COOKIE, AppClient, AuthorizationServer
from devstack.gateway import DevHooks, create_gateway

ISSUER = "http://127.0.0.1:9001"
DASHBOARD = "http://127.0.0.1:8000/"
CLIENT = AppClient(client_id="dashboard-client", callback_urls=(DASHBOARD,), logout_urls=(DASHBOARD,))
VERIFIER = "v" * 43 + "-verifier-of-the-dashboard"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
ADMINS = {"admin@example.org": "d-123"}


class Clock:
    """The authorization server's clock; it starts at the real time because the gateway's authorizer,
    like API Gateway's, checks `exp` against the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> TokenIssuer:
    return TokenIssuer(ISSUER, CLIENT.client_id, clock=clock)


@pytest.fixture
def server(issuer: TokenIssuer, clock: Clock) -> Any:
    app = AuthorizationServer(CLIENT, issuer, lambda email: ADMINS.get(email, "demo"), clock=clock).app()
    return app.test_client()


def authorize_query(**overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT.client_id,
        "redirect_uri": DASHBOARD,
        "scope": "openid email profile",
        "state": "state-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    } | overrides


def answer_of(response: Any) -> dict[str, str]:
    """The query the authorization server sent the browser back to the dashboard with."""
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(DASHBOARD + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(server: Any, email: str = "admin@example.org") -> dict[str, str]:
    """Fill the demo form of a fresh authorize request; returns the callback's query (code, state)."""
    form = server.get("/oauth2/authorize", query_string=authorize_query())
    assert form.status_code == 200
    return answer_of(server.post("/login", data=authorize_query() | {"email": email}))


def exchange(server: Any, code: str, **overrides: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT.client_id,
        "code": code,
        "redirect_uri": DASHBOARD,
        "code_verifier": VERIFIER,
    } | overrides
    return server.post("/oauth2/token", data=form, headers={"Origin": "http://127.0.0.1:8000"})


def authorizer_for(server: Any) -> JwtAuthorizer:
    """The gateway's authorizer, its keys read from the server's published JWKS."""

    def signing_key(token: str) -> Any:
        keys = jwt.PyJWKSet.from_dict(server.get("/.well-known/jwks.json").get_json())
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid not in [key.key_id for key in keys.keys]:
            raise jwt.PyJWKClientError(f"no key {kid}")  # what PyJWKClient raises
        return keys[kid].key

    return JwtAuthorizer(ISSUER, CLIENT.client_id, signing_key)


# ------------------------------------------------------------------ the authorization server


def test_the_code_flow_with_pkce_gives_a_signed_id_token_for_the_admins_district(
    server: Any, clock: Clock
) -> None:
    # Given the demo sign-in form of an authorize request
    form = server.get("/oauth2/authorize", query_string=authorize_query())
    assert "demo sign-in" in form.get_data(as_text=True)

    # When the admin signs in and the dashboard exchanges the code with its verifier
    answer = answer_of(server.post("/login", data=authorize_query() | {"email": "admin@example.org"}))
    response = exchange(server, answer["code"])

    # Then the state came back unchanged, and the ID token says who, verified, for which district
    assert answer["state"] == "state-1"
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    claims = authorizer_for(server).verify(response.get_json()["id_token"])
    assert {k: claims[k] for k in ("email", "email_verified", "custom:role", "custom:district_id")} == {
        "email": "admin@example.org",
        "email_verified": True,
        "custom:role": "district_admin",
        "custom:district_id": "d-123",
    }
    assert (claims["token_use"], claims["aud"], claims["iss"]) == ("id", CLIENT.client_id, ISSUER)
    assert claims["exp"] == int((clock.now + timedelta(hours=1)).timestamp())


def test_a_second_authorize_in_the_same_browser_needs_no_prompt(server: Any) -> None:
    sign_in(server)  # sets the session cookie

    again = server.get("/oauth2/authorize", query_string=authorize_query(state="state-2"))

    answer = answer_of(again)
    assert answer["state"] == "state-2"
    assert exchange(server, answer["code"]).status_code == 200


def test_a_replayed_code_is_refused(server: Any) -> None:
    code = sign_in(server)["code"]
    assert exchange(server, code).status_code == 200

    replayed = exchange(server, code)

    assert replayed.status_code == 400
    assert replayed.get_json() == {
        "error": "invalid_grant",
        "error_description": "the code is not valid or has already been used",
    }


def test_an_expired_code_is_refused(server: Any, clock: Clock) -> None:
    code = sign_in(server)["code"]
    clock.now += timedelta(minutes=5)

    expired = exchange(server, code)

    assert (expired.status_code, expired.get_json()["error_description"]) == (400, "the code has expired")


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"code_verifier": "w" * 64}, "the code_verifier does not match the code_challenge"),
        ({"code_verifier": ""}, "the code_verifier does not match the code_challenge"),
        (
            {"redirect_uri": "http://127.0.0.1:8000/other"},
            "redirect_uri differs from the authorize request's",
        ),
    ],
)
def test_a_code_redeemed_with_the_wrong_verifier_or_callback_is_refused_and_spent(
    server: Any, overrides: dict[str, str], description: str
) -> None:
    code = sign_in(server)["code"]

    refused = exchange(server, code, **overrides)

    assert (refused.status_code, refused.get_json()["error_description"]) == (400, description)
    assert exchange(server, code).status_code == 400  # a refused code cannot be retried


def test_another_client_cannot_redeem_the_code(server: Any) -> None:
    refused = exchange(server, sign_in(server)["code"], client_id="someone-else")
    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    "overrides", [{"redirect_uri": "https://evil.example/"}, {"client_id": "someone-else"}]
)
def test_an_unregistered_callback_or_client_gets_an_error_page_not_a_redirect(
    server: Any, overrides: dict[str, str]
) -> None:
    response = server.get("/oauth2/authorize", query_string=authorize_query(**overrides))
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
    ],
)
def test_an_authorize_request_without_pkce_s256_goes_back_with_an_error(
    server: Any, overrides: dict[str, str], error: str
) -> None:
    answer = answer_of(server.get("/oauth2/authorize", query_string=authorize_query(**overrides)))
    assert (answer["error"], answer["state"]) == (error, "state-1")


def test_logout_ends_the_session_and_returns_only_to_a_registered_address(server: Any) -> None:
    sign_in(server)
    query = {"client_id": CLIENT.client_id}
    assert (
        server.get("/logout", query_string=query | {"logout_uri": "https://evil.example/"}).status_code == 400
    )

    response = server.get("/logout", query_string=query | {"logout_uri": DASHBOARD})

    assert (response.status_code, response.headers["Location"]) == (302, DASHBOARD)
    assert server.get_cookie(SESSION_COOKIE) is None
    prompt = server.get("/oauth2/authorize", query_string=authorize_query())
    assert prompt.status_code == 200  # the form again


def test_the_discovery_document_names_the_endpoints_and_the_jwks(server: Any) -> None:
    document = server.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert document["code_challenge_methods_supported"] == ["S256"]
    [key] = server.get("/.well-known/jwks.json").get_json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key  # the public half only


# ------------------------------------------------------------------ the local gateway's authorizer


@pytest.fixture
def gateway(server: Any, issuer: TokenIssuer) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    seen: list[dict[str, Any]] = []
    district = {"now": "demo"}

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    hooks = DevHooks(
        district_of=lambda email: district["now"], outbox=list, tick=dict, scenario=None, panel=str
    )
    client = create_gateway(api, authorizer_for(server), issuer, hooks).test_client()
    return client, seen, district


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_id_token_reaches_the_api_with_its_claims_as_strings(server: Any, gateway: Any) -> None:
    client, seen, _ = gateway
    token = exchange(server, sign_in(server)["code"]).get_json()["id_token"]

    assert client.get("/v1/me", headers=bearer(token)).status_code == 200

    claims = seen[0]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["email"], claims["email_verified"], claims["custom:district_id"]) == (
        "admin@example.org",
        "true",  # as API Gateway passes a boolean claim
        "d-123",
    )


def _reissued(issuer: TokenIssuer, **changes: Any) -> str:
    """A token signed with the server's own key, but with other claims."""
    claims = jwt.decode(issuer.issue("admin@example.org", "d-123"), options={"verify_signature": False})
    return jwt.encode(claims | changes, issuer._key, algorithm="RS256", headers={"kid": issuer.key_id})


@pytest.mark.parametrize(
    ("token_of", "message"),
    [
        (
            lambda i: _reissued(i, iss="https://cognito-idp.us-east-1.amazonaws.com/other"),
            "another sign-in service",
        ),
        (lambda i: _reissued(i, aud="another-client"), "another application"),
        (lambda i: _reissued(i, exp=1), "has expired"),
        (lambda i: TokenIssuer(ISSUER, CLIENT.client_id).issue("admin@example.org", "d-123"), "signature"),
        (lambda i: "not.a.jwt", "not valid"),
    ],
    ids=["another-issuer", "another-audience", "expired", "another-key", "garbage"],
)
def test_a_token_the_jwt_authorizer_would_refuse_is_401_with_the_reason(
    gateway: Any, issuer: TokenIssuer, token_of: Any, message: str
) -> None:
    client, seen, _ = gateway

    response = client.get("/v1/districts/d-123", headers=bearer(token_of(issuer)))

    assert response.status_code == 401
    assert message in response.get_json()["error"]["message"]
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert seen == []  # the function never ran


def test_no_token_is_401_but_public_routes_pass_without_claims(gateway: Any) -> None:
    client, seen, _ = gateway
    assert client.get("/v1/me").get_json()["error"]["message"] == "sign in first"
    assert client.get("/v1/auth-config").status_code == 200
    assert "authorizer" not in seen[0]["requestContext"]


def test_dev_token_asks_for_the_district_when_the_token_is_made(gateway: Any, server: Any) -> None:
    # Given the devstack's district changes after the gateway started (onboarding a Clever district)
    client, _, district = gateway
    district["now"] = "d-5f0c"

    # When a test asks for a token (one unverified, too)
    token = client.post("/dev/token", json={"email": "admin@example.org"}).get_json()["token"]
    unverified = client.post("/dev/token", json={"email": "x@example.org", "email_verified": False})

    # Then it names the district as it is now, and is signed like the server's own tokens
    claims = authorizer_for(server).verify(token)
    assert claims["custom:district_id"] == "d-5f0c"
    assert authorizer_for(server).verify(unverified.get_json()["token"])["email_verified"] is False
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "RS256"
