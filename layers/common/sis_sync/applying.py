"""Applying a school's pending change set to the roster table, resumably.

Every roster item is written first (idempotent whole-item puts, batched); only then does the
school's applied-snapshot pointer move, with its status and an audit entry, in one transaction.
A crash or timeout part-way leaves the pointer where it was, so the retry recomputes the same
change set and writes the same items: the table ends exactly as after one clean run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from sis_sync.changes import Change, ChangeSet, diff
from sis_sync.changes_csv import linked_student_names, upload_changes_csv
from sis_sync.model import (
    AppliedChange,
    AuditEntry,
    Decision,
    PendingChange,
    SafeApplied,
    School,
    SchoolStatus,
    SnapshotRef,
)
from sis_sync.observability import logger
from sis_sync.pause import held_for_pause
from sis_sync.rules import evaluate, judge
from sis_sync.safe_changes import safe_records, split
from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType, Snapshot, encode
from sis_sync.store.roster_table import RosterItem, RosterTable
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable

Mode = Literal["apply", "release", "apply_safe", "undo"]
RecordKey = tuple[RecordType, str]


class StalePendingSyncError(Exception):
    """The change set named is no longer the school's pending one (a newer sync replaced it).

    Step Functions matches on the class name, so the release flow's Catch names it."""


@dataclass(frozen=True)
class Applier:
    state: StateTable
    roster: RosterTable
    snapshots: SnapshotBucket
    now: Callable[[], datetime]
    after_batch: Callable[[int], None] | None = None  # a seam for crash-injection tests
    s3: Any = None  # a boto3 S3 client: apply-safe rewrites the held part's changes CSV


class ApplyResult(BaseModel):
    district_id: str
    school_id: str
    sync_id: str
    outcome: Literal[
        "applied", "already_applied", "superseded", "applied_safe", "nothing_safe", "undone", "already_undone"
    ]
    written: int = 0


def roster_items(change_set: ChangeSet, sync_id: str, archived_at: str) -> Iterator[RosterItem]:
    """The puts that make the roster match the new snapshot; removals archive, never delete."""
    for change in change_set:
        yield from _items_for(change, sync_id, archived_at)


def _items_for(change: Change, sync_id: str, archived_at: str) -> Iterator[RosterItem]:
    if change.kind == "removed":
        assert change.previous is not None
        yield RosterItem(
            change.record_type, change.clever_id, change.previous, sync_id, archived_at=archived_at
        )
        return
    assert change.record is not None
    if change.kind == "source_id_changed":
        assert change.previous is not None
        yield RosterItem(
            change.record_type,
            change.previous_clever_id,
            change.previous,
            sync_id,
            archived_at=archived_at,
            replaced_by=change.clever_id,
        )
    # added or updated, or the new id of a re-issued record; a put without archived_at restores
    # a record that had been archived and now comes back
    yield RosterItem(
        change.record_type,
        change.clever_id,
        change.record,
        sync_id,
        previous_clever_id=change.previous_clever_id,
    )


def apply_pending(
    applier: Applier, district_id: str, school_id: str, sync_id: str, *, mode: Mode, actor: str = "system"
) -> ApplyResult:
    """Apply the school's pending change set `sync_id`.

    mode "apply" (the evaluate flow) applies only a change set that evaluation found clean;
    mode "release" (Clear holds) applies a held one an admin approved. Either refuses a change set
    that is no longer pending, after putting right any writes an abandoned apply left behind.
    """
    state = applier.state
    school = state.get_school(district_id, school_id)
    if school is None:
        raise StalePendingSyncError(f"unknown school {school_id}")
    result = ApplyResult(district_id=district_id, school_id=school_id, sync_id=sync_id, outcome="applied")
    if school.applied and school.applied.sync_id == sync_id and school.pending is None and not school.dirty:
        if mode == "apply":  # a retry after the commit
            state.settle_outcome(district_id, sync_id, school_id, applied=True)
        return result.model_copy(update={"outcome": "already_applied"})
    pending = school.pending
    expected = Decision.HOLD if mode == "release" else Decision.APPLY
    if (
        pending is None
        or pending.sync_id != sync_id
        or pending.decision is not expected
        or not state.claim_apply(district_id, school_id, pending)
    ):
        return _refuse(applier, school_id, district_id, sync_id, mode, result)

    school = state.get_school(district_id, school_id)
    assert school is not None
    applied = applier.snapshots.get(school.applied.key).records if school.applied else None
    target = applier.snapshots.get(pending.key).records
    change_set = diff(applied, target)
    # archived_at is fixed per change set: a retry writes the same items
    move = RosterMove(sync_id, applied, target, change_set, pending.evaluated_at.isoformat())

    def commit(written: int) -> bool:
        now = applier.now()
        entry = school_action_entry(
            school,
            sync_id,
            at=now,
            actor=actor,
            action="hold_released" if mode == "release" else "sync_applied",
            result="applied",
            detail={"changes": change_set.summary(), "written": written},
        )
        return state.commit_apply(_applied(school, pending, now), sync_id, entry)

    written = write_claimed(
        applier, school, move, roster_items(change_set, sync_id, move.archived_at), commit
    )
    if written is None:  # a newer sync replaced the change set while it was being written
        return _refuse(applier, school_id, district_id, sync_id, mode, result)
    if mode == "apply":
        state.settle_outcome(district_id, sync_id, school_id, applied=True)
    logger.info("sync applied", school_id=school_id, sync_id=sync_id, written=written, mode=mode)
    return result.model_copy(update={"written": written})


def _refuse(
    applier: Applier, school_id: str, district_id: str, sync_id: str, mode: Mode, result: ApplyResult
) -> ApplyResult:
    """The change set is not (or no longer) pending: undo whatever abandoned applies wrote, then
    refuse (release) or step aside (apply)."""
    school = applier.state.get_school(district_id, school_id)
    if school is not None and school.dirty:
        undo_abandoned(applier, school)
    if mode == "release":
        raise StalePendingSyncError(f"{school_id}: {sync_id} is not the pending change set")
    logger.info("apply superseded", school_id=school_id, sync_id=sync_id)
    applier.state.settle_outcome(district_id, sync_id, school_id, applied=False)
    return result.model_copy(update={"outcome": "superseded"})


def _abandoned_keys(applier: Applier, school: School, applied: Records | None) -> dict[RecordKey, Record]:
    """(record type, id) -> the record as the abandoned change sets had it, for every record
    they may have written differently from the applied roster."""
    touched: dict[RecordKey, Record] = {}
    for ref in school.dirty.values():
        for change in diff(applied, applier.snapshots.get(ref.key).records):
            touched[(change.record_type, change.clever_id)] = change.shown
            if change.previous_clever_id:
                touched[(change.record_type, change.previous_clever_id)] = change.shown
    return touched


def _restoring(
    touched: dict[RecordKey, Record], target: Records | None, sync_id: str, archived_at: str
) -> Iterator[RosterItem]:
    """Items that make each touched record what `target` says: present there, or archived."""
    present = {
        (record_type, record["id"]): record
        for record_type in RECORD_TYPES
        for record in (target or {}).get(record_type, [])
    }
    for (record_type, clever_id), seen in sorted(touched.items()):
        record = present.get((record_type, clever_id))
        if record is not None:
            yield RosterItem(record_type, clever_id, record, sync_id)
        else:
            yield RosterItem(record_type, clever_id, seen, sync_id, archived_at=archived_at)


@dataclass(frozen=True)
class RosterMove:
    """A claimed write of a school's roster from the applied snapshot's records to `target`: an
    apply's (`target` the new snapshot's records) or an undo's (the previously applied snapshot's)."""

    name: str  # the claim's dirty entry; every item written carries it as its applied_sync_id
    applied: Records | None  # what the roster holds now (None: nothing applied yet)
    target: Records
    change_set: ChangeSet  # between `applied` and `target`, in either direction
    archived_at: str  # fixed per move, so that a retry writes the same items


def write_claimed(
    applier: Applier,
    school: School,
    move: RosterMove,
    items: Iterable[RosterItem],
    commit: Callable[[int], bool],
) -> int | None:
    """After the claim of `move` (its dirty entry): write `items`, and put right whatever abandoned
    writes (the school's other dirty entries) left that they do not write anyway, in idempotent
    batches; then `commit(written)` moves the pointer. Returns how many items were written, or None
    when the commit was refused. A crash before the commit leaves the claim: a retry writes the same
    items, or the next apply puts them right."""
    items = [*items, *_repairs(applier, school, move)]
    written = applier.roster.write(
        school.district_id, school.school_id, items, after_batch=applier.after_batch
    )
    return written if commit(written) else None


def _repairs(applier: Applier, school: School, move: RosterMove) -> Iterator[RosterItem]:
    """Records abandoned writes may have touched that this move does not write anyway."""
    others = school.model_copy(update={"dirty": {k: v for k, v in school.dirty.items() if k != move.name}})
    touched = _abandoned_keys(applier, others, move.applied)
    for change in move.change_set:
        touched.pop((change.record_type, change.clever_id), None)
        touched.pop((change.record_type, change.previous_clever_id), None)
    return _restoring(touched, move.target, move.name, move.archived_at)


def undo_abandoned(applier: Applier, school: School) -> int:
    """Put the roster back to the applied snapshot wherever abandoned applies wrote, then forget them."""
    applied_ref = school.applied
    applied = applier.snapshots.get(applied_ref.key).records if applied_ref else None
    touched = _abandoned_keys(applier, school, applied)
    stamp = applied_ref.sync_id if applied_ref else "none"
    archived_at = min(ref.sync_id for ref in school.dirty.values())  # deterministic for a retry
    written = applier.roster.write(
        school.district_id, school.school_id, _restoring(touched, applied, stamp, archived_at)
    )
    applier.state.clear_dirty(school.district_id, school.school_id, sorted(school.dirty))
    logger.warning("abandoned roster writes undone", school_id=school.school_id, written=written)
    return written


def school_action_entry(
    school: School,
    sync_id: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    result: str,
    detail: dict[str, Any],
) -> AuditEntry:
    """The audit entry of an apply, a safe apply or an undo: one school, one change set."""
    return AuditEntry(
        district_id=school.district_id,
        at=at,
        actor=actor,
        action=action,
        school_ids=[school.school_id],
        sync_ids=[sync_id],
        result=result,
        detail=detail,
    )


def last_applied(school: School, sync_id: str, now: datetime) -> AppliedChange:
    """What Undo of `sync_id` will revert to, once it is applied: the snapshot applied before it. The
    rest of a change set whose safe part was applied earlier keeps that part's record."""
    last = school.last_applied
    if last is not None and last.sync_id == sync_id and school.applied and school.applied.sync_id == sync_id:
        return last
    return AppliedChange(sync_id=sync_id, at=now, before=school.applied)


def _applied(school: School, pending: PendingChange, now: datetime) -> School:
    return school.model_copy(
        update={
            "applied": SnapshotRef(sync_id=pending.sync_id, key=pending.key, sha256=pending.sha256),
            "last_applied": last_applied(school, pending.sync_id, now),
            "pending": None,
            "status": SchoolStatus.CONNECTED,
            "holds": [],
            "notified_reasons": [],
            "last_synced_at": now,
            "dirty": {},
        }
    )


# --- apply safe changes (DESIGN §7) -------------------------------------------------------------


def safe_csv_key(district_id: str, school_id: str, sync_id: str) -> str:
    """The changes CSV of what a change set still holds once its safe part is applied."""
    return f"changes/{district_id}/{school_id}/{sync_id}-held.csv"


def apply_safe_pending(
    applier: Applier, district_id: str, school_id: str, sync_id: str, *, actor: str = "system"
) -> ApplyResult:
    """Apply the part of the held change set `sync_id` that trips no rule; keep the rest pending.

    The safe part becomes a snapshot of its own (the applied roster plus the safe changes), written
    to the roster exactly like any apply: claimed, written item by item, then committed with the
    applied pointer on it, so a crash resumes and a retry writes the same items. The school stays on
    hold with the same `pending_sync_id`; its holds, counts and CSV become those of the rest, which
    Clear holds applies later (a diff from the new applied snapshot to the pending one).
    """
    state = applier.state
    school = state.get_school(district_id, school_id)
    district = state.get_district(district_id)
    if school is None or district is None:
        raise StalePendingSyncError(f"unknown school {school_id}")
    result = ApplyResult(
        district_id=district_id, school_id=school_id, sync_id=sync_id, outcome="applied_safe"
    )
    pending = school.pending
    if pending is None or pending.sync_id != sync_id or school.pending_sync_id != sync_id:
        return _refuse(applier, school_id, district_id, sync_id, "release", result)
    if pending.safe_changes == 0:  # applied already (a retry), or there never was a safe part
        done = school.safe_applied is not None and school.safe_applied.sync_id == sync_id
        return result.model_copy(update={"outcome": "already_applied" if done else "nothing_safe"})

    thresholds = district.settings.thresholds_for(school_id)
    applied = applier.snapshots.get(school.applied.key).records if school.applied else None
    target = applier.snapshots.get(pending.key).records
    parts = split(evaluate(applied, target, thresholds).change_set, applied, thresholds)
    if not len(parts.safe):
        logger.info("no safe changes to apply", school_id=school_id, sync_id=sync_id)
        return result.model_copy(update={"outcome": "nothing_safe"})
    after = safe_records(applied, parts)
    encoded = encode(Snapshot(district_id, school_id, school.clever_school_id or "", after))
    ref = SnapshotRef(
        sync_id=sync_id, key=applier.snapshots.put(district_id, school_id, encoded), sha256=encoded.sha256
    )
    earlier = school.dirty.get(sync_id)
    if earlier is not None and earlier.key != ref.key:
        # an abandoned apply of this sync wrote another target (a full release, other thresholds):
        # put its writes right first, as this claim takes its place
        undo_abandoned(applier, school)
        school = state.get_school(district_id, school_id) or school
    if not state.claim_apply(district_id, school_id, ref):
        return _refuse(applier, school_id, district_id, sync_id, "release", result)

    move = RosterMove(sync_id, applied, after, parts.safe, pending.evaluated_at.isoformat())

    def commit(written: int) -> bool:
        remaining = judge(parts.held, after, target, thresholds, pause=held_for_pause(school))
        csv_key = safe_csv_key(district_id, school_id, sync_id)
        students = linked_student_names(parts.held, target, after)
        upload_changes_csv(applier.s3, applier.snapshots.bucket, csv_key, remaining, students)
        now = applier.now()
        summary = parts.safe.summary()
        updated = school.model_copy(
            update={
                "applied": ref,
                "pending": pending.model_copy(update={"csv_key": csv_key, "safe_changes": 0}),
                # the held part keeps every reason it was held for (tests/unit/test_safe_changes.py);
                # the old holds stay should a rule ever see it otherwise
                "holds": list(remaining.holds) or school.holds,
                "changes": dict(remaining.change_set.summary()) | {"sync_id": sync_id},
                "safe_applied": SafeApplied(sync_id=sync_id, at=now, actor=actor, changes=dict(summary)),
                "last_applied": last_applied(school, sync_id, now),  # Undo reverts the safe part too
                "dirty": {},
            }
        )
        entry = school_action_entry(
            school,
            sync_id,
            at=now,
            actor=actor,
            action="safe_changes_applied",
            result="applied",
            detail={"changes": summary, "held": remaining.change_set.summary(), "written": written},
        )
        base = school.applied.sha256 if school.applied else None
        return state.commit_safe_apply(updated, sync_id, base, entry)

    written = write_claimed(
        applier, school, move, roster_items(parts.safe, sync_id, move.archived_at), commit
    )
    if written is None:
        return _refuse(applier, school_id, district_id, sync_id, "release", result)
    logger.info(
        "safe changes applied", school_id=school_id, sync_id=sync_id, written=written, safe=len(parts.safe)
    )
    return result.model_copy(update={"written": written})
