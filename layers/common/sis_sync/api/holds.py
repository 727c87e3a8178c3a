"""Clear holds: approve the pending change sets of schools. Nothing waits for long work here:
each approval starts a release execution, which applies the change set in the background."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import InvalidRequestError, StaleSyncIdError
from sis_sync.api.identity import Identity
from sis_sync.api.models import ClearOutcome, ClearRequest, ClearResponse, ClearResult
from sis_sync.model import Connection, District, School, SchoolStatus
from sis_sync.observability import logger

_EXECUTION_NAME_UNSAFE: Final = re.compile(r"[^0-9A-Za-z_-]")


def clear_holds(ctx: ApiContext, who: Identity, district_id: str, request: ClearRequest) -> ClearResponse:
    """Start one release execution per school whose named change set is still the held one.

    Every school is looked up before anything starts (an unknown school refuses the whole
    request); nothing is applied here. While the district is disconnected nothing is released:
    every school's result is `disconnected` (DESIGN §1: nothing is applied while disconnected).
    Releasing nothing because every named change set moved on is a conflict (409)."""
    district = ctx.require_district(who, district_id)
    named = {item.school_id: item.sync_id for item in request.schools}
    if len(named) != len(request.schools):
        raise InvalidRequestError("a school is named twice")
    schools = {school_id: ctx.require_school(district_id, school_id) for school_id in named}
    results: list[ClearResult] = []
    for school_id, sync_id in named.items():
        outcome = _clear_outcome(district, schools[school_id], sync_id)
        if outcome == "released":
            ctx.releases.start(
                release_execution_name(school_id, sync_id),
                {
                    "district_id": district_id,
                    "sync_id": sync_id,
                    "school_id": school_id,
                    "approved_by": who.email,
                },
                retry_failed=True,  # a release that failed can be approved again
            )
        results.append(ClearResult(school_id=school_id, result=outcome, sync_id=sync_id))
    released = [r for r in results if r.result == "released"]
    audit_log.record(
        ctx,
        who,
        district_id,
        "clear_holds",
        school_ids=list(named),
        sync_ids=sorted(set(named.values())),
        result="released" if released else "refused",
        detail={"results": {r.school_id: r.result for r in results}},
    )
    logger.info("holds cleared", district_id=district_id, released=len(released), asked=len(results))
    if not released and any(r.result == "stale" for r in results):
        raise StaleSyncIdError(
            "the change sets named are no longer pending: review the newest one",
            [r.model_dump() for r in results],
        )
    return ClearResponse(results=results)


def release_execution_name(school_id: str, sync_id: str) -> str:
    """`release-<school>-<sync>`: one execution per approval (a repeated click starts nothing new).
    Step Functions allows 80 characters of [0-9A-Za-z_-]; anything else falls back to a digest."""
    name = f"release-{school_id}-{sync_id}"
    if len(name) <= 80 and not _EXECUTION_NAME_UNSAFE.search(name):
        return name
    digest = hashlib.sha256(f"{school_id}\n{sync_id}".encode()).hexdigest()[:40]
    return f"release-{digest}"


def _clear_outcome(district: District, school: School, sync_id: str) -> ClearOutcome:
    if district.connection is Connection.DISCONNECTED:
        return "disconnected"
    if school.status is not SchoolStatus.ON_HOLD or school.pending_sync_id is None:
        return "not_on_hold"
    return "released" if school.pending_sync_id == sync_id else "stale"
