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
from sis_sync.store.roster_table import RosterItem, RosterTable
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable

Mode = Literal["apply", "release"]


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
    that is no longer pending.
    """
    state = applier.state
    school = state.get_school(district_id, school_id)
    if school is None:
        raise StalePendingSyncError(f"unknown school {school_id}")
    result = ApplyResult(district_id=district_id, school_id=school_id, sync_id=sync_id, outcome="applied")
    if school.applied and school.applied.sync_id == sync_id and school.pending is None:
        return result.model_copy(update={"outcome": "already_applied"})  # a retry after the commit
    pending = school.pending
    expected = Decision.HOLD if mode == "release" else Decision.APPLY
    if pending is None or pending.sync_id != sync_id or pending.decision is not expected:
        if mode == "release":
            raise StalePendingSyncError(f"{school_id}: {sync_id} is not the pending change set")
        logger.info("apply superseded", school_id=school_id, sync_id=sync_id)
        return result.model_copy(update={"outcome": "superseded"})

    previous = applier.snapshots.get(school.applied.key).records if school.applied else None
    change_set = diff(previous, applier.snapshots.get(pending.key).records)
    archived_at = pending.evaluated_at.isoformat()  # fixed per change set: a retry writes the same items
    written = applier.roster.write(
        district_id,
        school_id,
        roster_items(change_set, sync_id, archived_at),
        after_batch=applier.after_batch,
    )
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
    if not committed:
        if mode == "release":
            raise StalePendingSyncError(f"{school_id}: {sync_id} was replaced while applying")
        return result.model_copy(update={"outcome": "superseded", "written": written})
    logger.info("sync applied", school_id=school_id, sync_id=sync_id, written=written, mode=mode)
    return result.model_copy(update={"written": written})


def _applied(school: School, pending: PendingChange, now: datetime) -> School:
    return school.model_copy(
        update={
            "applied": SnapshotRef(sync_id=pending.sync_id, key=pending.key, sha256=pending.sha256),
            "pending": None,
            "status": SchoolStatus.CONNECTED,
            "holds": [],
            "notified_reasons": [],
            "last_synced_at": now,
        }
    )
