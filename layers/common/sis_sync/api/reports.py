"""The admin API's read models: the caller, a district, its schools, a school's SIS sync report
(with its history and where its changes CSV is), the changes CSV itself and roster counts."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from urllib.parse import quote

from sis_sync.api import school_pages
from sis_sync.api.adapters import StoredCsv
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import NotFoundError
from sis_sync.api.identity import Identity, Role
from sis_sync.api.models import (
    SCHOOL_PAGE_DEFAULT,
    SCHOOL_PAGE_MAX,
    ChangesKind,
    ChangeTotals,
    CleverPauseView,
    DistrictView,
    HoldView,
    LastError,
    Me,
    QuarantinedView,
    QuarantineReport,
    RosterCounts,
    RosterView,
    SchoolList,
    SchoolReport,
    SchoolSort,
    SchoolView,
)
from sis_sync.api.undo import undo_view
from sis_sync.model import CleverPause, Decision, District, School, SchoolStatus, SyncRun
from sis_sync.polling import status_of
from sis_sync.snapshot import RecordType
from sis_sync.store.state_table import SchoolSummary

HISTORY_LIMIT: Final = 20
PLURAL: Final[dict[RecordType, str]] = {
    "student": "students",
    "teacher": "teachers",
    "staff": "staff",
    "contact": "contacts",
    "section": "sections",
}


# --- who / which district ----------------------------------------------------------------------


def me(ctx: ApiContext, who: Identity) -> Me:
    if who.role is Role.OPERATOR:
        district_ids = ctx.state.district_ids()
    else:
        district_ids = [who.district_id] if who.district_id else []
    return Me(email=who.email, role=who.role.value, district_ids=district_ids)


def district(ctx: ApiContext, who: Identity, district_id: str) -> DistrictView:
    return district_view(ctx.require_district(who, district_id))


# --- schools -----------------------------------------------------------------------------------


def schools(
    ctx: ApiContext,
    who: Identity,
    district_id: str,
    status: SchoolStatus | None = None,
    *,
    sort: SchoolSort = SchoolSort.STATUS,
    limit: int = SCHOOL_PAGE_DEFAULT,
    cursor: str | None = None,
) -> SchoolList:
    """A page of the district's schools. One paged Query reads what every school is sorted and
    filtered on (a few thousand schools at most), sorted in memory; only the page's schools are
    read whole (BatchGetItem) and become views."""
    found = ctx.require_district(who, district_id)
    after = school_pages.decode(cursor, sort, status) if cursor else None
    listed = [
        (school_pages.Listed(s.school_id, s.name, shown_status(s, found), s.last_synced_at), s.school_id)
        for s in ctx.state.school_summaries(district_id)
    ]
    page = school_pages.page_of(
        listed, status=status, sort=sort, limit=min(max(limit, 1), SCHOOL_PAGE_MAX), after=after
    )
    whole = ctx.state.get_schools(district_id, page.items)
    return SchoolList(
        schools=[school_view(whole[school_id], found) for school_id in page.items if school_id in whole],
        next_cursor=page.next_cursor,
        total=page.total,
        counts=page.counts,
    )


def shown_status(summary: SchoolSummary, district: District) -> SchoolStatus:
    """The status the dashboard shows for a listed school (`status_of`, from its summary)."""
    return status_of(School(district_id=district.district_id, **summary.model_dump()), district)


def school_report(ctx: ApiContext, who: Identity, district_id: str, school_id: str) -> SchoolReport:
    found = ctx.require_district(who, district_id)
    return report(ctx, found, ctx.require_school(district_id, school_id))


def report(ctx: ApiContext, district: District, school: School, *, history: bool = True) -> SchoolReport:
    view = school_view(school, district)
    counted = school.changes if view.changes_kind != "none" else {}
    by_type = {
        record_type: ChangeTotals.model_validate(counts)
        for record_type, counts in (counted.get("by_type") or {}).items()
    }
    examples = [
        {"reason": hold.reason.value} | example
        for hold in school.holds
        for example in hold.detail.get("examples", [])
        if isinstance(example, dict)
    ]
    entries = (
        ctx.state.audit_entries_of_school(district.district_id, school.school_id, limit=HISTORY_LIMIT)
        if history
        else []
    )
    csv_url = None
    if school.pending is not None:
        csv_url = (
            f"/v1/districts/{quote(district.district_id, safe='')}"
            f"/schools/{quote(school.school_id, safe='')}/changes.csv"
        )
    latest = (
        ctx.state.get_sync_run(district.district_id, district.last_sync_id) if district.last_sync_id else None
    )
    return SchoolReport(
        **view.model_dump(),
        by_type=by_type,
        examples=examples,
        history=entries,
        csv_url=csv_url,
        quarantine=quarantine_report(latest, school.clever_school_id) if latest else None,
        undo=undo_view(school, ctx.now()) if history else None,
    )


def quarantine_report(run: SyncRun, clever_school_id: str | None = None) -> QuarantineReport:
    """What `run` set aside; with a Clever school id, only the records of that school and those
    with no school at all (a staff member whose `schools` became `[]` is in every report)."""
    return QuarantineReport(
        sync_id=run.sync_id,
        counts=run.quarantine,
        multi_role=run.multi_role,
        records=[
            QuarantinedView.model_validate(entry.model_dump())
            for entry in run.quarantined
            if clever_school_id is None
            or not entry.clever_school_ids
            or clever_school_id in entry.clever_school_ids
        ],
    )


def changes_csv(ctx: ApiContext, who: Identity, district_id: str, school_id: str) -> StoredCsv:
    ctx.require_district(who, district_id)
    school = ctx.require_school(district_id, school_id)
    if school.pending is None:
        raise NotFoundError(f"school {school_id} has no pending change set")
    stored = ctx.csv.read(school.pending.csv_key)
    if stored is None:
        raise NotFoundError(f"the change set of school {school_id} is no longer available")
    return stored


def roster_counts(ctx: ApiContext, who: Identity, district_id: str, school_id: str) -> RosterView:
    ctx.require_district(who, district_id)
    ctx.require_school(district_id, school_id)
    active, archived = ctx.roster.counts(district_id, school_id)
    return RosterView(
        counts=RosterCounts.model_validate({PLURAL[t]: n for t, n in active.items()}),
        archived=RosterCounts.model_validate({PLURAL[t]: n for t, n in archived.items()}),
    )


# --- views -------------------------------------------------------------------------------------


def district_view(district: District) -> DistrictView:
    last_error = LastError.model_validate(district.last_error.model_dump()) if district.last_error else None
    return DistrictView(
        district_id=district.district_id,
        name=district.name,
        connection=district.connection,
        last_error=last_error,
        last_sync_at=district.last_sync_at,
        settings=district.settings,
        clever_pause=_pause_view(district.clever_pause),
    )


def _pause_view(pause: CleverPause | None) -> CleverPauseView | None:
    if pause is None:
        return None
    return CleverPauseView(
        paused=pause.active, pause_start=pause.start, pause_end=pause.end, first_sync_id=pause.first_sync_id
    )


def changes_kind(school: School) -> tuple[ChangesKind, datetime | None]:
    """What the school's stored change summary counts now, and since when. Evaluation writes the
    summary with the pending change set (naming its sync; summaries stored before did not); one
    that is neither held, being applied, nor the applied one (a hold that released itself when
    Clever's data went back to what is applied) counts nothing."""
    summarised = school.changes.get("sync_id")
    pending = school.pending
    if pending is not None and summarised in (None, pending.sync_id):
        if pending.decision is Decision.HOLD and school.status is SchoolStatus.ON_HOLD:
            return "pending", pending.evaluated_at
        if pending.decision is Decision.APPLY:
            return "applying", pending.evaluated_at
    if pending is None and school.applied is not None and school.applied.sync_id == summarised:
        return "last_applied", school.last_synced_at
    return "none", None


def school_view(school: School, district: District) -> SchoolView:
    kind, at = changes_kind(school)
    counted = school.changes if kind != "none" else {}
    totals = {name: int(counted.get(name, 0)) for name in ChangeTotals.model_fields}
    return SchoolView(
        school_id=school.school_id,
        name=school.name,
        clever_school_id=school.clever_school_id,
        status=status_of(school, district),
        holds=[HoldView(reason=hold.reason.value, detail=hold.detail) for hold in school.holds],
        pending_sync_id=school.pending_sync_id,
        last_synced_at=school.last_synced_at,
        changes=ChangeTotals.model_validate(totals),
        changes_kind=kind,
        changes_at=at,
        safe_changes=school.pending.safe_changes if kind == "pending" and school.pending else None,
    )
