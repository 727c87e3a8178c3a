"""`GET /v1/districts/{d}/syncs/{sync_id}` (DESIGN §7): what a check actually did, school by school,
through the real poll and evaluate flow (moto's ASL interpreter, real handlers in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from sis_sync import services
from tests.api_events import admin, call, http_event
from tests.e2e.flow import real_handlers, schools, sync
from tests.onboarded import DISTRICT, TOKEN


@pytest.fixture
def flow(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DASHBOARD_URL", "https://sis-sync.example.org")  # the hold e-mail's links
    services.environment.cache_clear()
    with real_handlers(stack) as log:
        yield log


@pytest.fixture
def status(flow: Any) -> Any:
    from functions.api.app import lambda_handler

    def get(sync_id: str, admin_of: str = DISTRICT) -> Any:
        return call(
            lambda_handler,
            http_event("GET", f"/v1/districts/{DISTRICT}/syncs/{sync_id}", claims=admin(admin_of)),
        )

    return get


def test_a_sync_reports_what_it_did_to_each_school(stack: Any, simulator: Any, status: Any) -> None:
    # Given a first sync that applies every school
    sim, _ = simulator
    first = sync("s001")
    ids = {clever_id: school.school_id for clever_id, school in schools().items()}
    every = sorted(ids.values())
    body = status(first.sync_id).json()
    assert body == {
        "sync_id": "s001",
        "status": "succeeded",
        "error": None,
        "schools": {"held": [], "applied": every, "released": [], "unchanged": []},
    }
    # When one school then loses 30 % of its students, and a sync holds it
    target = sim.district.school_ids()[0]
    sim.scenarios.semester_end(school_id=target)
    sync("s002")
    # Then the sync says so: that school held; the others applied (a student of two schools
    # left both) or unchanged
    body = status("s002").json()
    assert body["status"] == "succeeded"
    assert (body["schools"]["held"], body["schools"]["released"]) == ([ids[target]], [])
    others = body["schools"]["applied"] + body["schools"]["unchanged"]
    assert sorted(others) == sorted(set(every) - {ids[target]})
    # When Clever's data comes back to what is applied, the next sync releases the hold
    sim.scenarios.reset()
    sync("s003")
    body = status("s003").json()
    assert body["schools"]["released"] == [ids[target]]
    assert body["schools"]["held"] == []


def test_a_failed_sync_reports_its_error(stack: Any, simulator: Any, status: Any) -> None:
    # Given a sync whose token Clever revoked
    sim, _ = simulator
    sim.faults.revoke_token(TOKEN)
    sync("s001")
    # When its status is asked for
    body = status("s001").json()
    # Then it failed with Clever's reason and did nothing to any school
    assert body["status"] == "failed"
    assert body["error"]["code"] == "auth"
    assert body["schools"] == {"held": [], "applied": [], "released": [], "unchanged": []}


def test_another_districts_sync_and_an_unknown_sync_are_not_found(stack: Any, status: Any) -> None:
    # Given a sync of the district
    sync("s001")
    # When an admin of another district, or anyone for an unknown sync id, asks for it
    other = status("s001", admin_of="d-other")
    unknown = status("s999")
    # Then both are 404 (an admin of another district learns nothing)
    assert unknown.status == 404, unknown.text
    assert other.status == 404, other.text
    assert other.json()["error"]["code"] == "not_found"
