"""Apply safe changes (DESIGN §7): apply now the part of held change sets that trips no rule.

The same machinery as Clear holds: the schools' results are decided up front, the action is audited
before anything starts, then one release execution (mode `apply_safe`) applies each school's safe
part in the background, resumably; the schools stay on hold with the rest and the same sync id.
"""

from __future__ import annotations

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import InvalidRequestError, NotFoundError
from sis_sync.api.holds import release_name
from sis_sync.api.identity import Identity
from sis_sync.api.models import ApplySafeOutcome, ApplySafeRequest, ApplySafeResponse, ApplySafeResult
from sis_sync.model import Connection, District, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.store.releases import Approval

EXECUTION_PREFIX = "apply-safe"


def apply_safe_changes(
    ctx: ApiContext, who: Identity, district_id: str, request: ApplySafeRequest
) -> ApplySafeResponse:
    """Start applying the safe part of each named change set that is still held and has one.

    `nothing_safe` comes from the count evaluation stored with the change set (0 once its safe part
    was applied), so no snapshot is read in the request; an older change set without that count is
    started, and its apply finds out."""
    district = ctx.require_district(who, district_id)
    named = {item.school_id: item.sync_id for item in request.schools}
    if len(named) != len(request.schools):
        raise InvalidRequestError("a school is named twice")
    schools = ctx.state.get_schools(district_id, named)
    unknown = [school_id for school_id in named if school_id not in schools]
    if unknown:
        raise NotFoundError(f"school {unknown[0]} not found")
    results = [_result(district, schools[school_id], sync_id) for school_id, sync_id in named.items()]
    approvals = [
        Approval(school_id=r.school_id, sync_id=r.sync_id, mode="apply_safe")
        for r in results
        if r.result == "applied_safe"
    ]
    name = release_name(approvals, EXECUTION_PREFIX) if approvals else None
    audit_log.record(
        ctx,
        who,
        district_id,
        "apply_safe_changes",
        school_ids=list(named),
        sync_ids=sorted(set(named.values())),
        result="applying" if approvals else "refused",
        detail={"results": {r.school_id: r.result for r in results}} | ({"execution": name} if name else {}),
        per_school={r.school_id: (r.sync_id, r.result) for r in results},
    )
    if name:
        ctx.releases.start(name, district_id, approvals, who.email)
    logger.info("safe changes applying", district_id=district_id, applying=len(approvals), asked=len(results))
    return ApplySafeResponse(results=results)


def _result(district: District, school: School, sync_id: str) -> ApplySafeResult:
    outcome = _outcome(district, school, sync_id)
    pending = school.pending
    safe = pending.safe_changes if pending is not None and outcome == "applied_safe" else None
    return ApplySafeResult(school_id=school.school_id, result=outcome, sync_id=sync_id, safe_changes=safe)


def _outcome(district: District, school: School, sync_id: str) -> ApplySafeOutcome:
    if district.connection is Connection.DISCONNECTED:
        return "disconnected"
    if school.status is not SchoolStatus.ON_HOLD or school.pending_sync_id is None:
        return "not_on_hold"
    if school.pending_sync_id != sync_id:
        return "stale"
    assert school.pending is not None
    return "nothing_safe" if school.pending.safe_changes == 0 else "applied_safe"
