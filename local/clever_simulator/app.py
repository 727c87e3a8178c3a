"""Flask routes of the simulated Clever Data API v3.0 (plus ``/oauth/tokens`` and the sign-in)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request

from clever_simulator.control import control_blueprint
from clever_simulator.listing import InvalidCursorError
from clever_simulator.roster import Listing, Record, Resource, Role
from clever_simulator.sign_in import sign_in_blueprint

if TYPE_CHECKING:
    from clever_simulator.server import CleverSimulator

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
CONTROL_PREFIX = "/__sim"
SSO_PATHS = ("/v3.0/me", "/userinfo")
_ERROR_PAGE = (
    "<html><head><title>{status} {reason}</title></head>"
    "<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>"
)
DANGLING_STUDENT = "dangling0student00000000"
DANGLING_TEACHER = "dangling0teacher00000000"
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def _message(status: int, message: str) -> Response:
    """Clever's error shape (``NotFound``/``BadRequest``/``InternalError`` in the spec)."""
    return _json({"message": message}, status)


def _server_error(status: int, html: bool) -> Response:
    if html:
        page = _ERROR_PAGE.format(status=status, reason=_REASONS.get(status, "Server Error"))
        return Response(page, status=status, mimetype="text/html")
    return _message(status, "internal error")


def _dripped(body: bytes, chunk_bytes: int, seconds: float, sleep: Any) -> Iterator[bytes]:
    for start in range(0, len(body), chunk_bytes):
        if start:
            sleep(seconds)
        yield body[start : start + chunk_bytes]


def _unauthorized(error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, 401)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _role() -> Role | None:
    value = request.args.get("role")
    if value is None:
        return None
    try:
        return Role(value)
    except ValueError:
        return None


def create_app(sim: CleverSimulator) -> Flask:
    app = Flask("clever_simulator")
    app.register_blueprint(control_blueprint(sim), url_prefix=CONTROL_PREFIX)
    app.register_blueprint(sign_in_blueprint(sim))  # Log in with Clever: /oauth/authorize, POST /oauth/tokens

    @app.before_request
    def faults_auth_and_rate_limit() -> Response | None:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return None
        sim.requests.record(path)
        delay = sim.faults.delay(path)
        if delay:
            sim.sleep(delay)
        token = _bearer_token()
        storm = sim.faults.take_storm() if path.startswith("/v3.0") else None
        if storm is not None:  # no X-Ratelimit-* headers: Retry-After, if any, is the only hint
            limited = _json({"error": "rate_limit_exceeded", "message": "Too Many Requests"}, 429)
            if storm.retry_after is not None:
                limited.headers["Retry-After"] = str(storm.retry_after)
            return limited
        g.rate = sim.rate_limiter.hit(token or request.remote_addr or "", sim.faults.rate_limit_per_minute)
        if not g.rate.allowed:
            return _json({"error": "rate_limit_exceeded", "message": "Too Many Requests"}, 429)
        if path in SSO_PATHS:  # a user's SSO token, not a district's
            g.owner = sim.token_owner(token) if token else None
            if g.owner is None or sim.faults.is_revoked(token or ""):
                return _unauthorized("invalid_token", "The access token is unknown")
        elif path.startswith("/v3.0"):
            if token is None:
                return _unauthorized("invalid_request", "Missing bearer token")
            g.district = sim.district_for(token)
            if g.district is None:
                return _unauthorized("invalid_token", "The access token is unknown")
            if sim.faults.is_revoked(token):
                return _unauthorized("invalid_token", "The access token has been revoked")
        transient = sim.faults.take_transient(path)
        if transient is not None:
            return _server_error(transient.status, transient.html)
        html_status = sim.faults.html_error_status(path)
        if html_status is not None:
            return _server_error(html_status, html=True)
        if sim.faults.html_with_200(path):
            page = _ERROR_PAGE.format(status=200, reason="OK")
            return Response(page, status=200, mimetype="text/html")
        return None

    @app.after_request
    def rate_headers_and_malformed_body(response: Response) -> Response:
        rate = g.get("rate")
        if rate is not None:
            response.headers.update(rate.headers())
        if (
            response.status_code == 200
            and response.mimetype == "application/json"
            and request.path.startswith("/v3.0")
            and sim.faults.malformed(request.path)
        ):
            body = response.get_data()
            response.set_data(body[: max(1, len(body) // 2)] + b'",,}')
        drip = sim.faults.dripping(request.path) if request.path.startswith("/v3.0") else None
        if drip is not None and response.status_code == 200:
            response.response = _dripped(response.get_data(), drip.chunk_bytes, drip.seconds, sim.sleep)
            response.headers.pop("Content-Length", None)
        return response

    @app.errorhandler(404)
    def unknown_route(_: Exception) -> Response:
        return _message(404, "Not Found")

    @app.errorhandler(405)
    def wrong_method(_: Exception) -> Response:
        return _message(405, "Method Not Allowed")

    def envelope_item(resource: Resource, record: Record) -> dict[str, Any]:
        return {"data": record, "uri": f"/v3.0/{resource.value}/{record['id']}"}

    def serve_listing(listing: Listing | None, resource: Resource) -> Response:
        began = sim.clock()
        if listing is None:
            return _message(404, "Resource not found")
        if "ending_before" in request.args:
            return _message(400, "ending_before is not supported by the simulator")
        raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            return _message(400, "limit must be a positive integer")
        limit = int(raw_limit)
        if limit > MAX_LIMIT:
            return _message(413, f"limit must be at most {MAX_LIMIT}")
        starting_after = request.args.get("starting_after")
        listing_key = (request.path, request.args.get("role"))
        page_number = sim.page_number(listing_key, starting_after)
        if sim.faults.revoked_at(request.path, request.args.get("role"), page_number):
            return _unauthorized("invalid_token", "The access token has been revoked")
        failure = sim.faults.page_failure(request.path, request.args.get("role"), page_number)
        if failure is not None:
            return _server_error(failure.status, failure.html)
        served = min(limit, sim.page_size_cap) if sim.page_size_cap else limit
        try:
            with sim.lock:
                page = listing.page(starting_after, served)
        except InvalidCursorError:
            return _message(400, "starting_after is not a valid id")
        links = [{"rel": "self", "uri": request.full_path.rstrip("?")}]
        role = request.args.get("role")
        others = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "starting_after")]
        # A full page always links to the next one (which may be empty): a full page without a
        # next link is what a truncated listing looks like, and the client refuses it.
        if (page.has_more or len(page.records) == served) and page.records:
            last_id = str(page.records[-1]["id"])
            query = urlencode([("limit", str(limit)), *others, ("starting_after", last_id)])
            if not sim.faults.cuts_next_link(request.path, role, page_number):
                links.append({"rel": "next", "uri": f"{request.path}?{query}"})
            if page_number is not None:
                sim.remember_page(listing_key, last_id, page_number + 1)
        elif sim.faults.never_ends(request.path, role, _bearer_token()):
            lap = int(request.args.get("lap", "0")) + 1  # the same pages again, at new URLs
            query = urlencode(
                [("limit", str(limit)), *[kv for kv in others if kv[0] != "lap"], ("lap", str(lap))]
            )
            links.append({"rel": "next", "uri": f"{request.path}?{query}"})
        records = list(page.records)
        if records and sim.faults.repeats_ids(request.path, role):
            records.append(records[0])
        if sim.faults.dangles(request.path):
            records = [
                {
                    **r,
                    "students": [*r.get("students", []), DANGLING_STUDENT],
                    "teachers": [*r.get("teachers", []), DANGLING_TEACHER],
                }
                for r in records
            ]
        response = _json({"data": [envelope_item(resource, r) for r in records], "links": links})
        # the page arrives `page_latency` after it was asked for, its building included (as Clever's
        # 2-5 s are what its client waits); waited without the lock: other requests are served meanwhile
        left = sim.page_latency - (sim.clock() - began)
        if sim.page_latency and left > 0:
            sim.sleep(left)
        return response

    def serve_one(resource: Resource, record_id: str) -> Response:
        with sim.lock:
            record = g.district.get(resource, record_id)
        if record is None:
            return _message(404, "Resource not found")
        return _json({"data": record, "links": [{"rel": "self", "uri": request.path}]})

    def top_listing(resource: Resource) -> Response:
        if resource is Resource.USERS and "role" in request.args and _role() is None:
            return _message(400, "role must be one of " + ", ".join(r.value for r in Role))
        with sim.lock:
            listing = g.district.listing(resource, _role())
        return serve_listing(listing, resource)

    for resource in Resource:
        app.add_url_rule(
            f"/v3.0/{resource.value}",
            f"list_{resource.value}",
            lambda resource=resource: top_listing(resource),
        )
        app.add_url_rule(
            f"/v3.0/{resource.value}/<record_id>",
            f"get_{resource.value}",
            lambda record_id, resource=resource: serve_one(resource, record_id),
        )

    @app.get("/v3.0/schools/<school_id>/users")
    def school_users(school_id: str) -> Response:
        if "role" in request.args and _role() is None:
            return _message(400, "role must be one of student, teacher, staff")
        with sim.lock:
            listing = g.district.school_users(school_id, _role())
        return serve_listing(listing, Resource.USERS)

    @app.get("/v3.0/schools/<school_id>/sections")
    def school_sections(school_id: str) -> Response:
        with sim.lock:
            listing = g.district.school_sections(school_id)
        return serve_listing(listing, Resource.SECTIONS)

    @app.get("/v3.0/users/<user_id>/mycontacts")
    def user_contacts(user_id: str) -> Response:
        with sim.lock:
            listing = g.district.user_contacts(user_id)
        return serve_listing(listing, Resource.USERS)

    @app.get("/v3.0/me")
    def me() -> Response:
        owner = g.owner
        data = {"id": owner["id"], "district": owner["district"], "type": owner["type"]}
        return _json({"data": data, "links": [{"rel": "canonical", "uri": f"/v3.0/users/{owner['id']}"}]})

    @app.get("/userinfo")
    def userinfo() -> Response:
        """The OIDC claims Clever's `/userinfo` answers (Clever leaves e-mails unverified)."""
        owner = g.owner
        user = owner["user"]
        name = user.get("name", {})
        return _json(
            {
                "sub": owner["id"],
                "multi_role_user_id": owner["id"],
                "user_type": owner["type"],
                "district": owner["district"],
                "district_id": owner["district"],
                "email": user.get("email", ""),
                "email_verified": False,
                "given_name": name.get("first", ""),
                "family_name": name.get("last", ""),
                "name": name,
            }
        )

    @app.get("/oauth/tokens")
    def oauth_tokens() -> Response:
        auth = request.authorization
        if auth is None or auth.type != "basic" or (auth.username, auth.password) != sim.client_credentials:
            return _json({"error": "invalid_client", "error_description": "bad client credentials"}, 401)
        if request.args.get("owner_type") != "district":
            return _message(400, "owner_type must be district")
        return _json(
            {
                "data": sim.token_records(),
                "links": [{"rel": "self", "uri": request.full_path.rstrip("?")}],
            }
        )

    return app
