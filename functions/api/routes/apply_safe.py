"""Apply safe changes: apply now what trips no rule of held change sets (the rest stays on hold)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import apply_safe
from sis_sync.api.models import ApplySafeRequest, ApplySafeResponse

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/holds/apply-safe",
    tags=["holds"],
    security=SECURED,
    responses=responses(202, description="A result per school; applied_safe ones apply in the background"),
    description=(
        "Applies the part of each named pending change set (`sync_id`) that trips no hold rule: "
        "additions and updates of people and sections, and contacts that add no blocked relationship "
        "type and bring no student to `max_guardians`. The rest stays pending: the school stays "
        "`on_hold` with the same `pending_sync_id`, its report, counts and CSV show only what is "
        "still held, and Clear holds with that `sync_id` applies the rest. The result per school: "
        "`applied_safe` (started; `safe_changes` counts what applies), `nothing_safe` (every change "
        "waits for review, or the safe part was applied already), `stale` (a newer change set is "
        "pending: nothing is applied), `not_on_hold`, or `disconnected`."
    ),
)
def apply_safe_changes(d: str, request: ApplySafeRequest, who: Caller) -> Response[ApplySafeResponse]:
    return Response(
        status_code=202,
        body=apply_safe.apply_safe_changes(context(), who, d, request),
        content_type="application/json",
    )
