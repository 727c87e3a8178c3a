"""api: the admin HTTPS API (DESIGN §4) and the dashboard's files, behind API Gateway's HTTP API.

One resolver with validation; routers per resource (routes/); every domain refusal is turned into
`{"error": {"code", "message"}}` with its status here, in one place.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from http import HTTPStatus
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

# SAM packages functions/api/ as the function's root: `routes` is a top-level package there, and
# tests, mypy and the devstack put functions/api on the import path to import it the same way.
from routes import (
    apply_safe,
    audit,
    auth_config,
    clever_schools,
    dashboard,
    districts,
    holds,
    links,
    meta,
    schools,
    settings_preview,
    sync,
    undo,
)
from sis_sync.api import link_pages
from sis_sync.api.errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    GoneError,
    InvalidRequestError,
    NotAuthenticatedError,
    NotFoundError,
    StaleSyncIdError,
)
from sis_sync.links import ExpiredLinkError, InvalidLinkError
from sis_sync.observability import logger, metrics, tracer

TITLE = "sis-sync admin API"
VERSION = "1.0.0"

app = APIGatewayHttpResolver(
    enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
)
for module in (
    meta,
    auth_config,
    districts,
    settings_preview,
    schools,
    holds,
    apply_safe,
    undo,
    sync,
    clever_schools,
    audit,
    links,
    dashboard,
):
    app.include_router(module.router)


# --- errors: the one place where refusals become statuses ----------------------------------------

STATUS: dict[type[ApiError], HTTPStatus] = {
    NotAuthenticatedError: HTTPStatus.UNAUTHORIZED,
    NotFoundError: HTTPStatus.NOT_FOUND,
    BadRequestError: HTTPStatus.BAD_REQUEST,
    InvalidRequestError: HTTPStatus.UNPROCESSABLE_ENTITY,
    ConflictError: HTTPStatus.CONFLICT,
    GoneError: HTTPStatus.GONE,
}


def error_response(status: int, code: str, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}} | extra,
        headers={"Cache-Control": "no-store"},
    )


def status_of(error: ApiError) -> HTTPStatus:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return HTTPStatus.INTERNAL_SERVER_ERROR


@app.exception_handler(ApiError)
def refused(error: ApiError) -> Response[Any]:
    if link_pages.wants_page(app.current_event.path, app.current_event.headers.get("accept") or ""):
        return link_problem_page(status_of(error), error.code)
    extra = {"results": error.results} if isinstance(error, StaleSyncIdError) else {}
    return error_response(status_of(error), error.code, error.message, **extra)


@app.exception_handler(InvalidLinkError)
def bad_link(error: InvalidLinkError) -> Response[Any]:
    expired = isinstance(error, ExpiredLinkError)
    status = HTTPStatus.UNAUTHORIZED if expired else HTTPStatus.FORBIDDEN
    code = "link_expired" if expired else "link_invalid"
    if link_pages.wants_page(app.current_event.path, app.current_event.headers.get("accept") or ""):
        return link_problem_page(status, code)
    return error_response(status, code, "this link has expired" if expired else "this link is not valid")


def link_problem_page(status: int, code: str) -> Response[Any]:
    """A browser that followed an e-mail link gets a page saying why it opens nothing (same status)."""
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=link_pages.problem_page(code),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": link_pages.PAGE_POLICY,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


@app.exception_handler(RequestValidationError)
def invalid(error: RequestValidationError) -> Response[Any]:
    # locations and error types only: never the submitted values
    where = sorted({".".join(str(part) for part in e["loc"]) + f" ({e['type']})" for e in error.errors()})
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "invalid request: " + ", ".join(where[:10])
    )


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_body(error: RequestUnsupportedContentType) -> Response[Any]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send JSON (application/json)"
    )


@app.not_found
def no_route(error: RouteNotFoundError) -> Response[Any]:
    return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")


@app.exception_handler(ServiceError)
def service_error(error: ServiceError) -> Response[Any]:
    return error_response(error.status_code, "http_error", HTTPStatus(error.status_code).phrase)


@app.exception_handler(Exception)
def crashed(error: Exception) -> Response[Any]:
    logger.exception("unhandled error", error_type=type(error).__name__)
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong; try again"
    )


# --- the OpenAPI document, generated from the routes -------------------------------------------


@cache
def openapi_document() -> str:
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="District admins' view of the Clever sync: schools, holds, actions, audit (DESIGN §4).",
        security_schemes={"cognito": HTTPBearer(bearerFormat="JWT")},
    )


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_json():  # type: ignore[no-untyped-def]  # (unannotated: served as is, not re-serialised)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sis-sync API</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}code,pre{background:#f4f4f4}
pre{padding:.5em;overflow:auto}h2{border-top:1px solid #ccc;padding-top:.5em}</style></head>
<body><h1>sis-sync admin API</h1><p>Generated from <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
<div id="ops">Loading...</div>
<script>
fetch("/v1/openapi.json").then(r => r.json()).then(doc => {
  const root = document.getElementById("ops"); root.textContent = "";
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const h = document.createElement("h2");
      h.textContent = method.toUpperCase() + " " + path; root.append(h);
      const p = document.createElement("p");
      p.textContent = op.summary || op.description || ""; root.append(p);
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify({parameters: op.parameters, requestBody: op.requestBody,
                                        responses: op.responses}, null, 2);
      root.append(pre);
    }
  }
  const s = document.createElement("h2"); s.textContent = "Schemas"; root.append(s);
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify((doc.components || {}).schemas, null, 2); root.append(pre);
});
</script></body></html>
"""


DOCS_POLICY = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"


@app.get("/v1/docs", include_in_schema=False)
def docs():  # type: ignore[no-untyped-def]
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=DOCS_PAGE,
        headers={"Content-Security-Policy": DOCS_POLICY},
    )


# No request body of this API nests deeper than 4; 32 leaves room and stays far below the depth
# at which json.loads raises RecursionError (about 1,000).
MAX_BODY_DEPTH: Final = 32


def refuse_unreadable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """415 for a body that is not JSON, 400 for one that is not UTF-8 text or nests too deeply,
    before the resolver's validation reads it (Powertools 3.37 answers all three with an
    unhandled error: a 500)."""
    if not event.get("body"):
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return _raw_error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send JSON (application/json)"
        )
    text = str(event["body"])
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(event["body"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _raw_error(HTTPStatus.BAD_REQUEST, "bad_request", "the body is not UTF-8 JSON")
    if nests_deeper_than(text, MAX_BODY_DEPTH):
        return _raw_error(
            HTTPStatus.BAD_REQUEST,
            "bad_request",
            f"the body nests arrays or objects more than {MAX_BODY_DEPTH} deep",
        )
    return None


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays/objects more than `limit` deep. The C decoder is linear and
    raises RecursionError itself on very deep text; the depth is then measured without recursion.
    Text that is not JSON is left to the resolver (it answers that with its own error)."""
    try:
        parsed = json.loads(text)
    except RecursionError:
        return True
    except ValueError:
        return False
    stack: list[tuple[Any, int]] = [(parsed, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _raw_error(status: HTTPStatus, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, "Cache-Control": "no-store"},
        "body": json.dumps({"error": {"code": code, "message": message}}),
        "isBase64Encoded": False,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = refuse_unreadable_body(event) or app.resolve(event, context)
    # Api2xx / Api4xx / Api5xx: what an alarm on server errors watches
    metrics.add_metric(name=f"Api{int(response['statusCode']) // 100}xx", unit=MetricUnit.Count, value=1)
    return response
