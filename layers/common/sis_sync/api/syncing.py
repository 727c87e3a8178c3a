""" "Check for new Clever data" and "I fixed it" (reconnect). Nothing waits for the sync itself:
both ask poll_clever for one (asynchronously) and answer with its sync id."""

from __future__ import annotations

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import ConfirmationRequiredError, NotFoundError
from sis_sync.api.identity import Identity
from sis_sync.api.models import ErrorDetail, PollRequest, ReconnectResponse, SyncRequest, SyncStarted
from sis_sync.clever.client import ConnectionCheck
from sis_sync.model import Connection, ErrorInfo
from sis_sync.polling import sync_id_for
from sis_sync.store.tokens import MissingTokenError


def check_now(ctx: ApiContext, who: Identity, district_id: str, request: SyncRequest) -> SyncStarted:
    if not request.confirm:
        raise ConfirmationRequiredError('confirm the sync with {"confirm": true}')
    ctx.require_district(who, district_id)
    if request.school_ids:
        known = {school.school_id for school in ctx.state.schools(district_id)}
        unknown = sorted(set(request.school_ids) - known)
        if unknown:
            raise NotFoundError(f"unknown schools: {', '.join(unknown[:5])}")
    sync_id = _start_sync(ctx, who, district_id, "manual", request.school_ids)
    return SyncStarted(sync_id=sync_id)


def reconnect(ctx: ApiContext, who: Identity, district_id: str) -> ReconnectResponse:
    """Re-test the Clever connection now (a few seconds at most); on success, sync at once."""
    district = ctx.require_district(who, district_id)
    check = _check_connection(ctx, district_id)
    now = ctx.now()
    if not check.ok:
        code = check.code or "unavailable"
        message = check.detail[:500] or "Clever could not be reached"
        if district.connection is Connection.DISCONNECTED:
            error = ErrorInfo(code=code, message=message, at=now)
            ctx.state.put_district(district.model_copy(update={"last_error": error}))
        audit_log.record(ctx, who, district_id, "reconnect", result="failed", detail={"code": code})
        return ReconnectResponse(
            connection=Connection.DISCONNECTED, error=ErrorDetail(code=code, message=message)
        )
    ctx.state.put_district(
        district.model_copy(
            update={"connection": Connection.CONNECTED, "consecutive_failures": 0, "last_error": None}
        )
    )
    audit_log.record(ctx, who, district_id, "reconnect", result="connected")
    sync_id = _start_sync(ctx, who, district_id, "reconnect", None)
    return ReconnectResponse(connection=Connection.CONNECTED, sync_id=sync_id)


def _start_sync(
    ctx: ApiContext, who: Identity, district_id: str, trigger: str, school_ids: list[str] | None
) -> str:
    sync_id = sync_id_for(district_id, ctx.now())
    ctx.polls.start(
        PollRequest(district_id=district_id, sync_id=sync_id, trigger=trigger, school_ids=school_ids)
    )
    audit_log.record(
        ctx,
        who,
        district_id,
        "check_now" if trigger == "manual" else "sync_after_reconnect",
        school_ids=school_ids or [],
        sync_ids=[sync_id],
        result="started",
    )
    return sync_id


def _check_connection(ctx: ApiContext, district_id: str) -> ConnectionCheck:
    try:
        token = ctx.tokens.get(district_id)
    except MissingTokenError:
        return ConnectionCheck(ok=False, code="no_token", detail="no Clever token is stored for the district")
    with ctx.clever(token) as client:
        return client.check_connection()
