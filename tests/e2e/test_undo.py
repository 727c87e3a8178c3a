"""Undo end to end: the API starts the release machine in undo mode (real ASL in moto, real handlers);
the roster goes back to the snapshot applied before, the change set is pending again on hold with
reason `undone`, and Clear holds applies it again. A crash at any batch boundary resumes to the
same end state."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sis_sync import services
from sis_sync.api.holds import release_execution_name
from sis_sync.changes import diff
from sis_sync.model import AppliedChange, School, SchoolStatus
from sis_sync.store import roster_table
from sis_sync.undo import undo_applied, undo_name
from tests.api_events import admin, call, http_event
from tests.e2e.flow import real_handlers, release, roster, schools, sync, wait
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT

Roster = dict[str, dict[str, Any]]


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def api(method: str, path: str, body: Any = None) -> Any:
    from functions.api.app import lambda_handler

    return call(lambda_handler, http_event(method, path, claims=admin(DISTRICT), body=body))


def undo(school_id: str, sync_id: str) -> Any:
    return api("POST", f"/v1/districts/{DISTRICT}/schools/{school_id}/undo", {"sync_id": sync_id})


def records(school_id: str) -> tuple[Roster, Roster]:
    """(active, archived): each record as the roster holds it, by `<type>#<id>`."""
    items = roster(school_id)
    active = {item["sk"]: item["record"] for item in items if not item.get("archived_at")}
    archived = {item["sk"]: item["record"] for item in items if item.get("archived_at")}
    return active, archived


def executions(stack: Any, prefix: str) -> list[dict[str, Any]]:
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.release_arn)["executions"]
    return [e for e in listed if e["name"].startswith(prefix)]


def released_change_set(stack: Any, simulator: Any) -> tuple[str, str, Roster, Any]:
    """s001 applied clean; s002 (removals, a re-issued contact id, a new emergency contact) held and
    released by Clear holds. Returns the school's Clever id and id, its roster as s001 left it, and
    the removals scenario's effect."""
    sim, _ = simulator
    sync("s001")
    target = sim.district.school_ids()[0]
    school_id = schools()[target].school_id
    before, _ = records(school_id)
    effect = sim.scenarios.semester_end(school_id=target)
    sim.scenarios.emergency_contact(school_id=target)
    sync("s002")
    assert schools()[target].status is SchoolStatus.ON_HOLD
    done = release(stack, school_id, "s002", "release-s002")
    assert json.loads(done["output"])["results"] == ["released"]
    return target, school_id, before, effect


def test_undo_puts_the_roster_back_and_holds_the_change_set_again_until_clear_holds_applies_it(
    stack: Any, flow: Any, simulator: Any
) -> None:
    # Given a school whose held change set s002 (removals, an added contact) was released
    target, school_id, before, effect = released_change_set(stack, simulator)
    released, _ = records(school_id)
    assert released != before
    first_applied = schools()[target].last_applied
    assert first_applied is not None
    report = api("GET", f"/v1/districts/{DISTRICT}/schools/{school_id}").json()
    assert report["undo"]["sync_id"] == "s002"
    assert report["undo"]["changes"]["removed"] > 0

    # When the admin undoes s002
    response = undo(school_id, "s002")

    # Then 202; the undo execution puts every record back as s001 had it: the removed students
    # active again under their ids, the added contact archived
    assert response.status == 202, response.text
    assert response.json() == {"school_id": school_id, "sync_id": "s002", "result": "undoing"}
    [execution] = executions(stack, "undo-")
    assert wait(execution["executionArn"])["status"] == "SUCCEEDED"
    active, archived = records(school_id)
    assert active == before
    assert {f"student#{i}" for i in effect.student_ids} <= active.keys()
    assert set(released) - set(before) <= archived.keys()
    # and s002 is pending again, on hold for `undone` and the rule it trips, the applied pointer on s001
    school = schools()[target]
    assert school.status is SchoolStatus.ON_HOLD
    assert school.pending_sync_id == "s002"
    assert [h.reason.value for h in school.holds] == ["undone", "large_removals", "emergency_contacts"]
    assert school.applied is not None
    assert school.applied.sync_id == "s001"
    assert (school.last_applied, school.dirty) == (None, {})
    actions = [e.action for e in services.state_table().audit(DISTRICT)[0]]
    assert actions[:2] == ["sync_undone", "undo_sync"]
    csv = api("GET", f"/v1/districts/{DISTRICT}/schools/{school_id}/changes.csv")
    assert csv.status == 200
    assert csv.text.count("\nremoved,student,") == len(effect.student_ids)
    # nothing left to undo: s002 is not applied any more, s001 was never undoable here
    assert api("GET", f"/v1/districts/{DISTRICT}/schools/{school_id}").json()["undo"] is None
    assert undo(school_id, "s002").json()["error"]["code"] == "not_latest"

    # When Clear holds approves s002 again
    cleared = api(
        "POST",
        f"/v1/districts/{DISTRICT}/holds/clear",
        {"schools": [{"school_id": school_id, "sync_id": "s002"}]},
    )

    # Then a release of its own applies it again: the roster is as after the first release
    assert cleared.json()["results"][0]["result"] == "released"
    [again] = [e for e in executions(stack, "release-") if e["name"] != "release-s002"]
    # (named after when s002 had been applied: never the name a release of s002 had before the undo)
    applied_at = re.sub(r"[^0-9]", "", first_applied.at.isoformat())[:20]
    assert again["name"] == release_execution_name(school_id, f"s002-u{applied_at}")
    assert wait(again["executionArn"])["status"] == "SUCCEEDED"
    assert records(school_id)[0] == released
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.last_applied is not None
    assert school.last_applied.sync_id == "s002"


def test_undo_refuses_a_change_set_that_is_not_the_latest_applied_or_is_too_old(
    stack: Any, flow: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a school whose latest applied change set s002 was applied at a known time
    target, school_id, _, _ = released_change_set(stack, simulator)
    state = services.state_table()
    school = state.get_school(DISTRICT, school_id)
    assert school is not None
    assert school.last_applied is not None
    applied_at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    last = school.last_applied.model_copy(update={"at": applied_at})
    state.put_school(school.model_copy(update={"last_applied": last}))

    def clock(now: datetime) -> None:
        monkeypatch.setattr(services, "utcnow", lambda: now)

    # When the admin undoes the earlier s001, an unknown sync, or s002 a second after 30 days
    clock(applied_at + timedelta(days=30, seconds=1))
    older = undo(school_id, "s001")
    unknown = undo(school_id, "nope")
    late = undo(school_id, "s002")

    # Then 409 not_latest, not_latest, too_old; no undo started, the roster untouched; all audited
    assert (older.status, older.json()["error"]["code"]) == (409, "not_latest")
    assert (unknown.status, unknown.json()["error"]["code"]) == (409, "not_latest")
    assert (late.status, late.json()["error"]["code"]) == (409, "too_old")
    assert executions(stack, "undo-") == []
    assert schools()[target].applied.sync_id == "s002"  # type: ignore[union-attr]
    refused = [e.result for e in state.audit(DISTRICT)[0] if e.action == "undo_sync"]
    assert sorted(refused) == ["not_latest", "not_latest", "too_old"]  # one clock reading: any order
    # while exactly 30 days after its apply it can still be undone
    clock(applied_at + timedelta(days=30))
    assert undo(school_id, "s002").status == 202
    # and the route is in the OpenAPI document with both refusals described
    document = api("GET", "/v1/openapi.json").json()
    described = document["paths"]["/v1/districts/{d}/schools/{s}/undo"]["post"]
    assert "409" in described["responses"]
    assert "`not_latest`" in described["description"]
    assert "`too_old`" in described["description"]


def test_undo_of_a_first_sync_archives_everything_and_holds_it(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a school whose first sync s001 was applied
    run = sync("s001")
    school_id = run.changed_schools[0].school_id
    first, _ = records(school_id)
    # When it is undone (the release flow's task, as its execution runs it)
    with acting_as("ApplyChangesFunction"):
        result = undo_applied(services.applier(), DISTRICT, school_id, "s001", actor="admin@example.org")
    # Then every record is archived, nothing is applied, s001 waits on hold for `undone` alone
    assert result.outcome == "undone"
    active, archived = records(school_id)
    assert (active, archived.keys()) == ({}, first.keys())
    school = services.state_table().get_school(DISTRICT, school_id)
    assert school is not None
    assert school.applied is None
    assert school.pending_sync_id == "s001"
    assert [h.reason.value for h in school.holds] == ["undone"]
    # and a retry of the task is recognised as done
    with acting_as("ApplyChangesFunction"):
        again = undo_applied(services.applier(), DISTRICT, school_id, "s001", actor="admin@example.org")
    assert again.outcome == "already_undone"


def test_a_poll_while_an_undone_change_set_waits_keeps_it_held(stack: Any, flow: Any, simulator: Any) -> None:
    # Given s002 undone at a school (clean data: no rule fires, only `undone` holds it)
    sim, _ = simulator
    sync("s001")
    target = sim.district.school_ids()[0]
    sim.scenarios.emergency_contact(school_id=target, contact_type="Parent/Guardian")
    sync("s002")
    school_id = schools()[target].school_id
    with acting_as("ApplyChangesFunction"):
        undo_applied(services.applier(), DISTRICT, school_id, "s002", actor="admin@example.org")
    # When Clever's data changes again, with nothing a rule holds
    sim.scenarios.emergency_contact(school_id=target, contact_type="Parent/Guardian")
    sync("s003")
    # Then the new change set is not applied by itself: it waits, still for `undone`
    school = schools()[target]
    assert school.status is SchoolStatus.ON_HOLD
    assert school.pending_sync_id == "s003"
    assert [h.reason.value for h in school.holds] == ["undone"]
    assert school.applied.sync_id == "s001"  # type: ignore[union-attr]


# --- a crash at every batch boundary resumes to the same end state ---------------------------------

BATCHES = 4


@pytest.mark.parametrize("crash_after", range(1, BATCHES + 1))
def test_a_crash_after_any_batch_of_an_undo_then_a_retry_ends_as_one_clean_undo(
    stack: Any, flow: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch, crash_after: int
) -> None:
    # Given a released change set and the roster and state one clean undo of it leaves, written in
    # exactly BATCHES batches (the last boundary: every item written, nothing committed)
    _, school_id, _, _ = released_change_set(stack, simulator)
    state, snapshots = services.state_table(), services.snapshot_bucket()
    released_school = state.get_school(DISTRICT, school_id)
    assert released_school is not None
    assert released_school.last_applied is not None
    assert released_school.last_applied.before is not None
    assert released_school.applied is not None
    reverted = diff(
        snapshots.get(released_school.last_applied.before.key).records,
        snapshots.get(released_school.applied.key).records,
    )
    items = len(reverted) + sum(1 for change in reverted if change.kind == "source_id_changed")
    monkeypatch.setattr(roster_table, "BATCH_SIZE", math.ceil(items / BATCHES))
    released_items = roster(school_id)
    with acting_as("ApplyChangesFunction"):
        undo_applied(services.applier(), DISTRICT, school_id, "s002", actor="admin@example.org")
    clean_items, clean_school = roster(school_id), state.get_school(DISTRICT, school_id)
    _put_back(school_id, released_items, released_school)

    # When the undo dies right after batch `crash_after`, then runs again
    def crash(batch: int) -> None:
        if batch == crash_after:
            raise TimeoutError("Lambda timed out")

    with pytest.raises(TimeoutError), acting_as("ApplyChangesFunction"):
        undo_applied(
            replace(services.applier(), after_batch=crash),
            DISTRICT,
            school_id,
            "s002",
            actor="admin@example.org",
        )
    crashed = state.get_school(DISTRICT, school_id)
    assert crashed is not None
    assert crashed.applied == released_school.applied  # nothing committed
    assert undo_name("s002") in crashed.dirty
    with acting_as("ApplyChangesFunction"):
        result = undo_applied(services.applier(), DISTRICT, school_id, "s002", actor="admin@example.org")

    # Then the roster is the clean undo's, item for item, and so is the school's state
    assert result.outcome == "undone"
    assert roster(school_id) == clean_items
    assert clean_school is not None
    assert _decided(state.get_school(DISTRICT, school_id)) == _decided(clean_school)


def _decided(school: School | None) -> dict[str, Any]:
    """What an undo decides about a school (not its bookkeeping: version, evaluation times)."""
    assert school is not None
    assert school.pending is not None
    return {
        "applied": school.applied,
        "pending": school.pending.model_dump(exclude={"evaluated_at"}),
        "status": school.status,
        "holds": school.holds,
        "changes": school.changes,
        "last_applied": school.last_applied,
        "dirty": school.dirty,
    }


def _put_back(school_id: str, items: list[dict[str, Any]], school: School) -> None:
    """The roster partition and the school exactly as they were before the clean undo."""
    table = services.roster_table()._table
    for item in roster(school_id):
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    services.state_table().put_school(school)


def test_an_abandoned_undo_is_put_right_by_the_next_apply(
    stack: Any, flow: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an undo of s002 that died after its first batch and was never retried
    target, school_id, _, _ = released_change_set(stack, simulator)
    monkeypatch.setattr(roster_table, "BATCH_SIZE", 5)
    released, _ = records(school_id)

    def crash(batch: int) -> None:
        raise TimeoutError("Lambda timed out")

    with pytest.raises(TimeoutError), acting_as("ApplyChangesFunction"):
        undo_applied(
            replace(services.applier(), after_batch=crash),
            DISTRICT,
            school_id,
            "s002",
            actor="admin@example.org",
        )
    assert records(school_id)[0] != released
    # When the next sync brings a clean change (the first student's contact gains a guardian)
    sim, _ = simulator
    sim.scenarios.emergency_contact(school_id=target, contact_type="Parent/Guardian")
    sync("s003")
    # Then the roster is s003's everywhere: what the undo wrote was put right
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.applied is not None
    assert school.applied.sync_id == "s003"
    expected = {
        f"{record_type}#{record['id']}": record
        for record_type, rows in services.snapshot_bucket().get(school.applied.key).records.items()
        for record in rows
    }
    assert records(school_id)[0] == expected
    assert school.dirty == {}
    assert isinstance(school.last_applied, AppliedChange)
