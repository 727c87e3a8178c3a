"""Clear holds (and Apply safe changes, the same machinery) for a whole large district (1,800
schools, NYC's size) in one request: the API reads and decides every school in batches, audits
first, starts ONE release execution and answers at once, whatever the count; the calls it makes,
and what they carry, are counted, not timed."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from devstack.lambdas import FakeContext
from sis_sync import services
from sis_sync.model import Decision, PendingChange, School, SchoolStatus, SnapshotRef
from tests.api_events import admin, call, http_event
from tests.conftest import REPO_ROOT
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT

SCHOOLS = 1_800
STALE = {"s0007", "s1234"}  # named with an older sync id than the one pending
CALM = {"s0100", "s1799"}  # not on hold


def _school(school_id: str) -> School:
    held = school_id not in CALM
    pending = PendingChange(
        sync_id="s002",
        key=f"snapshots/{DISTRICT}/{school_id}/x.json.gz",
        sha256="x",
        decision=Decision.HOLD,
        evaluated_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        csv_key=f"changes/{DISTRICT}/{school_id}/s002.csv",
    )
    return School(
        district_id=DISTRICT,
        school_id=school_id,
        name=f"School {school_id}",
        clever_school_id=f"c-{school_id}",
        status=SchoolStatus.ON_HOLD if held else SchoolStatus.CONNECTED,
        applied=SnapshotRef(sync_id="s001", key="k", sha256="a"),
        pending=pending if held else None,
        latest_sync_id="s002",
    )


@pytest.fixture
def district(stack: Any) -> list[str]:
    """d-test with 1,800 schools, written straight to the table (the fastest way in moto)."""
    table = boto3.resource("dynamodb").Table(stack.state_table)
    ids = [f"s{n:04d}" for n in range(SCHOOLS)]
    with table.batch_writer() as batch:
        for school_id in ids:
            batch.put_item(Item=services.state_table()._school_item(_school(school_id)))
    return ids


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]
    answer: Any
    thread: int


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every AWS call made while the test runs, in order, with its answer and the thread that made
    it. StartExecution is answered here without reaching moto: its executor would otherwise run
    1,800 child executions after the test."""
    made: list[Call] = []
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "StartExecution":
            arn = params["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{params['name']}"
            answer: Any = {"executionArn": arn, "startDate": datetime.now(UTC)}
        else:
            answer = original(client, operation, params)
        made.append(Call(operation, params, answer, threading.get_ident()))
        return answer

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return made


def _record_release_history(started: dict[str, Any]) -> None:
    """The release state machine's first step, given its execution's input: the payload its
    RecordHistory state builds (constants as they are, `x.$` paths read from the input)."""
    from functions.apply_changes.app import lambda_handler as apply_changes

    machine = json.loads((REPO_ROOT / "statemachine" / "release.asl.json").read_text())
    payload = machine["States"]["RecordHistory"]["Parameters"]["Payload"]
    step = {
        key.removesuffix(".$"): started[value.removeprefix("$.")] if key.endswith(".$") else value
        for key, value in payload.items()
    }
    with acting_as("ApplyChangesFunction"):
        assert apply_changes(step, FakeContext(function_name="apply_changes")) == {"histories": SCHOOLS - 4}


@dataclass(frozen=True)
class Route:
    path: str
    action: str
    started: str  # the district log entry's result
    done: str  # the result of a school held with the sync id named
    manifest_mode: dict[str, str]  # what the manifest says of each school besides its ids


CLEAR = Route("holds/clear", "clear_holds", "released", "released", {})
APPLY_SAFE = Route(
    "holds/apply-safe", "apply_safe_changes", "applying", "applied_safe", {"mode": "apply_safe"}
)


@pytest.mark.parametrize("route", [CLEAR, APPLY_SAFE], ids=["clear", "apply-safe"])
def test_acting_on_1800_schools_starts_one_release_audited_first_in_a_bounded_number_of_calls(
    stack: Any, district: list[str], calls: list[Call], route: Route
) -> None:
    from functions.api.app import lambda_handler

    # Given 1,800 schools, all but two on hold, two of them named with a stale sync id
    body = {"schools": [{"school_id": s, "sync_id": "s001" if s in STALE else "s002"} for s in district]}
    # When the admin acts on them all at once
    response = call(
        lambda_handler,
        http_event("POST", f"/v1/districts/{DISTRICT}/{route.path}", claims=admin(DISTRICT), body=body),
    )
    # Then the answer is 202 with a result per school, in the order asked
    assert response.status == 202, response.text[:500]
    results = response.json()["results"]
    assert [r["school_id"] for r in results] == district
    outcome = {r["school_id"]: r["result"] for r in results}
    assert {s for s, r in outcome.items() if r == "stale"} == STALE
    assert {s for s, r in outcome.items() if r == "not_on_hold"} == CALM
    released = [s for s in district if outcome[s] == route.done]
    assert len(released) == SCHOOLS - 4
    # And ONE release execution started, over a manifest of exactly the released schools
    operations = Counter(c.operation for c in calls)
    [start] = [c.params for c in calls if c.operation == "StartExecution"]
    started = json.loads(start["input"])
    assert started["school_count"] == len(released)
    manifest = boto3.client("s3").get_object(Bucket=stack.bucket, Key=started["manifest"]["key"])
    assert json.loads(manifest["Body"].read()) == [
        {"school_id": s, "sync_id": "s002"} | route.manifest_mode for s in released
    ]
    # And the audit entry was written before the release started, the refused schools' histories too
    order = [c.operation for c in calls]
    audit_put = next(
        i
        for i, c in enumerate(calls)
        if c.operation == "PutItem" and str(c.params["Item"]["sk"]).startswith("AUDIT#")
    )
    assert audit_put < order.index("BatchWriteItem") < order.index("StartExecution")
    # And the calls are batched: no per-school call; the request writes no history of a released
    # school (its release's first step does), so its writes do not grow with the schools released
    assert operations["BatchGetItem"] == math.ceil(SCHOOLS / 100)
    assert operations["BatchWriteItem"] == math.ceil(len(STALE | CALM) / 25)
    assert operations["GetItem"] <= 2
    assert (operations["PutItem"], operations["PutObject"]) == (1, 1)
    assert sum(operations.values()) <= 30, operations
    # And the reads carry only what deciding needs: no school's name, counts or snapshot keys
    read = [
        item
        for c in calls
        if c.operation == "BatchGetItem"
        for item in c.answer["Responses"][stack.state_table]
    ]
    assert len(read) == SCHOOLS
    assert set().union(*(item.keys() for item in read)) <= {"school_id", "status", "pending", "holds"}
    assert set().union(*(item.get("pending", {}).keys() for item in read)) <= {"sync_id", "safe_changes"}
    # When the release's first step runs, twice (a retried step)
    for _ in range(2):
        _record_release_history(started)
    # Then each school has one history item, holding only what its key does not say
    histories = [
        request["PutRequest"]["Item"]
        for c in calls
        if c.operation == "BatchWriteItem"
        for request in c.params["RequestItems"][stack.state_table]
    ]
    assert len(histories) == len(STALE | CALM) + 2 * len(released)
    assert len({item["sk"] for item in histories}) == SCHOOLS
    # under the audit entry's own key, as the request's are
    logged = str(calls[audit_put].params["Item"]["sk"]).removeprefix("AUDIT#")
    assert {str(item["sk"]).split("#", 2)[2] for item in histories} == {logged}
    assert {frozenset(item) for item in histories} == {
        frozenset({"pk", "sk", "at", "actor", "action", "result", "sync_ids"})
    }
    # And the batches go several at a time (on AWS, 90 round trips one after another take seconds)
    assert len({c.thread for c in calls if c.operation == "BatchWriteItem"}) > 1
    assert len({c.thread for c in calls if c.operation == "BatchGetItem"}) > 1
    # And each school's history says what happened to that school, not the whole request
    state = services.state_table()
    for school_id, sync_id, result in [
        ("s0007", "s001", "stale"),
        ("s0100", "s002", "not_on_hold"),
        ("s0001", "s002", route.done),
    ]:
        history = state.audit_entries_of_school(DISTRICT, school_id)
        assert [
            (h.district_id, h.action, h.actor, h.result, h.school_ids, h.sync_ids, h.detail) for h in history
        ] == [(DISTRICT, route.action, "admin@example.org", result, [school_id], [sync_id], {})]
    # as the school's report shows it
    report = call(
        lambda_handler, http_event("GET", f"/v1/districts/{DISTRICT}/schools/s0001", claims=admin(DISTRICT))
    )
    assert [(h["action"], h["result"]) for h in report.json()["history"]] == [(route.action, route.done)]
    [entry] = [e for e in state.audit(DISTRICT)[0] if e.action == route.action]
    assert (entry.result, len(entry.detail["results"]), len(entry.school_ids)) == (
        route.started,
        SCHOOLS,
        SCHOOLS,
    )
