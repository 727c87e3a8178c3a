"""Evaluating one school's new snapshot: the change set, the hold rules, the CSV, the decision.

The decision is recorded on the school with a conditional write, so an older sync finishing late
never overwrites a newer one; the state machine then holds (and e-mails), applies, or stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from sis_sync.changes_csv import linked_student_names, upload_changes_csv
from sis_sync.collector import collector_paused
from sis_sync.model import (
    AuditEntry,
    Decision,
    District,
    PendingChange,
    School,
    SchoolOutcome,
    SchoolStatus,
    SnapshotRef,
    SyncSchool,
    SyncSchoolOutcome,
)
from sis_sync.observability import logger
from sis_sync.pause import pause_note
from sis_sync.preview import encode_change_set
from sis_sync.rules import Evaluation, evaluate
from sis_sync.safe_changes import split
from sis_sync.store.change_sets import ChangeSetBucket
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable
from sis_sync.undo import keep_undone

SYSTEM = "system"


ATTEMPTS = 3


class UnknownSchoolError(LookupError):
    pass


class ConcurrentSchoolUpdateError(RuntimeError):
    """The school kept being written while it was evaluated; Step Functions retries the task."""


@dataclass(frozen=True)
class Evaluator:
    state: StateTable
    snapshots: SnapshotBucket
    s3: Any
    now: Callable[[], datetime]


class EvaluationResult(BaseModel):
    """The evaluate_holds task's output: what the state machine's Choice and next task read."""

    district_id: str
    sync_id: str
    school_id: str
    decision: Decision
    notify: bool = False
    reasons: list[str] = []
    superseded: bool = False
    apply_safe: bool = False  # held, with a safe part the district applies automatically


def csv_key(district_id: str, school_id: str, sync_id: str) -> str:
    return f"changes/{district_id}/{school_id}/{sync_id}.csv"


def evaluate_school(
    evaluator: Evaluator, district_id: str, sync_id: str, ref: SyncSchool
) -> EvaluationResult:
    """Evaluate and record; when the school was written meanwhile, read it and evaluate again."""
    for _ in range(ATTEMPTS):
        # One pause for the whole school: its parsed rosters, change set and CSV rows are acyclic
        # (freed by reference counting), and a collection anywhere in between would rescan them all.
        with collector_paused():
            result = _evaluate_once(evaluator, district_id, sync_id, ref)
        if result is not None:
            return result
        logger.info("school written meanwhile; evaluating again", school_id=ref.school_id, sync_id=sync_id)
    raise ConcurrentSchoolUpdateError(f"{district_id}/{ref.school_id} kept changing during evaluation")


def _evaluate_once(
    evaluator: Evaluator, district_id: str, sync_id: str, ref: SyncSchool
) -> EvaluationResult | None:
    state = evaluator.state
    school = state.get_school(district_id, ref.school_id)
    district = state.get_district(district_id)
    if school is None or district is None:
        raise UnknownSchoolError(f"{district_id}/{ref.school_id}")
    result = EvaluationResult(
        district_id=district_id, sync_id=sync_id, school_id=school.school_id, decision=Decision.UNCHANGED
    )
    if school.latest_sync_id and school.latest_sync_id > sync_id:
        logger.info(
            "older sync ignored", school_id=school.school_id, sync_id=sync_id, newer=school.latest_sync_id
        )
        _record_outcome(evaluator, school, sync_id, SchoolOutcome.SUPERSEDED, settled=True)
        return result.model_copy(update={"superseded": True})
    if school.latest_sync_id == sync_id:
        recorded = _recorded(district, school, result)  # a retry of this task: decided already, audited once
        _record_outcome(  # in case the first attempt stopped between its two writes
            evaluator,
            school,
            sync_id,
            _outcome_of(recorded.decision, ""),
            settled=recorded.decision is not Decision.APPLY,
            only_if_new=True,
        )
        return recorded

    applied = evaluator.snapshots.get(school.applied.key) if school.applied else None
    current = evaluator.snapshots.get(ref.snapshot_key)
    thresholds = district.settings.thresholds_for(school.school_id)
    pause = pause_note(district, school, sync_id)  # the first sync after Clever's pause, or held for it
    evaluation = keep_undone(school, evaluate(applied, current, thresholds, pause=pause))
    now = evaluator.now()
    snapshot = SnapshotRef(sync_id=sync_id, key=ref.snapshot_key, sha256=ref.sha256)

    # An unchanged school is a no-op, unless an abandoned apply left writes to put right.
    if not len(evaluation.change_set) and not school.dirty:
        updated, action = _unchanged(school, snapshot, sync_id)
    else:
        key = csv_key(district_id, school.school_id, sync_id)
        rosters = (current.records, applied.records) if applied else (current.records,)
        students = linked_student_names(evaluation.change_set, *rosters)
        upload_changes_csv(evaluator.s3, evaluator.snapshots.bucket, key, evaluation, students)
        # kept for the threshold preview, which judges it again without re-diffing the snapshots
        ChangeSetBucket(evaluator.s3, evaluator.snapshots.bucket).put(
            district_id,
            school.school_id,
            sync_id,
            encode_change_set(evaluation.change_set, applied.records if applied else None),
        )
        pending = PendingChange(
            **snapshot.model_dump(),
            decision=Decision.HOLD if evaluation.held else Decision.APPLY,
            evaluated_at=now,
            csv_key=key,
            safe_changes=(
                len(split(evaluation.change_set, applied.records if applied else None, thresholds).safe)
                if evaluation.held
                else None
            ),
        )
        updated, action = _changed(school, pending, evaluation, sync_id)
        result = result.model_copy(update={"decision": pending.decision})
    if evaluation.held:
        reasons = sorted(set(evaluation.reasons))
        grew = not set(reasons) <= set(
            school.notified_reasons if school.status is SchoolStatus.ON_HOLD else []
        )
        result = result.model_copy(
            update={"notify": grew, "reasons": reasons, "apply_safe": _applies_safe(district, updated)}
        )

    if not state.put_school_if_unchanged(updated):
        return None
    _record_outcome(
        evaluator,
        school,
        sync_id,
        _outcome_of(result.decision, action),
        settled=result.decision is not Decision.APPLY,
    )
    if action:
        state.append_audit(
            AuditEntry(
                district_id=district_id,
                at=now,
                actor=SYSTEM,
                action=action,
                school_ids=[school.school_id],
                sync_ids=[sync_id],
                result=result.decision.value,
                detail={"reasons": result.reasons, "changes": evaluation.change_set.summary()},
            )
        )
    logger.info(
        "school evaluated",
        school_id=school.school_id,
        sync_id=sync_id,
        decision=result.decision,
        reasons=result.reasons,
        changes=len(evaluation.change_set),
    )
    return result


def _outcome_of(decision: Decision, action: str) -> SchoolOutcome:
    if decision is Decision.HOLD:
        return SchoolOutcome.HELD
    if action == "auto_release":
        return SchoolOutcome.RELEASED
    return SchoolOutcome.APPLYING if decision is Decision.APPLY else SchoolOutcome.UNCHANGED


def _record_outcome(
    evaluator: Evaluator,
    school: School,
    sync_id: str,
    outcome: SchoolOutcome,
    *,
    settled: bool,
    only_if_new: bool = False,
) -> None:
    """What this sync did to the school, for the sync status (GET …/syncs/{sync_id})."""
    evaluator.state.record_outcome(
        SyncSchoolOutcome(
            district_id=school.district_id,
            sync_id=sync_id,
            school_id=school.school_id,
            outcome=outcome,
            settled=settled,
        ),
        at=evaluator.now(),
        only_if_new=only_if_new,
    )


def _recorded(district: District, school: School, result: EvaluationResult) -> EvaluationResult:
    """The decision this sync already recorded for the school, as the state machine needs it."""
    pending = school.pending if school.pending and school.pending.sync_id == result.sync_id else None
    if pending is None:
        return result
    reasons = sorted({hold.reason.value for hold in school.holds})
    notify = pending.decision is Decision.HOLD and not set(reasons) <= set(school.notified_reasons)
    return result.model_copy(
        update={
            "decision": pending.decision,
            "reasons": reasons,
            "notify": notify,
            "apply_safe": _applies_safe(district, school),
        }
    )


def _applies_safe(district: District, school: School) -> bool:
    """The flow applies the held change set's safe part now: the district asks for it and there is
    one (a retry after it was applied finds none left)."""
    pending = school.pending
    return (
        district.settings.apply_safe_changes_automatically
        and pending is not None
        and pending.decision is Decision.HOLD
        and pending.safe_changes != 0
    )


def _unchanged(school: School, snapshot: SnapshotRef, sync_id: str) -> tuple[School, str]:
    """Nothing differs from the applied roster: a no-op, except that a hold is no longer needed."""
    was_held = school.status is SchoolStatus.ON_HOLD
    updated = school.model_copy(
        update={
            "latest_sync_id": sync_id,
            "status": SchoolStatus.CONNECTED,
            "pending": None,
            "holds": [],
            "notified_reasons": [],
            # same content, so moving the pointer costs no roster write
            "applied": snapshot if school.applied is None else school.applied,
        }
    )
    return updated, "auto_release" if was_held else ""


def _changed(
    school: School, pending: PendingChange, evaluation: Evaluation, sync_id: str
) -> tuple[School, str]:
    was_held = school.status is SchoolStatus.ON_HOLD
    held = pending.decision is Decision.HOLD
    updated = school.model_copy(
        update={
            "latest_sync_id": sync_id,
            "pending": pending,
            "holds": list(evaluation.holds),
            # tagged with its sync: the API tells a pending set from the applied one by it
            "changes": dict(evaluation.change_set.summary()) | {"sync_id": sync_id},
            # a clean change set releases a hold now; apply_changes makes it connected
            "status": SchoolStatus.ON_HOLD if held else SchoolStatus.CONNECTED,
            "notified_reasons": school.notified_reasons if held and was_held else [],
        }
    )
    if held:
        return updated, "hold"
    return updated, "auto_release" if was_held else ""
