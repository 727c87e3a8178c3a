"""The evaluate and release flows end to end: real ASL in moto's interpreter, real handlers."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from devstack.outbox import sent_messages
from sis_sync import services
from sis_sync.applying import apply_pending
from sis_sync.evaluation import evaluate_school
from sis_sync.model import Decision, SchoolStatus, SyncSchool
from tests.e2e.flow import hold_one_school, real_handlers, release, roster, schools, sync
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def test_a_clean_first_sync_is_applied_to_the_roster(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a district with clean data (no hold rule can fire)
    # When it syncs for the first time
    run = sync("s001")
    # Then every school is connected with that sync applied, and the roster matches the snapshots
    assert {s.status for s in schools().values()} == {SchoolStatus.CONNECTED}
    for changed in run.changed_schools:
        school = services.state_table().get_school(DISTRICT, changed.school_id)
        assert school is not None
        assert school.applied is not None
        assert school.applied.sync_id == "s001"
        active, archived = services.roster_table().counts(DISTRICT, changed.school_id)
        assert active == changed.counts
        assert sum(archived.values()) == 0
    invoked = {name.rsplit("-", 1)[-1] for name in flow.names()}
    # (the sync's hold-mail step runs after every Map; with no school held it sends nothing)
    assert invoked == {"EvaluateHoldsFunction", "ApplyChangesFunction", "NotifyFunction"}
    assert sent_messages(stack.account_id, stack.region) == []


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("semester_end", "large_removals"),
        ("many_guardians", "too_many_parent_connections"),
        ("emergency_contact", "emergency_contacts"),
        ("secondary_contact", "emergency_contacts"),
    ],
)
def test_each_hold_reason_holds_only_the_school_it_concerns(
    stack: Any, flow: Any, simulator: Any, scenario: str, reason: str
) -> None:
    # Given a district synced once; When Clever's data for one school turns dangerous at s002
    on_hold = hold_one_school(simulator, scenario, index=1)
    # Then that school is on hold for that reason, nothing of it is applied, the others are not held
    held = schools()[on_hold.clever_id]
    assert held.status is SchoolStatus.ON_HOLD
    assert [h.reason for h in held.holds] == [reason]
    assert held.pending_sync_id == "s002"
    assert held.applied is not None
    assert held.applied.sync_id == "s001"
    assert roster(held.school_id) == on_hold.roster_before
    assert all(
        s.status is not SchoolStatus.ON_HOLD for cid, s in schools().items() if cid != on_hold.clever_id
    )


def test_a_sync_holding_several_schools_mails_the_admins_once(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a district synced once
    sim, _ = simulator
    sync("s001")
    mailed = len(sent_messages(stack.account_id, stack.region))
    # When one sync brings large removals at two schools and an emergency contact at a third
    first, second, third = sim.district.school_ids()[:3]
    sim.scenarios.semester_end(school_id=first)
    sim.scenarios.semester_end(school_id=second)
    sim.scenarios.emergency_contact(school_id=third)
    sync("s002")
    # Then the admins get one e-mail naming the three schools, each with its report and CSV links
    [mail] = sent_messages(stack.account_id, stack.region)[mailed:]
    held = [schools()[clever_id] for clever_id in (first, second, third)]
    assert mail["subject"].startswith("Sync on hold for 3 schools of ")
    for school in held:
        assert school.status is SchoolStatus.ON_HOLD
        assert school.name in mail["text"]
        assert f"/schools/{school.school_id}" in mail["html"]
    assert mail["html"].count("/v1/links/") == 3
    # and the same holds polled again mail nothing more
    sync("s003")
    assert len(sent_messages(stack.account_id, stack.region)) == mailed + 1


def test_fixing_the_source_releases_the_hold_by_itself(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a school on hold for an emergency contact
    sim, _ = simulator
    target = hold_one_school(simulator, "emergency_contact").clever_id
    assert schools()[target].status is SchoolStatus.ON_HOLD
    # When the district removes it at the source and the next poll runs
    sim.scenarios.reset()
    sync("s003")
    # Then the hold is released and the audit log says so
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.pending is None
    entries, _ = services.state_table().audit(DISTRICT)
    assert any(e.action == "auto_release" and school.school_id in e.school_ids for e in entries)


def test_re_polling_an_unchanged_hold_starts_nothing(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a school on hold
    hold_one_school(simulator, "semester_end")
    invokes = len(flow.names())
    # When Clever serves the same data again
    run = sync("s003")
    # Then no school changed, so nothing is evaluated or e-mailed again
    assert run.changed_schools == []
    assert len(flow.names()) == invokes


def test_clear_holds_applies_the_held_change_set_and_refuses_a_stale_one(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school on hold for large removals, reviewed at sync s002
    held = hold_one_school(simulator, "semester_end")
    target, effect = held.clever_id, held.effect
    school = schools()[target]
    # When an admin clears a stale sync id, then the reviewed one
    stale = release(stack, school.school_id, "s001", "release-stale")
    done = release(stack, school.school_id, "s002", "release-ok")
    # Then the stale one applies nothing (its result says stale), the reviewed one is applied:
    # removed students are archived
    assert (stale["status"], json.loads(stale["output"])["results"]) == ("SUCCEEDED", ["stale"])
    assert (done["status"], json.loads(done["output"])["results"]) == ("SUCCEEDED", ["released"])
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.applied is not None
    assert school.applied.sync_id == "s002"
    archived = {i["clever_id"] for i in roster(school.school_id) if i.get("archived_at")}
    assert set(effect.removed_ids) <= archived


def test_a_release_whose_history_step_fails_applies_the_approved_school_all_the_same(
    stack: Any, flow: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a school on hold at sync s002, and a release's first step that cannot write histories
    held = hold_one_school(simulator, "semester_end")
    school = schools()[held.clever_id]

    def unwritable(*_: Any) -> int:
        raise RuntimeError("the histories cannot be written")

    monkeypatch.setattr("functions.apply_changes.app.record_release_history", unwritable)
    history = {
        "action": "clear_holds",
        "actor": "admin@example.org",
        "at": "2026-11-30T12:00:00Z",
        "result": "released",
        "key": "2026-11-30T12:00:00Z#clear",
    }
    # When the admin's release runs
    done = release(stack, school.school_id, "s002", "release-history-fails", history=history)
    # Then the school is applied all the same (the district audit entry already names it)
    assert (done["status"], json.loads(done["output"])["results"]) == ("SUCCEEDED", ["released"])
    applied = schools()[held.clever_id].applied
    assert applied is not None
    assert applied.sync_id == "s002"


def test_a_crash_part_way_through_an_apply_then_a_retry_leaves_the_clean_result(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given the roster a clean apply of a school's first sync leaves
    run = sync("s001")
    school_id = run.changed_schools[0].school_id
    clean = roster(school_id)
    # When the same apply is redone from scratch, crashing after two batches, then retried
    state = services.state_table()
    school = state.get_school(DISTRICT, school_id)
    assert school is not None
    assert school.applied is not None
    roster_table = services.roster_table()
    for item in roster_table.items(DISTRICT, school_id):
        roster_table._table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    ref = SyncSchool(
        school_id=school_id,
        clever_school_id=school.clever_school_id or "",
        snapshot_key=school.applied.key,
        sha256=school.applied.sha256,
        counts=run.changed_schools[0].counts,
    )
    state.put_school(school.model_copy(update={"applied": None, "latest_sync_id": None}))
    with acting_as("EvaluateHoldsFunction"):
        assert evaluate_school(services.evaluator(), DISTRICT, "s002", ref).decision is Decision.APPLY

    def crash(batch: int) -> None:
        if batch == 2:
            raise TimeoutError("Lambda timed out")

    crashing = replace(services.applier(), after_batch=crash)
    with pytest.raises(TimeoutError), acting_as("ApplyChangesFunction"):
        apply_pending(crashing, DISTRICT, school_id, "s002", mode="apply")
    assert state.get_school(DISTRICT, school_id).applied is None  # type: ignore[union-attr]
    with acting_as("ApplyChangesFunction"):
        apply_pending(services.applier(), DISTRICT, school_id, "s002", mode="apply")

    # Then the table is the clean run's, item for item, but for the sync id that wrote it
    def strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "applied_sync_id"} for item in items]

    assert strip(roster(school_id)) == strip(clean)


def test_retried_tasks_neither_apply_twice_nor_move_state_back(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a school whose change set was applied by the flow
    run = sync("s001")
    school_id = run.changed_schools[0].school_id
    after = roster(school_id)
    audit_before, _ = services.state_table().audit(DISTRICT, limit=500)
    # When Step Functions retries the apply task (the same input again)
    with acting_as("ApplyChangesFunction"):
        result = apply_pending(services.applier(), DISTRICT, school_id, "s001", mode="apply")
    # Then it is recognised as done: no write, no new audit entry
    assert result.outcome == "already_applied"
    assert roster(school_id) == after
    audit_after, _ = services.state_table().audit(DISTRICT, limit=500)
    assert len(audit_after) == len(audit_before)


def test_an_older_execution_finishing_last_changes_nothing(stack: Any, flow: Any, simulator: Any) -> None:
    # Given sync s003 already evaluated and applied for a school
    sim, _ = simulator
    first = sync("s001")
    sim.scenarios.emergency_contact(school_id=sim.district.school_ids()[0])
    sync("s003")
    school_id = schools()[sim.district.school_ids()[0]].school_id
    before = services.state_table().get_school(DISTRICT, school_id)
    # When an older sync (s002) of that school is evaluated late
    old = next(s for s in first.changed_schools if s.school_id == school_id)
    with acting_as("EvaluateHoldsFunction"):
        result = evaluate_school(services.evaluator(), DISTRICT, "s002", old)
    # Then it is superseded and the school is exactly as before
    assert result.superseded
    assert services.state_table().get_school(DISTRICT, school_id) == before


def test_a_retried_evaluation_returns_the_recorded_decision_and_audits_once(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school put on hold by sync s002 (its evaluation recorded and audited)
    held = hold_one_school(simulator, "emergency_contact")
    [ref] = [s for s in held.run.changed_schools if s.school_id == held.school_id]
    audit_before, _ = services.state_table().audit(DISTRICT, limit=500)
    # When Step Functions retries the evaluate task of s002
    with acting_as("EvaluateHoldsFunction"):
        result = evaluate_school(services.evaluator(), DISTRICT, "s002", ref)
    # Then it answers the same hold, asks for no second e-mail, and writes no second audit entry
    assert result.decision is Decision.HOLD
    assert result.reasons == ["emergency_contacts"]
    assert result.notify is False
    audit_after, _ = services.state_table().audit(DISTRICT, limit=500)
    assert len(audit_after) == len(audit_before)
