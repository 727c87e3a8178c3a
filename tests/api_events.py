"""API Gateway v2 (HTTP API) events for the api handler, as API Gateway and its JWT authorizer
build them; and a WSGI shim that turns a WSGI request into such an event (for schemathesis)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from devstack.lambdas import FakeContext
from tests.iam_guard import acting_as

Claims = Mapping[str, str]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def admin(district_id: str, email: str = "admin@example.org") -> dict[str, str]:
    return {
        "email": email,
        "email_verified": "true",  # API Gateway hands every claim over as a string
        "custom:district_id": district_id,
        "custom:role": "district_admin",
    }


def operator(email: str = "ops@example.org") -> dict[str, str]:
    return {"email": email, "email_verified": "true", "custom:role": "operator"}


def http_event(
    method: str,
    raw_path: str,
    *,
    claims: Claims | None = None,
    body: Any = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload-format-2.0 event; `claims` = what the JWT authorizer passed (None: no auth)."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    all_headers = {"host": "api.example.org", "user-agent": "pytest"}
    if text is not None:
        all_headers["content-type"] = "application/json"
    all_headers |= dict(headers or {})
    query_string = urlencode(query or {})
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.org",
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "pytest",
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": "02/Nov/2026:08:00:00 +0000",
        "timeEpoch": 1793606400000,
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query_string,
        "headers": all_headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if text is not None:
        event["body"] = text
    return event


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def call(handler: Handler, event: dict[str, Any]) -> ApiResponse:
    """The api handler's answer to `event`, run as the API function (its role is enforced)."""
    with acting_as("ApiFunction"):
        result = handler(event, FakeContext(function_name="api"))
    raw = result.get("body") or ""
    text = base64.b64decode(raw).decode() if result.get("isBase64Encoded") else raw
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return ApiResponse(status=result["statusCode"], headers=headers, text=text)


def path(*segments: str) -> str:
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


class WsgiShim:
    """A WSGI app that plays API Gateway and its JWT authorizer in front of the api handler:
    every request carries `claims` unless it has the header `X-No-Auth`."""

    def __init__(self, handler: Handler, claims: Claims) -> None:
        self._handler = handler
        self._claims = claims

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        raw_path = quote(environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace"), safe="/")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        event = http_event(
            environ["REQUEST_METHOD"],
            raw_path,
            claims=None if "x-no-auth" in headers else self._claims,
            headers=headers,
            query=query or None,
        )
        if body:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        result = call(self._handler, event)
        start_response(f"{result.status} X", list(result.headers.items()))
        return [result.text.encode()]
