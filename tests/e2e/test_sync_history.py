"""What the numbers of a school mean (`changes_kind`: pending, applying, last applied, none) and the
district's sync history (`GET /v1/districts/{d}/syncs`), through the real poll, evaluate and release
flows (moto's ASL interpreter, real handlers in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from sis_sync import services
from tests.api_events import admin, call, http_event
from tests.e2e.flow import hold_one_school, real_handlers, release, schools, sync
from tests.onboarded import DISTRICT, TOKEN


@pytest.fixture
def api(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DASHBOARD_URL", "https://sis-sync.example.org")  # the hold e-mail's links
    services.environment.cache_clear()
    from functions.api.app import lambda_handler

    def get(path: str, query: dict[str, str] | None = None, admin_of: str = DISTRICT) -> Any:
        return call(lambda_handler, http_event("GET", path, claims=admin(admin_of), query=query))

    with real_handlers(stack):
        yield get


def report(api: Any, school_id: str) -> dict[str, Any]:
    response = api(f"/v1/districts/{DISTRICT}/schools/{school_id}")
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row(api: Any, school_id: str) -> dict[str, Any]:
    listed = api(f"/v1/districts/{DISTRICT}/schools").json()["schools"]
    return next(school for school in listed if school["school_id"] == school_id)


def test_held_counts_are_pending_and_after_clear_hold_they_are_the_last_applied(
    stack: Any, simulator: Any, api: Any
) -> None:
    # Given a school held for a semester-end removal
    school_id = hold_one_school(simulator, "semester_end").school_id
    held = report(api, school_id)
    # Then its numbers say they are pending (held, not applied), as of the evaluation
    assert held["changes_kind"] == "pending"
    assert held["changes"]["removed"] > 0
    assert sum(counts["removed"] for counts in held["by_type"].values()) == held["changes"]["removed"]
    assert held["changes_at"] is not None
    assert row(api, school_id)["changes_kind"] == "pending"
    # When the admin's Clear hold is applied
    execution = release(stack, school_id, "s002", "release-s002")
    assert execution["status"] == "SUCCEEDED", execution
    # Then the same numbers are what was applied last, at the time it was applied
    applied = report(api, school_id)
    assert applied["status"] == "connected"
    assert applied["changes_kind"] == "last_applied"
    assert applied["changes"] == held["changes"]
    assert applied["changes_at"] == applied["last_synced_at"]
    assert applied["csv_url"] is None


def test_a_hold_that_released_itself_unapplied_shows_no_numbers(stack: Any, simulator: Any, api: Any) -> None:
    # Given a school held for removals, whose numbers are pending
    sim, _ = simulator
    school_id = hold_one_school(simulator, "semester_end").school_id
    assert report(api, school_id)["changes"]["removed"] > 0
    # When Clever's data goes back to what is applied and a sync releases the hold
    sim.scenarios.reset()
    sync("s003")
    # Then no count of the dropped change set is shown any more, neither in total nor per type
    released = report(api, school_id)
    assert released["status"] == "connected"
    assert released["changes_kind"] == "none"
    assert released["changes"] == {"added": 0, "updated": 0, "removed": 0, "source_id_changed": 0}
    assert released["by_type"] == {}
    assert released["changes_at"] is None
    assert row(api, school_id)["changes_kind"] == "none"


def test_the_sync_history_lists_each_sync_with_its_trigger_result_and_schools(
    stack: Any, simulator: Any, api: Any
) -> None:
    # Given a first sync that applies every school, one that holds a school, one that releases it
    sim, _ = simulator
    target = hold_one_school(simulator, "semester_end").clever_id
    ids = {clever_id: school.school_id for clever_id, school in schools().items()}
    sim.scenarios.reset()
    sync("s003")
    # When the admin reads the history
    response = api(f"/v1/districts/{DISTRICT}/syncs")
    # Then it lists the three syncs newest first, each with what it did to which school
    assert response.status == 200, response.text
    syncs = response.json()["syncs"]
    assert [s["sync_id"] for s in syncs] == ["s003", "s002", "s001"]
    assert {s["trigger"] for s in syncs} == {"test"}
    assert all(s["status"] == "succeeded" and s["started_at"] for s in syncs)
    assert syncs[0]["schools"]["released"] == [ids[target]]
    assert syncs[1]["schools"]["held"] == [ids[target]]
    assert sorted(syncs[2]["schools"]["applied"]) == sorted(ids.values())
    assert response.json()["next_cursor"] is None


def test_the_sync_history_pages_by_cursor_and_refuses_a_foreign_cursor(
    stack: Any, simulator: Any, api: Any
) -> None:
    # Given three syncs, the last one failed (Clever refused the token)
    sim, _ = simulator
    sync("s001")
    sync("s002")
    sim.faults.revoke_token(TOKEN)
    sync("s003")
    path = f"/v1/districts/{DISTRICT}/syncs"
    # When the history is read two at a time
    first = api(path, {"limit": "2"}).json()
    second = api(path, {"limit": "2", "cursor": first["next_cursor"]}).json()
    # Then the pages follow each other, and the failed sync says why
    assert [s["sync_id"] for s in first["syncs"]] == ["s003", "s002"]
    assert first["syncs"][0]["status"] == "failed"
    assert first["syncs"][0]["error"]["code"] == "auth"
    assert [s["sync_id"] for s in second["syncs"]] == ["s001"]
    assert second["next_cursor"] is None
    # And a cursor of another listing (the audit log's) or garbage is a 400; another district a 404
    audit_cursor = api(f"/v1/districts/{DISTRICT}/audit", {"limit": "1"}).json()["next_cursor"]
    assert audit_cursor
    assert api(path, {"cursor": audit_cursor}).status == 400
    assert api(path, {"cursor": "!!"}).status == 400
    assert api(path, admin_of="d-other").status == 404
