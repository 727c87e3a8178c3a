"""Apply safe changes end to end: the API starts the release machine in apply_safe mode (real ASL in
moto, real handlers); the school stays on hold with the rest, and Clear holds applies the rest."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from devstack.outbox import sent_messages
from sis_sync import services
from sis_sync.applying import apply_safe_pending
from sis_sync.model import SchoolStatus
from tests.api_events import admin, call, http_event
from tests.e2e.flow import hold_one_school, real_handlers, release, roster, schools, sync, wait
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def apply_safe(school_id: str, sync_id: str) -> Any:
    from functions.api.app import lambda_handler

    body = {"schools": [{"school_id": school_id, "sync_id": sync_id}]}
    path = f"/v1/districts/{DISTRICT}/holds/apply-safe"
    return call(lambda_handler, http_event("POST", path, claims=admin(DISTRICT), body=body))


def active(school_id: str) -> dict[str, dict[str, Any]]:
    return {item["sk"]: item for item in roster(school_id) if not item.get("archived_at")}


def test_apply_safe_applies_what_trips_no_rule_keeps_the_rest_held_and_clear_applies_the_rest(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school held at s002 for large removals (its sections lose those students: updates)
    on_hold = hold_one_school(simulator, "semester_end")
    target, effect = on_hold.clever_id, on_hold.effect
    held = schools()[target]
    assert held.pending is not None
    assert held.pending.safe_changes
    before = held.changes

    # When the admin applies its safe changes
    response = apply_safe(held.school_id, "s002")

    # Then 202, applied_safe, audited; the execution applies the safe part only
    assert response.status == 202, response.text
    [result] = response.json()["results"]
    assert (result["result"], result["safe_changes"]) == ("applied_safe", held.pending.safe_changes)
    sfn = boto3.client("stepfunctions")
    [execution] = [
        e for e in sfn.list_executions(stateMachineArn=stack.release_arn)["executions"]
        if e["name"].startswith("apply-safe-")
    ]  # fmt: skip
    assert wait(execution["executionArn"])["status"] == "SUCCEEDED"
    school = schools()[target]
    assert school.status is SchoolStatus.ON_HOLD
    assert school.pending_sync_id == "s002"
    assert [h.reason for h in school.holds] == ["large_removals"]
    assert school.changes["removed"] == before["removed"]
    assert school.changes["updated"] + school.changes["added"] < before["updated"] + before["added"]
    assert school.safe_applied is not None
    assert school.safe_applied.changes["removed"] == 0
    removed = {f"student#{clever_id}" for clever_id in effect.removed_ids}
    still = active(school.school_id)
    assert all(any(sk.endswith(key.split("#")[1]) for sk in still) for key in removed)  # not archived yet
    actions = [e.action for e in services.state_table().audit(DISTRICT)[0]]
    assert "apply_safe_changes" in actions
    assert "safe_changes_applied" in actions

    # When applied again: nothing safe is left; a stale sync id is refused
    [again] = apply_safe(held.school_id, "s002").json()["results"]
    [stale] = apply_safe(held.school_id, "s001").json()["results"]
    assert (again["result"], stale["result"]) == ("nothing_safe", "stale")

    # When Clear holds approves s002: the rest applies, the removed students are archived
    done = release(stack, school.school_id, "s002", "release-after-safe")
    assert (done["status"], json.loads(done["output"])["results"]) == ("SUCCEEDED", ["released"])
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.applied is not None
    assert school.applied.key == held.pending.key
    archived = {i["clever_id"] for i in roster(school.school_id) if i.get("archived_at")}
    assert set(effect.removed_ids) <= archived


def test_a_crash_part_way_through_apply_safe_then_a_retry_applies_it_once(
    stack: Any, flow: Any, simulator: Any
) -> None:
    held = hold_one_school(simulator, "semester_end")
    target, school_id = held.clever_id, held.school_id

    def crash(batch: int) -> None:
        raise TimeoutError("Lambda timed out")

    with pytest.raises(TimeoutError), acting_as("ApplyChangesFunction"):
        apply_safe_pending(replace(services.applier(), after_batch=crash), DISTRICT, school_id, "s002")
    assert schools()[target].safe_applied is None
    with acting_as("ApplyChangesFunction"):
        first = apply_safe_pending(services.applier(), DISTRICT, school_id, "s002")
        after = roster(school_id)
        retried = apply_safe_pending(services.applier(), DISTRICT, school_id, "s002")
    assert (first.outcome, retried.outcome) == ("applied_safe", "already_applied")
    assert roster(school_id) == after
    assert schools()[target].dirty == {}


def test_the_district_setting_applies_the_safe_part_of_every_held_sync(
    stack: Any, flow: Any, simulator: Any
) -> None:
    sim, _ = simulator
    sync("s001")
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    settings = district.settings.model_copy(update={"apply_safe_changes_automatically": True})
    assert state.update_settings(DISTRICT, settings, read_version=district.settings_version)
    target = sim.district.school_ids()[0]
    sim.scenarios.semester_end(school_id=target)

    sync("s002")

    school = schools()[target]
    assert school.status is SchoolStatus.ON_HOLD
    assert school.pending_sync_id == "s002"
    assert school.safe_applied is not None
    assert school.safe_applied.sync_id == "s002"
    assert school.applied is not None
    assert school.applied.sync_id == "s002"
    # and the sync's one hold mail, sent after the Map, says what was applied and what waits
    [mail] = [m for m in sent_messages(stack.account_id, stack.region) if "admin@example.org" in m["to"]]
    assert mail["subject"] == f"Sync on hold for {school.name}: Large number of removals"
    added, updated = school.safe_applied.changes["added"], school.safe_applied.changes["updated"]
    assert f"were applied already ({added} added, {updated} updated)" in " ".join(mail["text"].split())
