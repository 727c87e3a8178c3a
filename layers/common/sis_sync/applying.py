"""Applying a school's pending change set to the roster table, resumably.

Every roster item is written first (idempotent whole-item puts, batched); only then does the
school's applied-snapshot pointer move, with its status and an audit entry, in one transaction.
A crash or timeout part-way leaves the pointer where it was, so the retry recomputes the same
change set and writes the same items: the table ends exactly as after one clean run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from sis_sync.changes import Change, ChangeSet, diff
from sis_sync.model import AuditEntry, Decision, PendingChange, School, SchoolStatus, SnapshotRef
from sis_sync.observability import logger
from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType
from sis_sync.store.roster_table import RosterItem, RosterTable
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable

Mode = Literal["apply", "release"]
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


class ApplyResult(BaseModel):
    district_id: str
    school_id: str
    sync_id: str
    outcome: Literal["applied", "already_applied", "superseded"]
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
    archived_at = pending.evaluated_at.isoformat()  # fixed per change set: a retry writes the same items
    items = [
        *roster_items(change_set, sync_id, archived_at),
        *_repairs(applier, school, applied, target, change_set, sync_id, archived_at),
    ]
    written = applier.roster.write(district_id, school_id, items, after_batch=applier.after_batch)
    now = applier.now()
    committed = state.commit_apply(
        _applied(school, pending, now),
        sync_id,
        AuditEntry(
            district_id=district_id,
            at=now,
            actor=actor,
            action="hold_released" if mode == "release" else "sync_applied",
            school_ids=[school_id],
            sync_ids=[sync_id],
            result="applied",
            detail={"changes": change_set.summary(), "written": written},
        ),
    )
    if not committed:  # a newer sync replaced the change set while it was being written
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


def _repairs(
    applier: Applier,
    school: School,
    applied: Records | None,
    target: Records,
    change_set: ChangeSet,
    sync_id: str,
    archived_at: str,
) -> Iterator[RosterItem]:
    """Records abandoned applies may have written that this change set does not write anyway."""
    others = school.model_copy(update={"dirty": {k: v for k, v in school.dirty.items() if k != sync_id}})
    touched = _abandoned_keys(applier, others, applied)
    for change in change_set:
        touched.pop((change.record_type, change.clever_id), None)
        touched.pop((change.record_type, change.previous_clever_id), None)
    return _restoring(touched, target, sync_id, archived_at)


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


def _applied(school: School, pending: PendingChange, now: datetime) -> School:
    return school.model_copy(
        update={
            "applied": SnapshotRef(sync_id=pending.sync_id, key=pending.key, sha256=pending.sha256),
            "pending": None,
            "status": SchoolStatus.CONNECTED,
            "holds": [],
            "notified_reasons": [],
            "last_synced_at": now,
            "dirty": {},
        }
    )
