"""Races between an apply and a newer evaluation, and applies that never finish: the roster and
the school's pointers must agree afterwards."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sis_sync import services
from sis_sync.applying import StalePendingSyncError, apply_pending
from sis_sync.clever.client import CleverClient
from sis_sync.evaluation import evaluate_school
from sis_sync.model import Decision, SchoolStatus
from sis_sync.polling import poll_district
from sis_sync.snapshot import Snapshot
from sis_sync.store.snapshots import SnapshotBucket
from tests.e2e.flow import hold_one_school, real_handlers, roster, schools, sync
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT


class NoExecutions:
    """Snapshots are taken, but no evaluate execution starts: the test plays the flow itself."""

    def start(self, name: str, payload: dict[str, Any]) -> str:
        return f"not-started:{name}"


def snapshot_only(sync_id: str) -> Any:
    poller = services.poller()
    url = services.environment().clever_api_url
    poller = replace(
        poller, executions=NoExecutions(), clever=lambda token: CleverClient(url, token, sleep=lambda _: None)
    )
    with acting_as("PollCleverFunction"):
        return poll_district(poller, DISTRICT, sync_id, trigger="test")


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def active_ids(school_id: str, record_type: str) -> set[str]:
    return {
        item["clever_id"]
        for item in roster(school_id)
        if item["record_type"] == record_type and not item.get("archived_at")
    }


def applied_ids(school_id: str, record_type: str) -> set[str]:
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.applied is not None
    snapshot = services.snapshot_bucket().get(school.applied.key)
    return {record["id"] for record in snapshot.records[record_type]}  # type: ignore[index]


def test_a_release_that_loses_to_a_newer_sync_leaves_the_roster_as_applied(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school held at s002 for semester-end removals
    sim, _ = simulator
    school_id = hold_one_school(simulator, "semester_end").school_id
    # When the admin releases s002, and while it is being written the district undoes the
    # removals and sync s003 is evaluated (nothing differs from the applied roster any more)
    sim.scenarios.reset()
    run = snapshot_only("s003")
    [ref] = [s for s in run.changed_schools if s.school_id == school_id]

    def newer_sync_lands(batch: int) -> None:
        if batch == 1:
            with acting_as("EvaluateHoldsFunction"):
                decision = evaluate_school(services.evaluator(), DISTRICT, "s003", ref).decision
            assert decision is not Decision.HOLD

    racing = replace(services.applier(), after_batch=newer_sync_lands)
    with pytest.raises(StalePendingSyncError), acting_as("ApplyChangesFunction"):
        apply_pending(racing, DISTRICT, school_id, "s002", mode="release")
    # Then nothing of s002 stays in the roster: every applied student is active, and the school
    # remembers no abandoned writes
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.dirty == {}
    assert school.applied is not None
    assert school.applied.sync_id == "s001"
    assert active_ids(school_id, "student") == applied_ids(school_id, "student")


def test_an_evaluation_never_undoes_a_commit_that_lands_while_it_thinks(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school held at s002, and sync s003 with the same data arriving
    sim, _ = simulator
    held = hold_one_school(simulator, "semester_end")
    target, school_id = held.clever_id, held.school_id
    sim.scenarios.emergency_contact(school_id=target)
    run = snapshot_only("s003")
    [ref] = [s for s in run.changed_schools if s.school_id == school_id]

    # When the admin's release of s002 commits while s003 is being evaluated
    class ReleaseWhileReading(SnapshotBucket):
        released = False

        def get(self, key: str) -> Snapshot:
            if key == ref.snapshot_key and not self.released:
                self.released = True
                with acting_as("ApplyChangesFunction"):
                    apply_pending(services.applier(), DISTRICT, school_id, "s002", mode="release")
            return super().get(key)

    base = services.snapshot_bucket()
    evaluator = replace(services.evaluator(), snapshots=ReleaseWhileReading(base._s3, base.bucket))
    with acting_as("EvaluateHoldsFunction"):
        result = evaluate_school(evaluator, DISTRICT, "s003", ref)
    # Then the approved s002 stays applied, and s003 is judged against it (only the new contact)
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.applied is not None
    assert school.applied.sync_id == "s002"
    assert result.decision is Decision.HOLD
    assert result.reasons == ["emergency_contacts"]
    assert [h.reason for h in school.holds] == ["emergency_contacts"]


def test_an_auto_release_whose_apply_fails_is_applied_by_the_next_poll(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school on hold whose data the district then fixes
    sim, _ = simulator
    held = hold_one_school(simulator, "emergency_contact")
    target, school_id = held.clever_id, held.school_id
    sim.scenarios.reset()
    sim.scenarios.semester_end(school_id=target, share=0.05)  # a few leavers: below every threshold
    # When s003 releases the hold (a clean change set) but its apply fails for good
    run = snapshot_only("s003")
    [ref] = [s for s in run.changed_schools if s.school_id == school_id]
    with acting_as("EvaluateHoldsFunction"):
        assert evaluate_school(services.evaluator(), DISTRICT, "s003", ref).decision is Decision.APPLY
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.status is SchoolStatus.CONNECTED  # the hold is released, not stuck without reasons
    # Then the next poll of the same data evaluates it again and the school ends applied
    sync("s004")
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.pending is None
    assert school.applied is not None
    assert school.applied.sha256 == ref.sha256


def test_an_unreadable_record_fails_the_poll_instead_of_reading_as_a_removal(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a synced district
    sync("s001")
    before = {s.school_id: s.applied for s in schools().values()}
    # When Clever sends a student whose id cannot be read
    sim, _ = simulator
    original = sim.district.listing

    def broken_listing(resource: Any, role: Any = None) -> Any:
        listing = original(resource, role)
        if str(role) != "student":
            return listing

        class Broken:
            def page(self, starting_after: str | None, limit: int) -> Any:
                page = listing.page(starting_after, limit)
                page.records[0] = page.records[0] | {"id": "not a valid id!"}
                return page

        return Broken()

    sim.district.listing = broken_listing  # type: ignore[method-assign]
    run = snapshot_only("s002")
    # Then the poll failed with a clear reason and no school changed
    assert run.status.value == "failed"
    assert run.error is not None
    assert "failed validation" in run.error.message
    assert {s.school_id: s.applied for s in schools().values()} == before
