"""The local API Gateway: a WSGI app that turns HTTP requests into API Gateway v2 (HTTP API)
events for the `api` function and plays the JWT authorizer (tokens of the local authorization
server, checked against its JWKS), plus the local-only `/dev/*` endpoints of DESIGN §5 (never
deployed)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

from flask import Flask, Response, jsonify, request

from devstack.auth import JwtAuthorizer, TokenIssuer, TokenRejectedError
from devstack.lambdas import FakeContext
from devstack.outbox import outbox_page
from devstack.reset import ResetRefusedError

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Routes API Gateway serves without the JWT authorizer (template.yaml: AuthorizationType: NONE).
PUBLIC_PREFIXES = ("/v1/health", "/v1/links/", "/v1/openapi.json", "/v1/docs", "/v1/auth-config", "/static/")
TEXT_TYPES = ("application/json", "text/", "application/javascript", "image/svg+xml")


class DevHooks:
    """What the `/dev/*` endpoints do; the devstack supplies the implementations."""

    def __init__(
        self,
        district_of: Callable[[str], str | None],
        outbox: Callable[[], list[dict[str, Any]]],
        tick: Callable[[], dict[str, Any]],
        scenario: Callable[[dict[str, Any]], dict[str, Any]] | None,
        panel: Callable[[], str],
        scenarios: Callable[[], dict[str, Any]] | None = None,
        reset: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.district_of = district_of  # an e-mail's district, asked when a token is made
        self.outbox = outbox
        self.tick = tick
        self.scenario = scenario
        self.panel = panel
        self.scenarios = scenarios  # the panel's schools and the scenarios it can undo
        self.reset = reset  # back to the state after start-up (with the simulator only)


def _is_public(path: str) -> bool:
    return path == "/" or path.startswith(PUBLIC_PREFIXES)


def raw_path() -> str:
    """The request path still percent-encoded, as API Gateway puts it in `rawPath` (werkzeug's
    server keeps the request line's target in RAW_URI / REQUEST_URI; `request.path` is decoded)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path = urlsplit(raw).path if "://" in raw.split("?", 1)[0] else raw.split("?", 1)[0]
        if path.startswith("/"):
            return path
    return quote(request.path, safe="/-._~!$&'()*+,;=:@")


def api_event(claims: dict[str, Any] | None) -> dict[str, Any]:
    """The current Flask request as API Gateway v2 would hand it to a Lambda function."""
    body = request.get_data()
    text = not body or (request.mimetype or "").startswith(TEXT_TYPES)
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "devstack",
        "domainName": request.host,
        "http": {
            "method": request.method,
            "path": raw_path(),
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        texts = {name: _claim_text(value) for name, value in claims.items()}
        context["authorizer"] = {"jwt": {"claims": texts, "scopes": None}}
    query = request.args.to_dict(flat=False)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path(),
        "rawQueryString": request.query_string.decode(),
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "queryStringParameters": {k: ",".join(v) for k, v in query.items()} or None,
        "requestContext": context,
        "body": (body.decode() if text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": not text,
    }


def _claim_text(value: Any) -> str:
    """API Gateway hands every claim to the function as a string; a boolean as "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _to_flask(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(data, status=int(result.get("statusCode", 200)))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = value
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


def _unauthorized(message: str) -> Response:
    response = jsonify({"error": {"code": "unauthorized", "message": message}})
    response.status_code = 401
    return response


LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost"})


def refuse_foreign_request() -> Response | None:
    """DNS rebinding and cross-site requests: a page of another site can make the browser talk to
    127.0.0.1 under its own host name, or POST text/plain (no CORS preflight) to /dev/tick. So a
    Host other than 127.0.0.1/localhost on this server's port is refused (421), and a /dev/* POST
    must say it sends JSON (415), which a cross-site form or simple fetch cannot."""
    host, _, port = request.host.rpartition(":") if ":" in request.host else (request.host, "", "80")
    if host.lower() not in LOOPBACK_HOSTS or port != str(request.environ.get("SERVER_PORT")):
        return _refused(421, "misdirected_request", "this devstack answers only 127.0.0.1 or localhost")
    if request.method == "POST" and request.path.startswith("/dev/") and not request.is_json:
        return _refused(415, "unsupported_media_type", "send JSON (application/json)")
    return None


def _refused(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def create_gateway(api: Handler, authorizer: JwtAuthorizer, issuer: TokenIssuer, hooks: DevHooks) -> Flask:
    app = Flask("sis-sync-devstack", static_folder=None)  # /static/ belongs to the api function
    app.before_request(refuse_foreign_request)
    # One event at a time, as in one Lambda execution environment: the resolver keeps per-request
    # state on the module's `app` (Powertools' `app.context`), which concurrent requests would share.
    one_at_a_time = threading.Lock()

    @app.post("/dev/token")
    def dev_token() -> Response:
        payload = request.get_json(silent=True) or {}
        email = str(payload.get("email", "")).strip()
        if "@" not in email:
            response = jsonify({"error": {"code": "bad_request", "message": "an e-mail address is required"}})
            response.status_code = 400
            return response
        role = "operator" if payload.get("role") == "operator" else "district_admin"
        district = payload.get("district_id") or (None if role == "operator" else hooks.district_of(email))
        verified = payload.get("email_verified", True) is not False  # tests ask for an unverified one
        return jsonify({"token": issuer.issue(email, district, role, email_verified=verified)})

    @app.get("/dev/outbox")
    def dev_outbox() -> Response:
        messages = hooks.outbox()
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
            return Response(outbox_page(messages), mimetype="text/html")  # a browser asked
        return jsonify({"messages": messages})

    @app.post("/dev/tick")
    def dev_tick() -> Response:
        started = time.monotonic()
        result = hooks.tick()
        return jsonify(result | {"seconds": round(time.monotonic() - started, 2)})

    @app.post("/dev/reset")
    def dev_reset() -> Response:
        if hooks.reset is None:
            return _refused(404, "not_found", "a reset needs the Clever simulator")
        started = time.monotonic()
        try:
            result = hooks.reset()
        except ResetRefusedError as refused:
            return _refused(409, "executions_running", str(refused))
        return jsonify(result | {"seconds": round(time.monotonic() - started, 2)})

    @app.get("/dev/scenario")
    def dev_scenarios() -> Response:
        if hooks.scenarios is None:
            return _refused(404, "not_found", "scenarios need the Clever simulator")
        return jsonify(hooks.scenarios())

    @app.post("/dev/scenario")
    def dev_scenario() -> Response:
        if hooks.scenario is None:
            return _refused(404, "not_found", "scenarios need the Clever simulator")
        result = hooks.scenario(request.get_json(silent=True) or {})
        response = jsonify(result)
        response.status_code = 400 if "error" in result else 200  # refused: nothing was changed
        return response

    @app.get("/dev/")
    def dev_panel() -> Response:
        return Response(hooks.panel(), mimetype="text/html")

    @app.route(
        "/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    )
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
    def proxy(path: str) -> Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        claims: dict[str, Any] | None = None
        if not _is_public(raw_path()):  # public routes have no authorizer: no claims, as on AWS
            if not token:
                return _unauthorized("sign in first")
            try:
                claims = authorizer.verify(token)
            except TokenRejectedError as rejected:
                return _unauthorized(str(rejected))
        event = api_event(claims)
        with one_at_a_time:
            result = api(event, FakeContext(function_name="ApiFunction"))
        return _to_flask(result)

    return app
