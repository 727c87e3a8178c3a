"""Clear holds: approve the pending change sets of one or many schools (applied asynchronously)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api.models import ClearRequest, ClearResponse

from .common import SECURED, Caller, actions, responses

router = Router()


@router.post(
    "/v1/districts/<d>/holds/clear",
    tags=["holds"],
    security=SECURED,
    responses=responses(202, description="A result per school; released ones apply in the background"),
)
def clear_holds(d: str, request: ClearRequest, who: Caller) -> Response[ClearResponse]:
    return Response(
        status_code=202, body=actions().clear_holds(who, d, request), content_type="application/json"
    )
