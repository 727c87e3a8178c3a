""" "Check for new Clever data", "I fixed it" (reconnect) and what a sync did. Nothing waits for
the sync itself: both start the poll state machine for one (execution name = its sync id) and
answer with that sync id, which the status route then reports on.

One poll per district at a time: the API takes the district's poll lease for the sync it starts
(the poll then holds it until it ends), so a second request while a poll runs answers with the
running sync's id and starts no second pull.
"""

from __future__ import annotations

from typing import Final

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import ConfirmationRequiredError, NotFoundError
from sis_sync.api.identity import Identity
from sis_sync.api.models import (
    ErrorDetail,
    PollRequest,
    ReconnectResponse,
    SyncHistoryEntry,
    SyncHistoryPage,
    SyncHistorySchools,
    SyncRequest,
    SyncSchools,
    SyncStarted,
    SyncStatusView,
)
from sis_sync.clever.client import ConnectionCheck
from sis_sync.model import Connection, ErrorInfo, SchoolOutcome, SyncRun, SyncStatus
from sis_sync.onboarding import TokenDistrictMismatchError
from sis_sync.polling import LEASE, disconnect, sync_id_for
from sis_sync.store.tokens import MissingTokenError

TOKEN_DISTRICT_MISMATCH = TokenDistrictMismatchError.code
SYNC_PAGE_MAX: Final = 50
SYNC_PREFIX: Final = "SYNC#"


def check_now(ctx: ApiContext, who: Identity, district_id: str, request: SyncRequest) -> SyncStarted:
    if not request.confirm:
        raise ConfirmationRequiredError('confirm the sync with {"confirm": true}')
    ctx.require_district(who, district_id)
    if request.school_ids:
        known = {school.school_id for school in ctx.state.schools(district_id)}
        unknown = sorted(set(request.school_ids) - known)
        if unknown:
            raise NotFoundError(f"unknown schools: {', '.join(unknown[:5])}")
    sync_id, already_running = _start_sync(ctx, who, district_id, "manual", request.school_ids)
    return SyncStarted(sync_id=sync_id, already_running=already_running)


def reconnect(ctx: ApiContext, who: Identity, district_id: str) -> ReconnectResponse:
    """Re-test the Clever connection now (a few seconds at most); on success, sync at once.

    Only the connection fields are written (a settings change or a poll's bookkeeping saved
    meanwhile stays as saved). A token that reads another Clever district is refused."""
    district = ctx.require_district(who, district_id)
    check = _check_connection(ctx, district_id)
    now = ctx.now()
    if check.ok and check.district_id != district.clever_district_id:
        check = ConnectionCheck(
            ok=False,
            code=TOKEN_DISTRICT_MISMATCH,
            detail=f"the district's Clever token reads Clever district {check.district_id},"
            f" not {district.clever_district_id}",
        )
    if not check.ok:
        code = check.code or "unavailable"
        message = check.detail[:500] or "Clever could not be reached"
        error = ErrorInfo(code=code, message=message, at=now)
        if district.connection is Connection.DISCONNECTED:
            ctx.state.update_district(
                district_id, last_error=error, only_if={"connection": Connection.DISCONNECTED}
            )
        elif code == TOKEN_DISTRICT_MISMATCH:  # disconnected at once, audited (DESIGN §7)
            ctx.state.update_district(district_id, last_error=error)
            disconnect(ctx.state, lambda *_: None, district_id, f"reconnect-{now:%Y%m%dT%H%M%S}Z", at=now)
        audit_log.record(ctx, who, district_id, "reconnect", result="failed", detail={"code": code})
        return ReconnectResponse(
            connection=Connection.DISCONNECTED, error=ErrorDetail(code=code, message=message)
        )
    ctx.state.mark_connected(district_id)
    audit_log.record(ctx, who, district_id, "reconnect", result="connected")
    sync_id, already_running = _start_sync(ctx, who, district_id, "reconnect", None)
    return ReconnectResponse(
        connection=Connection.CONNECTED, sync_id=sync_id, already_running=already_running
    )


def sync_status(ctx: ApiContext, who: Identity, district_id: str, sync_id: str) -> SyncStatusView:
    """What the sync did: from its run and the decision recorded for each school it changed."""
    ctx.require_district(who, district_id)
    run = ctx.state.get_sync_run(district_id, sync_id)
    if run is None:
        raise NotFoundError(f"sync {sync_id} not found")
    status, error, schools = _what_it_did(ctx, run)
    return SyncStatusView(sync_id=sync_id, status=status, error=error, schools=schools)


def sync_history(
    ctx: ApiContext, who: Identity, district_id: str, limit: int, cursor: str | None
) -> SyncHistoryPage:
    """The district's syncs, newest first: when, why, how it ended and what it did to which schools
    (one Query for the page, one per sync for its schools' outcomes)."""
    ctx.require_district(who, district_id)
    after = audit_log.decode_cursor(cursor, prefix=SYNC_PREFIX) if cursor else None
    runs, next_sk = ctx.state.sync_run_page(district_id, limit=min(max(limit, 1), SYNC_PAGE_MAX), after=after)
    entries = []
    for run in runs:
        status, error, schools = _what_it_did(ctx, run)
        entries.append(
            SyncHistoryEntry(
                sync_id=run.sync_id,
                trigger=run.trigger,
                started_at=run.started_at,
                finished_at=run.finished_at,
                status=status,
                error=error,
                schools=SyncHistorySchools(
                    held=schools.held,
                    applied=schools.applied,
                    released=schools.released,
                    unchanged=len(schools.unchanged),
                ),
            )
        )
    return SyncHistoryPage(syncs=entries, next_cursor=audit_log.encode_cursor(next_sk) if next_sk else None)


def _what_it_did(ctx: ApiContext, run: SyncRun) -> tuple[SyncStatus, ErrorDetail | None, SyncSchools]:
    schools = SyncSchools(unchanged=sorted(run.unchanged_school_ids))
    settled = 0
    for outcome in sorted(ctx.state.outcomes(run.district_id, run.sync_id), key=lambda o: o.school_id):
        settled += outcome.settled
        if outcome.outcome is SchoolOutcome.HELD:
            schools.held.append(outcome.school_id)
        elif outcome.outcome is SchoolOutcome.RELEASED:
            schools.released.append(outcome.school_id)
        elif outcome.outcome is SchoolOutcome.UNCHANGED:
            schools.unchanged.append(outcome.school_id)
        elif outcome.outcome is SchoolOutcome.APPLYING and outcome.applied:
            schools.applied.append(outcome.school_id)
    schools.unchanged.sort()
    status, error = _status(run, settled)
    return status, error, schools


def _status(run: SyncRun, settled: int) -> tuple[SyncStatus, ErrorDetail | None]:
    """Running until the poll and every changed school's evaluation (and apply) are done."""
    if run.status is SyncStatus.FAILED:
        error = run.error
        return SyncStatus.FAILED, ErrorDetail(code=error.code, message=error.message) if error else None
    if run.status is SyncStatus.RUNNING:
        return SyncStatus.RUNNING, None
    if run.last_error is not None and not run.failed_schools:  # the evaluate flow itself failed
        message = f"processing the changed schools failed ({run.last_error.get('error', 'error')})"
        return SyncStatus.FAILED, ErrorDetail(code="evaluation_failed", message=message)
    if settled + len(run.failed_schools) < run.changed_count:
        return SyncStatus.RUNNING, None
    if run.failed_schools:
        failed = sorted(run.failed_schools)
        message = f"{len(failed)} schools could not be processed: {', '.join(failed[:5])}"
        return SyncStatus.FAILED, ErrorDetail(code="schools_failed", message=message)
    return SyncStatus.SUCCEEDED, None


def _start_sync(
    ctx: ApiContext, who: Identity, district_id: str, trigger: str, school_ids: list[str] | None
) -> tuple[str, bool]:
    """The sync id started, or that of the poll already running (True)."""
    now = ctx.now()
    sync_id = sync_id_for(district_id, now)
    holder = ctx.state.take_poll_lease(district_id, sync_id, now=now, until=now + LEASE, again=False)
    action = "check_now" if trigger == "manual" else "sync_after_reconnect"
    if holder is not None:
        audit_log.record(
            ctx,
            who,
            district_id,
            action,
            school_ids=school_ids or [],
            sync_ids=[holder],
            result="already_running",
        )
        return holder, True
    # stored as running at once, so that its status can be asked for before the poll starts
    ctx.state.put_sync_run(SyncRun(district_id=district_id, sync_id=sync_id, trigger=trigger, started_at=now))
    try:
        ctx.polls.start(
            PollRequest(district_id=district_id, sync_id=sync_id, trigger=trigger, school_ids=school_ids)
        )
    except Exception:
        error = ErrorInfo(code="not_started", message="the poll could not be started", at=now)
        ctx.state.put_sync_run(
            SyncRun(
                district_id=district_id,
                sync_id=sync_id,
                trigger=trigger,
                started_at=now,
                finished_at=now,
                status=SyncStatus.FAILED,
                error=error,
            )
        )
        ctx.state.release_poll_lease(district_id, sync_id)
        raise
    audit_log.record(
        ctx, who, district_id, action, school_ids=school_ids or [], sync_ids=[sync_id], result="started"
    )
    return sync_id, False


def _check_connection(ctx: ApiContext, district_id: str) -> ConnectionCheck:
    try:
        token = ctx.tokens.get(district_id)
    except MissingTokenError:
        return ConnectionCheck(ok=False, code="no_token", detail="no Clever token is stored for the district")
    with ctx.clever(token) as client:
        return client.check_connection()
