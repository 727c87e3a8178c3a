"""Clear holds: approve the pending change sets of schools. Nothing waits for long work here:
one release execution per request applies the approved change sets in the background."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import InvalidRequestError, NotFoundError, StaleSyncIdError
from sis_sync.api.identity import Identity
from sis_sync.api.models import ClearItem, ClearOutcome, ClearRequest, ClearResponse, ClearResult
from sis_sync.model import Connection, District, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.store.releases import Approval, ReleaseHistory
from sis_sync.store.state_table import HoldState

_EXECUTION_NAME_UNSAFE: Final = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class ReleaseAction:
    """An admin action that starts the release flow: how it is audited and its execution named."""

    action: str  # the audit entry's action
    started: str  # the entry's result when a release started ("refused" when none did)
    prefix: str  # the execution's name prefix
    name_key: str  # the detail field naming the execution


CLEAR_HOLDS: Final = ReleaseAction(
    action="clear_holds", started="released", prefix="release", name_key="release"
)


def clear_holds(ctx: ApiContext, who: Identity, district_id: str, request: ClearRequest) -> ClearResponse:
    """Approve the named change sets still held, with one release execution over all of them.

    The schools are read in batches and each result decided up front (an unknown school refuses
    the whole request); the action is audited before the release starts, so it is on record even
    if the start fails; then one manifest and one execution start, and the answer comes at once:
    `released` means "its release started" (it applies in the background, a school at a time per
    Map iteration). While the district is disconnected nothing is released: every result is
    `disconnected` (DESIGN §1). Releasing nothing because every named change set moved on is a
    conflict (409)."""
    district = ctx.require_district(who, district_id)
    named, schools = named_schools(ctx, district_id, request.schools, also="undone_applied_at")
    results = [
        ClearResult(
            school_id=school_id, result=_clear_outcome(district, schools[school_id], sync_id), sync_id=sync_id
        )
        for school_id, sync_id in named.items()
    ]
    approvals = [
        Approval(school_id=r.school_id, sync_id=r.sync_id, again=approved_again(schools[r.school_id]))
        for r in results
        if r.result == "released"
    ]
    start_release(
        ctx, who, district_id, CLEAR_HOLDS, {r.school_id: (r.sync_id, r.result) for r in results}, approvals
    )
    logger.info("holds cleared", district_id=district_id, released=len(approvals), asked=len(results))
    if not approvals and any(r.result == "stale" for r in results):
        raise StaleSyncIdError(
            "the change sets named are no longer pending: review the newest one",
            [r.model_dump() for r in results],
        )
    return ClearResponse(results=results)


def named_schools(
    ctx: ApiContext,
    district_id: str,
    items: list[ClearItem],
    *,
    also: Literal["undone_applied_at", "safe_changes"],
) -> tuple[dict[str, str], dict[str, HoldState]]:
    """The sync id named for each school, and each school as it stands (read in batches, only what
    deciding needs: `also` when its undone change set had been applied, or its safe changes). A
    school named twice or not found refuses the whole request."""
    named = {item.school_id: item.sync_id for item in items}
    if len(named) != len(items):
        raise InvalidRequestError("a school is named twice")
    schools = ctx.state.hold_states(district_id, named, also=[also])
    unknown = [school_id for school_id in named if school_id not in schools]
    if unknown:
        raise NotFoundError(f"school {unknown[0]} not found")
    return named, schools


def start_release(
    ctx: ApiContext,
    who: Identity,
    district_id: str,
    kind: ReleaseAction,
    outcomes: Mapping[str, tuple[str, str]],
    approvals: list[Approval],
) -> str | None:
    """Audit the action, then start one release execution over `approvals`, if any: audited first,
    so that it is on record even if the start fails. `outcomes`: school id -> (the sync id named,
    the school's result), every school named; each school's history gets its own: a refused
    school's written here, an approved school's by the release's first step (so that the request's
    writes do not grow with the schools released)."""
    name = release_name(approvals, kind.prefix) if approvals else None
    entry, key = audit_log.record(
        ctx,
        who,
        district_id,
        kind.action,
        school_ids=list(outcomes),
        sync_ids=sorted({sync_id for sync_id, _ in outcomes.values()}),
        result=kind.started if approvals else "refused",
        detail={"results": {school_id: result for school_id, (_, result) in outcomes.items()}}
        | ({kind.name_key: name} if name else {}),
        per_school=outcomes,
        deferred=[approval.school_id for approval in approvals],
    )
    if name:
        history = ReleaseHistory(
            action=kind.action,
            actor=entry.actor,
            at=entry.at,
            result=outcomes[approvals[0].school_id][1],  # every approved school's is the same
            key=key,
        )
        ctx.releases.start(name, district_id, approvals, who.email, history)
    return name


def release_name(approvals: list[Approval], prefix: str = "release") -> str:
    """The execution of these approvals: the same approvals start it once (a repeated click starts
    nothing new). One school keeps its readable name; many are named by a digest of them all.
    Apply safe changes names its executions `apply-safe-…`, so that a Clear holds of the same
    change set afterwards is a new execution, not the finished one."""
    if len(approvals) == 1:
        [one] = approvals
        return release_execution_name(one.school_id, one.sync_id + one.again, prefix)
    pairs = sorted(f"{a.school_id}\n{a.sync_id}{a.again}" for a in approvals)
    digest = hashlib.sha256("\n\n".join(pairs).encode()).hexdigest()[:40]
    return f"{prefix}-{len(approvals)}-schools-{digest}"


def release_execution_name(school_id: str, sync_id: str, prefix: str = "release") -> str:
    """`release-<school>-<sync>`: the execution of one school's approval.
    Step Functions allows 80 characters of [0-9A-Za-z_-]; anything else falls back to a digest."""
    name = f"{prefix}-{school_id}-{sync_id}"
    if len(name) <= 80 and not _EXECUTION_NAME_UNSAFE.search(name):
        return name
    digest = hashlib.sha256(f"{school_id}\n{sync_id}".encode()).hexdigest()[:40]
    return f"{prefix}-{digest}"


def approved_again(school: School | HoldState) -> str:
    """`-u<when>` for a change set an admin undid (it may have been released under its plain name
    before), else "": a Clear holds after an Undo must start a new execution, not find the old one."""
    if school.undone_applied_at is None:
        return ""
    return "-u" + re.sub(r"[^0-9]", "", school.undone_applied_at)[:20]


def _clear_outcome(district: District, school: HoldState, sync_id: str) -> ClearOutcome:
    if district.connection is Connection.DISCONNECTED:
        return "disconnected"
    if school.status is not SchoolStatus.ON_HOLD or school.pending_sync_id is None:
        return "not_on_hold"
    return "released" if school.pending_sync_id == sync_id else "stale"
