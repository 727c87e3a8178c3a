"""The state table's audit log and per-school history, in moto (schema from template.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sis_sync import services
from sis_sync.model import (
    AuditEntry,
    Decision,
    PendingChange,
    SafeApplied,
    School,
    SchoolStatus,
    SnapshotRef,
)
from sis_sync.rules import Hold, HoldReason
from sis_sync.store.state_table import StateTable
from tests.iam_guard import acting_as

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def entry(n: int, *school_ids: str) -> AuditEntry:
    return AuditEntry(
        district_id="d1",
        at=T0 + timedelta(minutes=n),
        actor="system",
        action=f"a{n}",
        school_ids=list(school_ids),
    )


def test_a_school_history_is_its_own_entries_newest_first_and_the_log_has_no_copies(aws: Any) -> None:
    # Given a district log where one school appears in 3 of 40 entries (one naming two schools)
    services.reset()
    state = services.state_table()
    for n in range(40):
        schools = ["s-1", "s-10"] if n in (3, 17) else ["s-1"] if n == 30 else [f"s-{100 + n}"]
        state.append_audit(entry(n, *schools))
    # When the school's history and the district's log are read (by the API, which shows them)
    with acting_as("ApiFunction"):
        history = state.audit_entries_of_school("d1", "s-1", limit=20)
        log, cursor = state.audit("d1", limit=100)
        other_history = state.audit_entries_of_school("d1", "s-10")
    # Then the history is exactly that school's entries (not s-10's), newest first
    assert [e.action for e in history] == ["a30", "a17", "a3"]
    assert [e.action for e in other_history] == ["a17", "a3"]
    # and the district log lists every entry once
    assert len(log) == 40
    assert cursor is None
    services.reset()


def _undone_applied_at(state: StateTable, school_id: str) -> str | None:
    with acting_as("ApiFunction"):  # as Clear holds reads it
        return state.hold_states("d1", [school_id], also=["undone_applied_at"])[school_id].undone_applied_at


def test_every_writer_of_the_holds_keeps_when_the_undone_change_set_was_applied_beside_them(
    aws: Any,
) -> None:
    # Given a school whose first sync was applied, then undone (Undo's commit: pending on hold again)
    services.reset()
    state = services.state_table()
    applied = SnapshotRef(sync_id="s1", key="k1", sha256="h1")
    pending = PendingChange(
        sync_id="s1", key="k1", sha256="h1", decision=Decision.HOLD, evaluated_at=T0, csv_key="c1"
    )
    undone = Hold(reason=HoldReason.UNDONE, detail={"applied_at": "2026-11-02T08:00:00+00:00"})
    removals = Hold(reason=HoldReason.LARGE_REMOVALS, detail={"removed": 9})
    school = School(
        district_id="d1", school_id="s-1", name="S", applied=applied, status=SchoolStatus.CONNECTED
    )
    state.put_school(school)
    assert _undone_applied_at(state, "s-1") is None
    school = school.model_copy(
        update={"applied": None, "pending": pending, "status": SchoolStatus.ON_HOLD, "holds": [undone]}
    )
    assert state.commit_undo(school, "h1", [], entry(1, "s-1"))
    # Then Clear holds reads when it had been applied (its new execution's name), not the holds
    assert _undone_applied_at(state, "s-1") == "2026-11-02T08:00:00+00:00"
    # And a whole-item write keeps it, or drops it with the hold
    state.put_school(school)
    assert _undone_applied_at(state, "s-1") == "2026-11-02T08:00:00+00:00"
    state.put_school(school.model_copy(update={"holds": [removals]}))
    assert _undone_applied_at(state, "s-1") is None
    state.put_school(school)
    # And Apply safe changes' commit writes it with the holds it leaves (here: no undone hold)
    safe = school.model_copy(
        update={
            "applied": SnapshotRef(sync_id="s1", key="k-safe", sha256="h-safe"),
            "holds": [removals],
            "safe_applied": SafeApplied(sync_id="s1", at=T0, actor="a@x.org", changes={}),
        }
    )
    assert state.commit_safe_apply(safe, "s1", None, entry(2, "s-1"))
    assert _undone_applied_at(state, "s-1") is None
    state.put_school(school)
    assert state.commit_safe_apply(safe.model_copy(update={"holds": [undone]}), "s1", None, entry(3, "s-1"))
    assert _undone_applied_at(state, "s-1") == "2026-11-02T08:00:00+00:00"
    # And applying the change set (its holds emptied) removes it
    assert state.commit_apply(school.model_copy(update={"applied": applied}), "s1", entry(4, "s-1"))
    assert _undone_applied_at(state, "s-1") is None
    services.reset()
