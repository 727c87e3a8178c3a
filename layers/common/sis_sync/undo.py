"""Undo (DESIGN §7): the roster back to the snapshot applied before the school's latest change set,
and that change set pending again, on hold with reason `undone`, for an admin to decide again.

The same machinery as an apply (sis_sync.applying.write_claimed): the writes are claimed as a dirty
entry, written as idempotent whole-item puts in batches, then the pointer, the pending change set
and an audit entry are committed in one transaction. A crash part-way leaves the pointer on the
undone snapshot, so a retry computes the same items and writes them again; should nobody retry, the
next apply puts right whatever the abandoned undo wrote (its dirty entry names the snapshot it was
writing toward).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final, Literal

from sis_sync.applying import (
    Applier,
    ApplyResult,
    RosterMove,
    StalePendingSyncError,
    school_action_entry,
    undo_abandoned,
    write_claimed,
)
from sis_sync.changes import ChangeSet, diff
from sis_sync.changes_csv import linked_student_names, upload_changes_csv
from sis_sync.model import Decision, PendingChange, School, SchoolStatus, SnapshotRef
from sis_sync.observability import logger
from sis_sync.rules import Evaluation, Hold, HoldReason, judge
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Records, Snapshot, encode
from sis_sync.store.roster_table import RosterItem

UNDO_WINDOW: Final = timedelta(days=30)

Refusal = Literal["not_latest", "too_old"]


def undo_name(sync_id: str) -> str:
    """The undo's dirty entry and the `applied_sync_id` of the roster items it writes."""
    return f"undo-{sync_id}"


def undone_csv_key(district_id: str, school_id: str, sync_id: str) -> str:
    return f"changes/{district_id}/{school_id}/{sync_id}-undone.csv"


def refusal(school: School, sync_id: str, now: datetime) -> Refusal | None:
    """Why `sync_id` cannot be undone now, if it cannot: only the school's most recently applied
    change set can, within 30 days of its apply."""
    last = school.last_applied
    if last is None or last.sync_id != sync_id or school.applied is None or school.applied.sync_id != sync_id:
        return "not_latest"
    if school.pending is not None and school.pending.sync_id != sync_id:
        return "not_latest"  # a newer change set is pending (held, or on its way to the roster)
    if now - last.at > UNDO_WINDOW:
        return "too_old"
    return None


def undone(school: School, sync_id: str) -> bool:
    """`sync_id` was undone and still waits for an admin's decision."""
    pending = school.pending
    return (
        pending is not None
        and pending.sync_id == sync_id
        and school.status is SchoolStatus.ON_HOLD
        and any(hold.reason is HoldReason.UNDONE for hold in school.holds)
    )


def reverting_items(change_set: ChangeSet, stamp: str, archived_at: str) -> Iterator[RosterItem]:
    """The puts that take the roster from a change set's new side back to its old one: what it added
    is archived, what it removed comes back (whole-item puts without `archived_at`, so with the ids
    they had), what it updated gets its old fields, and a re-issued id gives way to the old one."""
    for change in change_set:
        if change.kind == "added":
            assert change.record is not None
            yield RosterItem(
                change.record_type, change.clever_id, change.record, stamp, archived_at=archived_at
            )
            continue
        assert change.previous is not None
        if change.kind == "source_id_changed":
            assert change.record is not None
            yield RosterItem(
                change.record_type,
                change.clever_id,
                change.record,
                stamp,
                archived_at=archived_at,
                replaced_by=change.previous_clever_id,
            )
            yield RosterItem(change.record_type, change.previous_clever_id, change.previous, stamp)
            continue
        yield RosterItem(change.record_type, change.clever_id, change.previous, stamp)


def keep_undone(school: School, evaluation: Evaluation) -> Evaluation:
    """A poll while an undone change set waits carries its `undone` hold over to the change set that
    replaces it: undoing means an admin decides, so newer data must not re-apply it unreviewed. No
    change at all (the source went back to the applied roster) still releases the hold."""
    hold = next((h for h in school.holds if h.reason is HoldReason.UNDONE), None)
    if hold is None or school.status is not SchoolStatus.ON_HOLD or not len(evaluation.change_set):
        return evaluation
    return replace(evaluation, holds=(hold, *evaluation.holds))


def undo_applied(
    applier: Applier, district_id: str, school_id: str, sync_id: str, *, actor: str
) -> ApplyResult:
    """Undo the school's applied change set `sync_id` (the release flow's mode `undo`).

    Refuses (StalePendingSyncError, after putting right what an abandoned undo wrote) when `sync_id`
    is no longer the applied change set; a retry after the commit is recognised as done."""
    state = applier.state
    school = state.get_school(district_id, school_id)
    district = state.get_district(district_id)
    if school is None or district is None:
        raise StalePendingSyncError(f"unknown school {school_id}")
    result = ApplyResult(district_id=district_id, school_id=school_id, sync_id=sync_id, outcome="undone")
    if undone(school, sync_id) and undo_name(sync_id) not in school.dirty:
        return result.model_copy(update={"outcome": "already_undone"})
    last = school.last_applied
    if refusal(school, sync_id, applier.now()) == "not_latest" or last is None or school.applied is None:
        return _refuse(applier, school, sync_id)

    applied_ref = school.applied
    applied = applier.snapshots.get(applied_ref.key).records
    before = applier.snapshots.get(last.before.key).records if last.before else None
    target_ref = last.before or _empty_snapshot(applier, school)
    name = undo_name(sync_id)
    if not state.claim_undo(district_id, school_id, name, target_ref, applied_ref.sha256):
        return _refuse(applier, school, sync_id)

    change_set = diff(before, applied)  # the change set being undone, old side first
    # archived_at is fixed per undo: a retry writes the same items
    move = RosterMove(name, applied, before or {}, change_set, last.at.isoformat())

    def commit(written: int) -> bool:
        now = applier.now()
        thresholds = district.settings.thresholds_for(school_id)
        pending, evaluation = _pending_again(applier, school, now, thresholds, before, (applied, change_set))
        # (no actor in the detail: signed e-mail links show holds, and never name the admins who acted)
        holds = [
            Hold(reason=HoldReason.UNDONE, detail={"applied_at": last.at.isoformat()}),
            *evaluation.holds,
        ]
        updated = school.model_copy(
            update={
                "applied": last.before,
                "pending": pending,
                "status": SchoolStatus.ON_HOLD,
                "holds": holds,
                # the admin who undid it is looking at it: its reasons count as told (no hold e-mail)
                "notified_reasons": sorted({hold.reason.value for hold in holds}),
                "changes": dict(evaluation.change_set.summary()) | {"sync_id": sync_id},
                "last_applied": None,
                "safe_applied": None,
            }
        )
        entry = school_action_entry(
            school,
            sync_id,
            at=now,
            actor=actor,
            action="sync_undone",
            result="undone",
            detail={"changes": change_set.summary(), "written": written, "reasons": updated.notified_reasons},
        )
        repaired = sorted({name, *school.dirty})
        return state.commit_undo(updated, applied_ref.sha256, repaired, entry)

    written = write_claimed(
        applier, school, move, reverting_items(change_set, name, move.archived_at), commit
    )
    if written is None:
        return _refuse(applier, state.get_school(district_id, school_id) or school, sync_id)
    logger.info("sync undone", school_id=school_id, sync_id=sync_id, written=written)
    return result.model_copy(update={"written": written})


def _pending_again(
    applier: Applier,
    school: School,
    now: datetime,
    thresholds: HoldThresholds,
    before: Records | None,
    reverted: tuple[Records, ChangeSet],
) -> tuple[PendingChange, Evaluation]:
    """The undone change set as pending, judged by today's rules from the roster it goes back to,
    with its CSV. Normally it is the change set just reverted (`reverted`: its new side and itself);
    when only its safe part had been applied, the whole pending one (then diffed afresh)."""
    assert school.applied is not None
    sync_id = school.applied.sync_id
    held = school.pending if school.pending is not None and school.pending.sync_id == sync_id else None
    ref = SnapshotRef(**(held or school.applied).model_dump(include={"sync_id", "key", "sha256"}))
    new_side, change_set = reverted
    if held is not None:
        new_side = applier.snapshots.get(held.key).records
        change_set = diff(before, new_side)
    evaluation = judge(change_set, before or {}, new_side, thresholds)
    key = undone_csv_key(school.district_id, school.school_id, sync_id)
    students = linked_student_names(change_set, new_side, *((before,) if before else ()))
    upload_changes_csv(applier.s3, applier.snapshots.bucket, key, evaluation, students)
    change = PendingChange(
        **ref.model_dump(),
        decision=Decision.HOLD,
        evaluated_at=now,
        csv_key=key,
        # Apply safe changes would re-apply part of what the admin just took back: all of it waits
        safe_changes=0,
    )
    return change, evaluation


def _empty_snapshot(applier: Applier, school: School) -> SnapshotRef:
    """Undoing a first sync goes back to nothing: an empty snapshot the dirty entry can name."""
    encoded = encode(Snapshot(school.district_id, school.school_id, school.clever_school_id or "", {}))
    key = applier.snapshots.put(school.district_id, school.school_id, encoded)
    return SnapshotRef(sync_id=undo_name("none"), key=key, sha256=encoded.sha256)


def _refuse(applier: Applier, school: School, sync_id: str) -> ApplyResult:
    """`sync_id` is not (or no longer) the applied change set: put right what abandoned writes left."""
    if school.dirty:
        undo_abandoned(applier, school)
    raise StalePendingSyncError(f"{school.school_id}: {sync_id} is not the applied change set")
