""" "Check for new Clever data", "I fixed it", and what a sync did."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from sis_sync.api import syncing
from sis_sync.api.models import (
    ReconnectResponse,
    SyncHistoryPage,
    SyncRequest,
    SyncStarted,
    SyncStatusView,
)

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/sync",
    tags=["sync"],
    security=SECURED,
    responses=responses(
        202,
        description="The sync started (it runs in the background), or one was already running"
        " (`already_running`: its sync id)",
    ),
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
    responses=responses(
        description="connected (and a sync started) or still disconnected, with the error",
        s202={"description": "connected; a poll of the district was already running (`already_running`)"},
    ),
)
def reconnect(d: str, who: Caller) -> Response[ReconnectResponse]:
    body = syncing.reconnect(context(), who, d)
    return Response(
        status_code=202 if body.already_running else 200, body=body, content_type="application/json"
    )


@router.get(
    "/v1/districts/<d>/syncs",
    tags=["sync"],
    security=SECURED,
    responses=responses(
        description="The district's sync history, newest first: each sync's time, trigger, result and"
        " the schools it held, applied and released"
    ),
)
def sync_history(
    d: str,
    who: Caller,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=400, description="next_cursor of the previous page")
    ] = None,
) -> SyncHistoryPage:
    return syncing.sync_history(context(), who, d, limit, cursor)


@router.get(
    "/v1/districts/<d>/syncs/<sync_id>",
    tags=["sync"],
    security=SECURED,
    responses=responses(description="What the sync did: running until every changed school is processed"),
)
def sync_status(d: str, sync_id: str, who: Caller) -> SyncStatusView:
    return syncing.sync_status(context(), who, d, sync_id)
