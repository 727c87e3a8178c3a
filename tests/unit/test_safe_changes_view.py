"""What the dashboard offers to apply now (Apply safe changes, DESIGN §7): a school's `safe_changes`,
the count evaluation stored with its held change set; nothing for a change set that is not held."""

from __future__ import annotations

from sis_sync.api.reports import school_view
from sis_sync.model import Decision, District, PendingChange, School, SchoolStatus, SnapshotRef
from tests.unit.test_changes_kind import EVALUATED, SUMMARY

DISTRICT = District(district_id="d1", name="D", clever_district_id="cd1")


def school(status: SchoolStatus, decision: Decision, safe: int | None) -> School:
    pending = PendingChange(
        sync_id="s2",
        key="k/s2",
        sha256="s2",
        decision=decision,
        evaluated_at=EVALUATED,
        csv_key="c/s2",
        safe_changes=safe,
    )
    return School(
        district_id="d1",
        school_id="s1",
        name="Pinecrest",
        status=status,
        applied=SnapshotRef(sync_id="s1", key="k/s1", sha256="s1"),
        pending=pending,
        changes=SUMMARY | {"sync_id": "s2"},
    )


def test_a_held_school_says_how_many_of_its_changes_apply_now() -> None:
    # Given a school held with 3 changes that trip no rule; When it is listed; Then it says 3
    view = school_view(school(SchoolStatus.ON_HOLD, Decision.HOLD, 3), DISTRICT)
    assert (view.changes_kind, view.safe_changes) == ("pending", 3)


def test_once_its_safe_part_is_applied_there_is_nothing_safe_left() -> None:
    view = school_view(school(SchoolStatus.ON_HOLD, Decision.HOLD, 0), DISTRICT)
    assert view.safe_changes == 0


def test_a_change_set_being_applied_offers_nothing_to_apply_safely() -> None:
    # Given a clean change set the flow is applying (its count says nothing to an admin)
    view = school_view(school(SchoolStatus.CONNECTED, Decision.APPLY, 3), DISTRICT)
    # Then no safe count is shown
    assert (view.changes_kind, view.safe_changes) == ("applying", None)
