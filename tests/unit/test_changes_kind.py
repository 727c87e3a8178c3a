"""What a school's counts mean (`changes_kind`): the held change set, one being applied, the one
applied last, or none any more — decided by the sync the stored summary was evaluated under."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sis_sync.api.reports import changes_kind, school_view
from sis_sync.model import Decision, District, PendingChange, School, SchoolStatus, SnapshotRef

EVALUATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
APPLIED = datetime(2026, 11, 2, 8, 5, tzinfo=UTC)
SUMMARY = {"added": 1, "updated": 2, "removed": 83, "source_id_changed": 0, "by_type": {}}


def ref(sync_id: str) -> SnapshotRef:
    return SnapshotRef(sync_id=sync_id, key=f"k/{sync_id}", sha256=sync_id)


def pending(sync_id: str, decision: Decision) -> PendingChange:
    return PendingChange(
        **ref(sync_id).model_dump(), decision=decision, evaluated_at=EVALUATED, csv_key=f"c/{sync_id}"
    )


def school(**fields: Any) -> School:
    return School(district_id="d1", school_id="s1", name="Pinecrest", clever_school_id="c1", **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # held: the summary is the pending change set's
        (
            {
                "status": SchoolStatus.ON_HOLD,
                "applied": ref("s1"),
                "pending": pending("s2", Decision.HOLD),
                "changes": SUMMARY | {"sync_id": "s2"},
            },
            ("pending", EVALUATED),
        ),
        # clean, being applied by the flow
        (
            {
                "status": SchoolStatus.CONNECTED,
                "applied": ref("s1"),
                "pending": pending("s2", Decision.APPLY),
                "changes": SUMMARY | {"sync_id": "s2"},
            },
            ("applying", EVALUATED),
        ),
        # Clear hold applied it: the same summary, now the last applied, as of the apply
        (
            {
                "status": SchoolStatus.CONNECTED,
                "applied": ref("s2"),
                "last_synced_at": APPLIED,
                "changes": SUMMARY | {"sync_id": "s2"},
            },
            ("last_applied", APPLIED),
        ),
        # the hold released itself (Clever went back to what is applied): the summary is of nothing
        (
            {
                "status": SchoolStatus.CONNECTED,
                "applied": ref("s1"),
                "last_synced_at": APPLIED,
                "changes": SUMMARY | {"sync_id": "s2"},
            },
            ("none", None),
        ),
        # stored before summaries named their sync: still the pending one while held
        (
            {
                "status": SchoolStatus.ON_HOLD,
                "applied": ref("s1"),
                "pending": pending("s2", Decision.HOLD),
                "changes": SUMMARY,
            },
            ("pending", EVALUATED),
        ),
        # and unknown once nothing is pending: not shown as anything
        (
            {"status": SchoolStatus.CONNECTED, "applied": ref("s1"), "changes": SUMMARY},
            ("none", None),
        ),
    ],
)
def test_the_summary_counts_what_its_sync_still_is(fields: dict[str, Any], expected: tuple[Any, Any]) -> None:
    # Given a school in this state; When its counts are described; Then they are what they say
    assert changes_kind(school(**fields)) == expected


def test_counts_that_no_longer_hold_are_zero_in_the_list() -> None:
    # Given a school whose hold released itself unapplied
    released = school(status=SchoolStatus.CONNECTED, applied=ref("s1"), changes=SUMMARY | {"sync_id": "s2"})
    # When it is listed
    view = school_view(released, District(district_id="d1", name="D", clever_district_id="cd1"))
    # Then no count of the dropped change set is shown
    assert view.changes_kind == "none"
    assert view.changes.model_dump() == {"added": 0, "updated": 0, "removed": 0, "source_id_changed": 0}
