"""Apply safe changes (DESIGN §7): apply now the part of held change sets that trips no rule.

The same machinery as Clear holds: the schools' results are decided up front, the action is audited
before anything starts, then one release execution (mode `apply_safe`) applies each school's safe
part in the background, resumably; the schools stay on hold with the rest and the same sync id.
"""

from __future__ import annotations

from typing import Final

from sis_sync.api.context import ApiContext
from sis_sync.api.holds import ReleaseAction, named_schools, start_release
from sis_sync.api.identity import Identity
from sis_sync.api.models import ApplySafeOutcome, ApplySafeRequest, ApplySafeResponse, ApplySafeResult
from sis_sync.model import Connection, District, SchoolStatus
from sis_sync.observability import logger
from sis_sync.store.releases import Approval
from sis_sync.store.state_table import HoldState

EXECUTION_PREFIX = "apply-safe"
APPLY_SAFE: Final = ReleaseAction(
    action="apply_safe_changes", started="applying", prefix=EXECUTION_PREFIX, name_key="execution"
)


def apply_safe_changes(
    ctx: ApiContext, who: Identity, district_id: str, request: ApplySafeRequest
) -> ApplySafeResponse:
    """Start applying the safe part of each named change set that is still held and has one.

    `nothing_safe` comes from the count evaluation stored with the change set (0 once its safe part
    was applied), so no snapshot is read in the request; an older change set without that count is
    started, and its apply finds out."""
    district = ctx.require_district(who, district_id)
    named, schools = named_schools(ctx, district_id, request.schools, also="safe_changes")
    results = [_result(district, schools[school_id], sync_id) for school_id, sync_id in named.items()]
    approvals = [
        Approval(school_id=r.school_id, sync_id=r.sync_id, mode="apply_safe")
        for r in results
        if r.result == "applied_safe"
    ]
    start_release(
        ctx, who, district_id, APPLY_SAFE, {r.school_id: (r.sync_id, r.result) for r in results}, approvals
    )
    logger.info("safe changes applying", district_id=district_id, applying=len(approvals), asked=len(results))
    return ApplySafeResponse(results=results)


def _result(district: District, school: HoldState, sync_id: str) -> ApplySafeResult:
    outcome = _outcome(district, school, sync_id)
    safe = school.safe_changes if outcome == "applied_safe" else None
    return ApplySafeResult(school_id=school.school_id, result=outcome, sync_id=sync_id, safe_changes=safe)


def _outcome(district: District, school: HoldState, sync_id: str) -> ApplySafeOutcome:
    if district.connection is Connection.DISCONNECTED:
        return "disconnected"
    if school.status is not SchoolStatus.ON_HOLD or school.pending_sync_id is None:
        return "not_on_hold"
    if school.pending_sync_id != sync_id:
        return "stale"
    return "nothing_safe" if school.safe_changes == 0 else "applied_safe"
