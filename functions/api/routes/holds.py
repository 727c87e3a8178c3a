"""Clear holds: approve the pending change sets of one or many schools (applied asynchronously)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import holds
from sis_sync.api.models import ClearRequest, ClearResponse

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/holds/clear",
    tags=["holds"],
    security=SECURED,
    responses=responses(202, description="A result per school; released ones apply in the background"),
    description=(
        "Approves the named pending change set (`sync_id`) of each school. The result per school: "
        "`released` (its release started; applied in the background), `stale` (a newer change set "
        "is pending: review it, then clear again), `not_on_hold`, or `disconnected` (the district's "
        "Clever connection fails: nothing is released until it works again, see `reconnect`). "
        "When nothing is released and a change set named is stale, the answer is 409 "
        "`stale_sync_id` with the same `results`."
    ),
)
def clear_holds(d: str, request: ClearRequest, who: Caller) -> Response[ClearResponse]:
    return Response(
        status_code=202, body=holds.clear_holds(context(), who, d, request), content_type="application/json"
    )
