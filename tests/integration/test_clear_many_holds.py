"""Clear holds for a whole large district (1,800 schools, NYC's size) in one request: the API reads
and decides every school in batches, audits first, starts ONE release execution and answers at once,
whatever the count; the calls it makes are counted, not timed."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from sis_sync import services
from sis_sync.model import Decision, PendingChange, School, SchoolStatus, SnapshotRef
from tests.api_events import admin, call, http_event
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


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS call made while the test runs, in order. StartExecution is answered here without
    reaching moto: its executor would otherwise run 1,800 child executions after the test."""
    made: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        made.append((operation, params))
        if operation == "StartExecution":
            arn = params["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{params['name']}"
            return {"executionArn": arn, "startDate": datetime.now(UTC)}
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return made


def test_clearing_1800_schools_starts_one_release_audited_first_in_a_bounded_number_of_calls(
    stack: Any, district: list[str], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    from functions.api.app import lambda_handler

    # Given 1,800 schools, all but two on hold, two of them named with a stale sync id
    body = {"schools": [{"school_id": s, "sync_id": "s001" if s in STALE else "s002"} for s in district]}
    # When the admin clears them all at once
    response = call(
        lambda_handler,
        http_event("POST", f"/v1/districts/{DISTRICT}/holds/clear", claims=admin(DISTRICT), body=body),
    )
    # Then the answer is 202 with a result per school, in the order asked
    assert response.status == 202, response.text[:500]
    results = response.json()["results"]
    assert [r["school_id"] for r in results] == district
    outcome = {r["school_id"]: r["result"] for r in results}
    assert {s for s, r in outcome.items() if r == "stale"} == STALE
    assert {s for s, r in outcome.items() if r == "not_on_hold"} == CALM
    released = [s for s in district if outcome[s] == "released"]
    assert len(released) == SCHOOLS - 4
    # And ONE release execution started, over a manifest of exactly the released schools
    operations = Counter(operation for operation, _ in calls)
    [start] = [params for operation, params in calls if operation == "StartExecution"]
    started = json.loads(start["input"])
    assert started["school_count"] == len(released)
    manifest = boto3.client("s3").get_object(Bucket=stack.bucket, Key=started["manifest"]["key"])
    assert json.loads(manifest["Body"].read()) == [{"school_id": s, "sync_id": "s002"} for s in released]
    # And the audit entry was written before the release started
    audit_put = next(
        i
        for i, (operation, params) in enumerate(calls)
        if operation == "PutItem" and str(params["Item"]["sk"]).startswith("AUDIT#")
    )
    assert audit_put < next(i for i, (operation, _) in enumerate(calls) if operation == "StartExecution")
    # And the calls are batched: no per-school call, one history item per school (25 per batch)
    assert operations["BatchGetItem"] == math.ceil(SCHOOLS / 100)
    assert operations["BatchWriteItem"] <= math.ceil(SCHOOLS / 25) + 1
    assert operations["GetItem"] <= 2
    assert (operations["PutItem"], operations["PutObject"]) == (1, 1)
    assert sum(operations.values()) <= 100, operations
    # And each school's history says what happened to that school, not the whole request
    history = services.state_table().audit_entries_of_school(DISTRICT, "s0007")
    assert [(h.action, h.result, h.school_ids, h.sync_ids) for h in history] == [
        ("clear_holds", "stale", ["s0007"], ["s001"])
    ]
    [entry] = [e for e in services.state_table().audit(DISTRICT)[0] if e.action == "clear_holds"]
    assert (entry.result, len(entry.detail["results"])) == ("released", SCHOOLS)
