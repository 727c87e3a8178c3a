"""Undo (DESIGN §7): take back a school's most recently applied change set, within 30 days.

The same machinery as Clear holds: the request is checked, audited before anything starts, then one
release execution (mode `undo`) reverts the roster in the background, resumably; the change set is
then pending again, on hold with reason `undone`, and Clear holds applies it again.
"""

from __future__ import annotations

import re
from datetime import datetime

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import NotLatestError, TooOldError
from sis_sync.api.holds import release_name
from sis_sync.api.identity import Identity
from sis_sync.api.models import ChangeTotals, UndoRequest, UndoResponse, UndoView
from sis_sync.model import School
from sis_sync.observability import logger
from sis_sync.store.releases import Approval
from sis_sync.undo import UNDO_WINDOW, refusal

EXECUTION_PREFIX = "undo"


def undo_sync(
    ctx: ApiContext, who: Identity, district_id: str, school_id: str, request: UndoRequest
) -> UndoResponse:
    """Start undoing `request.sync_id` at the school: 202 when started (a repeated click while it
    runs finds the same execution), 409 `not_latest` / `too_old` when it cannot be undone."""
    ctx.require_district(who, district_id)
    school = ctx.require_school(district_id, school_id)
    sync_id = request.sync_id
    refused = refusal(school, sync_id, ctx.now())
    approval = None if refused else _approval(school, sync_id)
    name = release_name([approval], EXECUTION_PREFIX) if approval else None
    audit_log.record(
        ctx,
        who,
        district_id,
        "undo_sync",
        school_ids=[school_id],
        sync_ids=[sync_id],
        result=refused or "undoing",
        detail={"execution": name} if name else {},
    )
    if refused == "not_latest":
        raise NotLatestError(f"{sync_id} is not the most recently applied change set of school {school_id}")
    if refused == "too_old":
        raise TooOldError(f"{sync_id} was applied more than {UNDO_WINDOW.days} days ago")
    assert approval is not None
    assert name is not None
    ctx.releases.start(name, district_id, [approval], who.email)
    logger.info("undo started", district_id=district_id, school_id=school_id, sync_id=sync_id)
    return UndoResponse(school_id=school_id, sync_id=sync_id, result="undoing")


def undo_view(school: School, now: datetime) -> UndoView | None:
    """What the school report offers to undo, if anything: the change set `refusal` would accept."""
    last = school.last_applied
    if last is None or refusal(school, last.sync_id, now) is not None:
        return None
    counted = school.changes if school.changes.get("sync_id") == last.sync_id else None
    return UndoView(
        sync_id=last.sync_id,
        applied_at=last.at,
        until=last.at + UNDO_WINDOW,
        changes=ChangeTotals.model_validate(counted) if counted else None,
    )


def _approval(school: School, sync_id: str) -> Approval:
    """The same applied change set is undone once per apply: a re-applied one can be undone again."""
    assert school.last_applied is not None
    applied_at = re.sub(r"[^0-9]", "", school.last_applied.at.isoformat())[:20]
    return Approval(school_id=school.school_id, sync_id=sync_id, mode="undo", again=f"-a{applied_at}")
