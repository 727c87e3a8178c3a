"""Undo: take back a school's most recently applied change set (reverted asynchronously)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import undo
from sis_sync.api.models import UndoRequest, UndoResponse

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/schools/<s>/undo",
    tags=["schools"],
    security=SECURED,
    responses=responses(202, description="The undo started; the roster is reverted in the background"),
    description=(
        "Takes back the school's most recently applied change set (`sync_id`), within 30 days of its "
        "apply: the roster returns to the snapshot applied before it (removed records restored from "
        "the archive with their ids, added records archived, updated fields reverted) and the change "
        "set is pending again: the school is `on_hold` with reason `undone` (plus any hold rule that "
        "fires) and the same `pending_sync_id`, so that Clear holds applies it again. 409 `not_latest` "
        "when it is not the most recently applied change set, or a newer change set is pending, "
        "409 `too_old` when it was applied more than 30 days ago. The school report's `undo` names "
        "the change set that can be undone."
    ),
)
def undo_sync(d: str, s: str, request: UndoRequest, who: Caller) -> Response[UndoResponse]:
    return Response(
        status_code=202, body=undo.undo_sync(context(), who, d, s, request), content_type="application/json"
    )
