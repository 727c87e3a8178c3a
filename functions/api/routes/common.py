"""What every router shares: the caller's identity (a dependency), the API context, documented errors."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from sis_sync import services
from sis_sync.api.context import ApiContext
from sis_sync.api.identity import Identity, identity_from_claims
from sis_sync.api.models import ErrorResponse

SECURED: list[dict[str, list[str]]] = [{"cognito": []}]
PUBLIC: list[dict[str, list[str]]] = []


def caller(request: Request) -> Identity:
    """The identity the JWT authorizer vouched for (its claims), or 401."""
    event = request.resolved_event
    claims: dict[str, Any] | None = None
    if isinstance(event, APIGatewayProxyEventV2):
        claims = event.request_context.authorizer.jwt_claim
    return identity_from_claims(claims)


Caller = Annotated[Identity, Depends(caller)]


def context() -> ApiContext:
    return services.admin_api()


_ERROR_TEXT = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found (or another district's)",
    409: "Conflicts with the current state",
    415: "The body is not JSON",
    422: "Invalid request",
}


def responses(
    ok: int = 200, *, description: str = "OK", **extra: OpenAPIResponse
) -> dict[int, OpenAPIResponse]:
    """The success response (its schema from the handler's return type) plus every error shape."""
    documented: dict[int, OpenAPIResponse] = {ok: {"description": description}}
    for status, text in _ERROR_TEXT.items():
        documented[status] = {"description": text, "content": {"application/json": {"model": ErrorResponse}}}
    for key, response in extra.items():  # s303=... documents status 303
        documented[int(key.removeprefix("s"))] = response
    return documented
