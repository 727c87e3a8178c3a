"""Actions started from the API run through the real state machines (moto's ASL interpreter, real
handlers in-process): Clear holds releases a hold the real evaluate flow placed; Check for new
Clever data polls and evaluates."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from sis_sync import services
from sis_sync.model import SchoolStatus
from tests.api_events import admin, call, http_event
from tests.e2e.flow import real_handlers, roster, schools, sync, wait
from tests.onboarded import DISTRICT


@pytest.fixture
def flow(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the hold e-mail's links need an absolute URL (the template gives the API's own in AWS)
    monkeypatch.setenv("DASHBOARD_URL", "https://sis-sync.example.org")
    services.environment.cache_clear()
    with real_handlers(stack) as log:
        yield log


@pytest.fixture
def api(flow: Any) -> Any:
    from functions.api.app import lambda_handler

    def request(method: str, raw_path: str, body: Any = None) -> Any:
        return call(lambda_handler, http_event(method, raw_path, claims=admin(DISTRICT), body=body))

    return request


def test_clear_holds_from_the_api_applies_the_held_change_set(stack: Any, api: Any, simulator: Any) -> None:
    # Given a school the real evaluate flow put on hold for large removals
    sim, _ = simulator
    sync("s001")
    target = sim.district.school_ids()[0]
    effect = sim.scenarios.semester_end(school_id=target)
    sync("s002")
    held = schools()[target]
    assert held.status is SchoolStatus.ON_HOLD
    listed = api("GET", f"/v1/districts/{DISTRICT}/schools", None).json()["schools"]
    item = next(s for s in listed if s["school_id"] == held.school_id)
    assert item["status"] == "on_hold"
    assert item["holds"][0]["reason"] == "large_removals"
    csv = api("GET", f"/v1/districts/{DISTRICT}/schools/{held.school_id}/changes.csv")
    assert csv.status == 200
    assert "large_removals" in csv.text
    # When the admin clears it from the API with the sync id they reviewed
    response = api(
        "POST",
        f"/v1/districts/{DISTRICT}/holds/clear",
        {"schools": [{"school_id": held.school_id, "sync_id": item["pending_sync_id"]}]},
    )
    assert response.status == 202, response.text
    assert response.json()["results"][0]["result"] == "released"
    sfn = boto3.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=stack.release_arn)["executions"]
    done = wait(execution["executionArn"])
    # Then the release ran through the real machine: connected, the held change set applied
    assert done["status"] == "SUCCEEDED", done
    school = schools()[target]
    assert school.status is SchoolStatus.CONNECTED
    assert school.applied is not None
    assert school.applied.sync_id == "s002"
    archived = {i["clever_id"] for i in roster(school.school_id) if i.get("archived_at")}
    assert set(effect.removed_ids) <= archived
    report = api("GET", f"/v1/districts/{DISTRICT}/schools/{school.school_id}").json()
    assert report["status"] == "connected"
    actions = [h["action"] for h in report["history"]]
    assert "clear_holds" in actions
    # And clearing the same change set again releases nothing more
    again = api(
        "POST",
        f"/v1/districts/{DISTRICT}/holds/clear",
        {"schools": [{"school_id": school.school_id, "sync_id": "s002"}]},
    )
    assert again.json()["results"][0]["result"] == "not_on_hold"


def test_check_now_from_the_api_polls_and_evaluates(stack: Any, api: Any, flow: Any, simulator: Any) -> None:
    # Given a district synced once, whose Clever data then gains an emergency contact
    sim, _ = simulator
    sync("20260101T000000Z-d-test")  # real-format sync ids sort by time (the API's is "now")
    target = sim.district.school_ids()[1]
    sim.scenarios.emergency_contact(school_id=target)
    # When the admin checks for new Clever data (the poll machine runs it, named by the sync id)
    response = api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True})
    assert response.status == 202, response.text
    sync_id = response.json()["sync_id"]
    polled = wait(stack.poll_arn.replace(":stateMachine:", ":execution:") + f":{sync_id}")
    assert polled["status"] == "SUCCEEDED", polled
    run = services.state_table().get_sync_run(DISTRICT, sync_id)
    assert run is not None
    assert run.trigger == "manual"
    assert run.execution_arn
    assert wait(run.execution_arn)["status"] == "SUCCEEDED"
    # Then the school is held for that sync
    held = schools()[target]
    assert held.status is SchoolStatus.ON_HOLD
    assert held.pending_sync_id == sync_id


def test_clearing_several_holds_releases_them_all_in_one_execution(
    stack: Any, api: Any, simulator: Any
) -> None:
    # Given two schools the real evaluate flow put on hold for large removals
    sim, _ = simulator
    sync("s001")
    targets = sim.district.school_ids()[:2]
    for target in targets:
        sim.scenarios.semester_end(school_id=target)
    sync("s002")
    held = [schools()[target] for target in targets]
    assert all(school.status is SchoolStatus.ON_HOLD for school in held)
    # When the admin clears both in one request
    body = {"schools": [{"school_id": school.school_id, "sync_id": "s002"} for school in held]}
    response = api("POST", f"/v1/districts/{DISTRICT}/holds/clear", body)
    assert response.status == 202, response.text
    assert [r["result"] for r in response.json()["results"]] == ["released", "released"]
    # Then ONE release execution ran through the real machine (its Distributed Map, one school at a
    # time) and applied both held change sets
    [execution] = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.release_arn)[
        "executions"
    ]
    done = wait(execution["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    for target in targets:
        school = schools()[target]
        assert school.status is SchoolStatus.CONNECTED
        assert school.applied is not None
        assert school.applied.sync_id == "s002"
