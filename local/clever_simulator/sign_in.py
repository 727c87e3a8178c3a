"""Clever's OAuth sign-in, simulated: `GET /oauth/authorize` shows the served districts' people to
sign in as (no password: it says it is the simulator), `POST /oauth/authorize` sends the browser
back to the app's `redirect_uri` with a single-use code, and `POST /oauth/tokens` (HTTP basic with
the app's client id and secret, `grant_type=authorization_code`) trades the code for the user's
access token, which `/v3.0/me` and `/userinfo` then answer for. Clever's `id_token` is not issued:
the devstack's Cognito stand-in reads `/userinfo`, as the template's provider does
(`attributes_request_method: GET`)."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, request

from clever_simulator.roster import Resource, Role

if TYPE_CHECKING:
    from clever_simulator.server import CleverSimulator

CODE_TTL_SECONDS = 300.0
# who the page offers to sign in as, per district: every district admin, a few of the others
LISTED = ((Role.DISTRICT_ADMIN, 20), (Role.TEACHER, 5), (Role.STAFF, 3), (Role.STUDENT, 3))
_AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "response_type", "state", "scope")


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    user_id: str
    expires_at: float


def sign_in_blueprint(sim: CleverSimulator) -> Blueprint:
    blueprint = Blueprint("simulator_sign_in", __name__)
    codes: dict[str, _Code] = {}
    lock = threading.Lock()  # a code is redeemed once, whatever thread asks

    def refused(params: dict[str, str]) -> Response | None:
        """An error page for a bad client or callback (never a redirect to it), else None."""
        if params.get("client_id") != sim.client_credentials[0]:
            return _page("Sign-in failed", "<p>Unknown client_id: no Clever app has it.</p>", 400)
        if urlsplit(params.get("redirect_uri", "")).scheme not in ("http", "https"):
            return _page("Sign-in failed", "<p>redirect_uri must be an http(s) address.</p>", 400)
        if params.get("response_type") != "code":
            return _page("Sign-in failed", "<p>Only response_type=code is supported.</p>", 400)
        return None

    @blueprint.get("/oauth/authorize")
    def authorize() -> Response:
        params = {k: v for k, v in request.args.items() if k in _AUTHORIZE_FIELDS}
        return refused(params) or _page("Log in with Clever (simulated)", _people_page(sim, params))

    @blueprint.post("/oauth/authorize")
    def choose() -> Response:
        params = {k: v for k, v in request.form.items() if k in _AUTHORIZE_FIELDS}
        problem = refused(params)
        if problem is not None:
            return problem
        user_id = request.form.get("user_id", "")
        with sim.lock:
            known = any(d.get(Resource.USERS, user_id) is not None for d in sim.districts.values())
        if not known:
            return _page("Sign-in failed", "<p>No district served has that user.</p>", 400)
        code = secrets.token_urlsafe(24)
        with lock:
            codes[code] = _Code(
                params["client_id"], params["redirect_uri"], user_id, sim.clock() + CODE_TTL_SECONDS
            )
        query = {"code": code} | ({"state": params["state"]} if "state" in params else {})
        return Response(status=302, headers={"Location": f"{params['redirect_uri']}?{urlencode(query)}"})

    @blueprint.post("/oauth/tokens")
    def tokens() -> Response:
        auth = request.authorization
        if auth is None or auth.type != "basic" or (auth.username, auth.password) != sim.client_credentials:
            return _error(401, "invalid_client", "bad client credentials")
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "grant_type must be authorization_code")
        with lock:
            grant = codes.pop(form.get("code", ""), None)  # single use, good or bad
        if grant is None or grant.expires_at <= sim.clock():
            return _error(400, "invalid_grant", "the code is unknown, used or expired")
        if grant.client_id != auth.username or grant.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant", "the code was issued to another client or redirect_uri")
        token = sim.issue_user_token(grant.user_id, secrets.token_hex(20))
        return _json_response({"access_token": token, "token_type": "bearer"})

    return blueprint


def _people_page(sim: CleverSimulator, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    sections = []
    for district in list(sim.districts.values()):
        with sim.lock:
            people = [
                (role, record)
                for role, count in LISTED
                for record in district.listing(Resource.USERS, role).page(None, count).records
            ]
        buttons = "".join(
            '<li><button type="submit" name="user_id" value="{id}" data-testid="clever-user-{id}"'
            ' data-role="{role}">{name}</button> {role_words} · {email}</li>'.format(
                id=escape(str(record["id"])),
                role=escape(role.value),
                name=escape(_name(record)),
                role_words=escape(role.value.replace("_", " ")),
                email=escape(str(record.get("email", ""))),
            )
            for role, record in people
        )
        title = escape(str(district.district_record().get("name", district.district_id)))
        sections.append(f"<h2>{title}</h2><ul>{buttons}</ul>")
    return (
        "<p><strong>This is the Clever simulator's login</strong>, not Clever: pick the person to"
        " log in as (no password).</p>"
        f'<form method="post" action="/oauth/authorize">{hidden}{"".join(sections)}</form>'
    )


def _name(record: dict[str, Any]) -> str:
    name = record.get("name") or {}
    return f"{name.get('first', '')} {name.get('last', '')}".strip() or str(record["id"])


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font:16px system-ui,sans-serif;margin:3em auto;max-width:40em}"
        "li{margin:.3em 0}button{font:inherit}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_response(body: dict[str, Any], status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, error: str, description: str) -> Response:
    return _json_response({"error": error, "error_description": description}, status)
