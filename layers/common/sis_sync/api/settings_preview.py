"""Threshold preview (issue 12): before an admin saves new thresholds, what they would have held.

For each school, its pending change set and its last three applied ones (found in its history) are
read as evaluation stored them and judged under the thresholds in force and under the proposed
ones, by the rules that decide holds. Nothing is written. Schools are read concurrently: for a
district of 1,800 schools the S3 and DynamoDB round trips, not the judging, take the time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final, Literal

from sis_sync.api.context import ApiContext
from sis_sync.api.identity import Identity
from sis_sync.api.models import (
    ChangeSetPreview,
    PreviewEffect,
    PreviewSummary,
    SchoolPreview,
    SettingsPatch,
    SettingsPreview,
    VerdictView,
)
from sis_sync.api.settings_update import proposed_settings
from sis_sync.model import Decision, District, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.preview import Compared, StoredChangeSet, Verdict, compare, decode_change_set
from sis_sync.settings import DistrictSettings

APPLIED_LOOKBACK: Final = 3
HISTORY_READ: Final = 50  # history entries read per school to find its last applied change sets
WORKERS: Final = 16
Happened = Literal["on_hold", "applying", "applied", "released"]
_APPLIED_BY: Final[dict[str, Happened]] = {"sync_applied": "applied", "hold_released": "released"}


def preview_settings(
    ctx: ApiContext, who: Identity, district_id: str, patch: SettingsPatch
) -> SettingsPreview:
    """422 for a patch a save would refuse (the same validation); otherwise every school's verdicts."""
    district = ctx.require_district(who, district_id)
    proposed = proposed_settings(ctx, district_id, district.settings, patch)
    schools = [
        school for school in ctx.state.schools(district_id) if school.status is not SchoolStatus.NOT_CONNECTED
    ]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        previews = list(pool.map(lambda school: _school_preview(ctx, district, proposed, school), schools))
    summary = _summary(previews)
    logger.info(
        "settings previewed",
        district_id=district_id,
        schools=summary.schools,
        newly_held=summary.newly_held,
        no_longer_held=summary.no_longer_held,
    )
    return SettingsPreview(settings=proposed, summary=summary, schools=previews)


def _school_preview(
    ctx: ApiContext, district: District, proposed: DistrictSettings, school: School
) -> SchoolPreview:
    listed = _change_sets_of(ctx, school)

    def read(sync_id: str) -> StoredChangeSet | None:
        body = ctx.change_sets.get(school.district_id, school.school_id, sync_id)
        return decode_change_set(body) if body is not None else None

    compared = compare(
        listed,
        read,
        district.settings.thresholds_for(school.school_id),
        proposed.thresholds_for(school.school_id),
    )
    return SchoolPreview(
        school_id=school.school_id,
        name=school.name,
        status=school.status,
        change_sets=[
            ChangeSetPreview(
                sync_id=one.sync_id,
                happened=listed[one.sync_id],
                current=_view(one.current),
                proposed=_view(one.proposed),
                effect=_effect(one),
            )
            for one in compared
        ],
        held_now=any(one.current and one.current.held for one in compared),
        held_proposed=any(one.proposed and one.proposed.held for one in compared),
    )


def _change_sets_of(ctx: ApiContext, school: School) -> dict[str, Happened]:
    """The pending change set, then the last applied ones, newest first (a change set undone and
    applied again counts once; one undone and pending again is the pending one)."""
    listed: dict[str, Happened] = {}
    if school.pending is not None:
        listed[school.pending.sync_id] = "on_hold" if school.pending.decision is Decision.HOLD else "applying"
    applied = 0
    for entry in ctx.state.audit_entries_of_school(school.district_id, school.school_id, limit=HISTORY_READ):
        happened = _APPLIED_BY.get(entry.action)
        if happened is None or entry.result != "applied":
            continue
        for sync_id in entry.sync_ids:
            if sync_id not in listed and applied < APPLIED_LOOKBACK:
                listed[sync_id] = happened
                applied += 1
        if applied >= APPLIED_LOOKBACK:
            break
    return listed


def _view(verdict: Verdict | None) -> VerdictView | None:
    if verdict is None:
        return None
    return VerdictView(held=verdict.held, reasons=[reason.value for reason in verdict.reasons])


def _effect(compared: Compared) -> PreviewEffect:
    now, then = compared.current, compared.proposed
    if now is None or then is None:
        return "unknown"
    if then.held and not now.held:
        return "newly_held"
    if now.held and not then.held:
        return "no_longer_held"
    return "reasons_changed" if set(now.reasons) != set(then.reasons) else "same"


def _summary(previews: list[SchoolPreview]) -> PreviewSummary:
    effects = [{one.effect for one in school.change_sets} for school in previews]
    every = [one for school in previews for one in school.change_sets]
    return PreviewSummary(
        schools=len(previews),
        held_now=sum(school.held_now for school in previews),
        held_proposed=sum(school.held_proposed for school in previews),
        newly_held=sum("newly_held" in found for found in effects),
        no_longer_held=sum("no_longer_held" in found for found in effects),
        change_sets=len(every),
        unknown=sum(one.effect == "unknown" for one in every),
    )
