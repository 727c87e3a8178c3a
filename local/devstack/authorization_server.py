"""A local stand-in for the Cognito Hosted UI, with its endpoints: `/oauth2/authorize`,
`/oauth2/token`, `/logout`, `/.well-known/jwks.json` and `/.well-known/openid-configuration`.

The dashboard signs in here exactly as it does against Cognito: authorization code + PKCE (S256
only) for one public app client, whose callback and logout URLs it checks. Codes are single-use and
short-lived; a session cookie lets a second authorize (a new tab, an e-mail link) through without a
prompt. The sign-in itself is a demo: an e-mail address and no password.

With a `Federation` (Log in with Clever), a second app client signs in through the identity
provider instead (`identity_provider=Clever`), which comes back to `/oauth2/idpresponse`
(devstack.federation plays the rest of Cognito's part there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, jsonify, request

from devstack.auth import Clock, TokenIssuer, utc_now
from devstack.federation import Federation, FederationError

SESSION_COOKIE = "devstack-auth-session"
CODE_TTL = timedelta(minutes=5)  # as Cognito's authorization codes
SESSION_TTL = timedelta(hours=1)  # as the Hosted UI's session
SCOPES = frozenset({"openid", "email", "profile"})
SIGN_IN_TITLE = "Demo sign-in (local only)"  # never mistaken for a real sign-in page

DistrictOf = Callable[[str], str | None]


@dataclass(frozen=True)
class AppClient:
    """The one app client this server signs in for (the template's UserPoolClient, as built in moto)."""

    client_id: str
    callback_urls: Collection[str]
    logout_urls: Collection[str]


@dataclass(frozen=True)
class _Grant:
    email: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    expires_at: datetime
    claims: Mapping[str, Any] | None = None  # a federated sign-in's ID-token claims


@dataclass(frozen=True)
class _Session:
    email: str
    expires_at: datetime


class AuthorizationServer:
    def __init__(
        self,
        client: AppClient,
        issuer: TokenIssuer,
        district_of: DistrictOf,
        clock: Clock = utc_now,
        federation: Federation | None = None,
    ) -> None:
        self.client = client
        self.issuer = issuer
        self._district_of = district_of
        self._clock = clock
        self.federation = federation
        self._clients = {client.client_id: client} | (
            {federation.client.client_id: federation.client} if federation else {}
        )
        self._codes: dict[str, _Grant] = {}
        self._sessions: dict[str, _Session] = {}
        self._federated: dict[str, dict[str, str]] = {}  # provider `state` -> the app's authorize request
        self._lock = threading.Lock()  # the server is threaded; a code must be redeemed once only

    # -- codes and sessions ---------------------------------------------------------------------

    def _new_code(self, email: str, params: dict[str, str], claims: Mapping[str, Any] | None = None) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(
                email=email,
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                code_challenge=params["code_challenge"],
                nonce=params.get("nonce", ""),
                expires_at=self._clock() + CODE_TTL,
                claims=claims,
            )
        return code

    def _redeem(self, code: str) -> _Grant | None:
        with self._lock:
            return self._codes.pop(code, None)  # single use: gone on the first attempt, good or bad

    def _new_session(self, email: str) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session_id] = _Session(email=email, expires_at=self._clock() + SESSION_TTL)
        return session_id

    def _session_email(self, session_id: str | None) -> str | None:
        with self._lock:
            session = self._sessions.get(session_id or "")
        return session.email if session and session.expires_at > self._clock() else None

    def _end_session(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def forget_sign_ins(self) -> None:
        """No codes, sessions or Clever sign-ins under way: as when the server started."""
        with self._lock:
            self._codes.clear()
            self._sessions.clear()
            self._federated.clear()

    # -- the endpoints ---------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("devstack-authorization-server", static_folder=None)

        @app.get("/.well-known/openid-configuration")
        def openid_configuration() -> Response:
            base = self.issuer.issuer
            return jsonify(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/oauth2/authorize",
                    "token_endpoint": f"{base}/oauth2/token",
                    "end_session_endpoint": f"{base}/logout",
                    "jwks_uri": f"{base}/.well-known/jwks.json",
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code"],
                    "code_challenge_methods_supported": ["S256"],
                    "scopes_supported": sorted(SCOPES),
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                }
            )

        @app.get("/.well-known/jwks.json")
        def jwks() -> Response:
            return jsonify(self.issuer.jwks())

        @app.get("/oauth2/authorize")
        def authorize() -> Response:
            params = {k: v for k, v in request.args.items() if k in _AUTHORIZE_PARAMETERS}
            refused = self._check_authorize(params)
            if refused is not None:
                return refused
            if self.federation and params["client_id"] == self.federation.client.client_id:
                return self._to_provider(params)
            if params.get("identity_provider", "COGNITO") != "COGNITO":
                return _page(
                    "Sign-in failed", "<p>That identity provider is not enabled for this client.</p>", 400
                )
            email = self._session_email(request.cookies.get(SESSION_COOKIE))
            if email is not None:  # signed in already: no prompt
                return self._redirect_with_code(email, params)
            return _page(SIGN_IN_TITLE, _sign_in_form(params))

        @app.get("/oauth2/idpresponse")
        def idpresponse() -> Response:
            return self._from_provider(request.args.get("state", ""), request.args.get("code", ""))

        @app.post("/login")
        def login() -> Response:
            params = {k: v for k, v in request.form.items() if k in _AUTHORIZE_PARAMETERS}
            refused = self._check_authorize(params)
            if refused is not None:
                return refused
            if params["client_id"] != self.client.client_id:  # the e-mail form is the dashboard client's
                return _page("Sign-in failed", "<p>This app client signs in with its provider only.</p>", 400)
            email = request.form.get("email", "").strip()
            if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
                return _page(SIGN_IN_TITLE, _sign_in_form(params, "Type an e-mail address."), 400)
            response = self._redirect_with_code(email, params)
            response.set_cookie(
                SESSION_COOKIE,
                self._new_session(email),
                max_age=int(SESSION_TTL.total_seconds()),
                httponly=True,
                samesite="Lax",
            )
            return response

        @app.route("/oauth2/token", methods=["POST", "OPTIONS"])
        def token() -> Response:
            if request.method == "OPTIONS":
                return self._cors(Response(status=204))
            return self._cors(self._token())

        @app.get("/logout")
        def logout() -> Response:
            client_id = request.args.get("client_id", "")
            logout_uri = request.args.get("logout_uri", "")
            if client_id != self.client.client_id:
                return _page("Sign-out failed", "<p>Unknown app client.</p>", 400)
            if logout_uri not in self.client.logout_urls:
                return _page("Sign-out failed", "<p>That sign-out address is not registered.</p>", 400)
            self._end_session(request.cookies.get(SESSION_COOKIE))
            response = _redirect(logout_uri)
            response.delete_cookie(SESSION_COOKIE)
            return response

        return app

    def _check_authorize(self, params: dict[str, str]) -> Response | None:
        """None if the request may sign in. A bad client or callback gets an error page (never a
        redirect to an unregistered address); any other fault goes back to the callback."""
        client = self._clients.get(params.get("client_id", ""))
        if client is None:
            return _page("Sign-in failed", "<p>Unknown app client.</p>", 400)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.callback_urls:
            return _page("Sign-in failed", "<p>That callback address is not registered.</p>", 400)
        problem = None
        if params.get("response_type") != "code":
            problem = ("unsupported_response_type", "only the authorization code flow is supported")
        elif not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            problem = ("invalid_request", "PKCE with code_challenge_method=S256 is required")
        elif "openid" not in params.get("scope", "").split() or not set(params["scope"].split()) <= SCOPES:
            problem = ("invalid_scope", f"scopes must include openid, among {' '.join(sorted(SCOPES))}")
        if problem is None:
            return None
        return _redirect_error(params, *problem)

    def _to_provider(self, params: dict[str, str]) -> Response:
        """Log in with Clever: the federated client signs in at its provider only (Cognito skips
        its Hosted UI), which comes back to `/oauth2/idpresponse` with this request's `state`."""
        assert self.federation is not None
        if params.get("identity_provider", self.federation.provider.name) != self.federation.provider.name:
            return _page(
                "Sign-in failed", "<p>That identity provider is not enabled for this client.</p>", 400
            )
        state = secrets.token_urlsafe(24)
        with self._lock:
            self._federated[state] = params
        return _redirect(self.federation.authorize_url(self._idpresponse_url, state))

    def _from_provider(self, state: str, code: str) -> Response:
        """Back from the provider: its code becomes the user's claims (or a refusal) for the app."""
        with self._lock:
            params = self._federated.pop(state, None)  # one answer per sign-in started
        if params is None or self.federation is None:
            return _page(
                "Sign-in failed", "<p>This sign-in answer belongs to no sign-in started here.</p>", 400
            )
        if not code:
            reason = request.args.get("error_description") or "the sign-in was cancelled"
            return _redirect_error(params, "access_denied", reason)
        try:
            claims = self.federation.sign_in(code, self._idpresponse_url)
        except FederationError as refused:
            return _redirect_error(params, refused.error, refused.description)
        query = {"code": self._new_code(str(claims.get("email", "")), params, claims)} | (
            {"state": params["state"]} if "state" in params else {}
        )
        return _redirect(f"{params['redirect_uri']}?{urlencode(query)}")

    @property
    def _idpresponse_url(self) -> str:
        return f"{self.issuer.issuer}/oauth2/idpresponse"

    def _redirect_with_code(self, email: str, params: dict[str, str]) -> Response:
        query = {"code": self._new_code(email, params)} | (
            {"state": params["state"]} if "state" in params else {}
        )
        return _redirect(f"{params['redirect_uri']}?{urlencode(query)}")

    def _token(self) -> Response:
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only authorization_code is supported")
        if form.get("client_id") not in self._clients:
            return _oauth_error(401, "invalid_client", "unknown app client")
        grant = self._redeem(form.get("code", ""))
        if grant is None:
            return _oauth_error(400, "invalid_grant", "the code is not valid or has already been used")
        if grant.client_id != form.get("client_id"):
            return _oauth_error(400, "invalid_grant", "the code was issued to another app client")
        if grant.expires_at <= self._clock():
            return _oauth_error(400, "invalid_grant", "the code has expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri differs from the authorize request's")
        if not _pkce_matches(form.get("code_verifier", ""), grant.code_challenge):
            return _oauth_error(400, "invalid_grant", "the code_verifier does not match the code_challenge")
        if grant.claims is not None:  # federated: the claims the trigger left, for that client
            id_token = self.issuer.issue_claims(grant.claims, grant.client_id)
            access_token = self.issuer.issue_claims(grant.claims, grant.client_id, kind="access")
        else:
            district = self._district_of(grant.email)
            id_token = self.issuer.issue(grant.email, district)
            access_token = self.issuer.issue(grant.email, district, kind="access")
        response = jsonify(
            {
                "id_token": id_token,
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _cors(self, response: Response) -> Response:
        """The dashboard posts the code from its own origin, as to Cognito's token endpoint."""
        origin = request.headers.get("Origin", "")
        allowed = {_origin(url) for client in self._clients.values() for url in client.callback_urls}
        if origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Vary"] = "Origin"
        return response


_AUTHORIZE_PARAMETERS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "identity_provider",
)


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not 43 <= len(verifier) <= 128:  # RFC 7636 §4.1
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected, challenge)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _redirect_error(params: dict[str, str], error: str, description: str) -> Response:
    """Back to the (checked) callback with an OAuth error, as Cognito answers a refused sign-in."""
    query = {"error": error, "error_description": description} | (
        {"state": params["state"]} if "state" in params else {}
    )
    return _redirect(f"{params['redirect_uri']}?{urlencode(query)}")


def _redirect(url: str) -> Response:
    return Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


def _oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _sign_in_form(params: dict[str, str], problem: str = "") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    return (
        '<div class="notice" role="note" data-testid="demo-sign-in-notice">'
        "<p><strong>This is the demo sign-in of the local devstack (<code>make demo</code>), not a"
        " real one.</strong> There is no password: any e-mail address signs in as a district admin"
        " of the demo district, and only here, on this computer.</p>"
        "<p>A deployed sis-sync signs in through Amazon Cognito (or Log in with Clever), where only"
        " the district's own admins get in.</p></div>"
        + (f'<p class="problem" role="alert">{escape(problem)}</p>' if problem else "")
        + '<form method="post" action="/login">'
        + hidden
        + '<label for="email">E-mail address</label> '
        '<input id="email" name="email" type="email" required autocomplete="email" autofocus'
        ' data-testid="authorize-email"> '
        '<button type="submit" data-testid="authorize-submit">Sign in</button></form>'
    )


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} - sis-sync devstack</title>"
        "<style>body{font:16px system-ui,sans-serif;margin:3em auto;max-width:34em}"
        "input,button{font:inherit;padding:.3em}.problem{color:#a00}"
        ".notice{border-left:4px solid #8a5a00;background:#fff6e0;padding:.1em 1em;margin:1em 0}"
        "</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    # (no form-action: Chromium applies it to the redirect back to the dashboard too)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "no-store"
    return response


def client_from_cognito(cognito: Any, client_id: str) -> AppClient:
    """The app client as the stack built it in moto (its callback and logout URLs)."""
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        clients = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
        if any(c["ClientId"] == client_id for c in clients):
            described = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client_id)
            client = described["UserPoolClient"]
            return AppClient(
                client_id=client_id,
                callback_urls=tuple(client.get("CallbackURLs", [])),
                logout_urls=tuple(client.get("LogoutURLs", [])),
            )
    raise LookupError(f"no user pool has the app client {client_id}")
