""" "Check for new Clever data" and "I fixed it"."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from sis_sync.api import syncing
from sis_sync.api.models import ReconnectResponse, SyncRequest, SyncStarted

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/sync",
    tags=["sync"],
    security=SECURED,
    responses=responses(202, description="The sync started (it runs in the background)"),
)
def check_now(
    d: str,
    who: Caller,
    request: Annotated[SyncRequest | None, Body(description='`{"confirm": true}`; without it: 400')] = None,
) -> Response[SyncStarted]:
    # no body (or an empty one) is a request without the confirmation: 400, not a validation error
    body = syncing.check_now(context(), who, d, request or SyncRequest())
    return Response(status_code=202, body=body, content_type="application/json")


@router.post(
    "/v1/districts/<d>/reconnect",
    tags=["sync"],
    security=SECURED,
    responses=responses(description="connected (and a sync started) or still disconnected, with the error"),
)
def reconnect(d: str, who: Caller) -> ReconnectResponse:
    return syncing.reconnect(context(), who, d)
