"""The Distributed Maps over many schools, end to end (moto's ASL interpreter, the real handlers
in-process): the evaluate Map reads the poll's manifest of 24 changed schools, the release Map the
manifest of one Clear holds naming all 24, and each runs every school exactly once. (NYC's 1,800
are not run here: applying them writes millions of roster items, far too slow in moto.)"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from sis_sync import services
from sis_sync.model import SchoolStatus
from tests.api_events import admin, call, http_event
from tests.e2e.flow import real_handlers, schools, wait
from tests.onboarded import DISTRICT, TOKEN, poll

SCHOOLS = 24  # more than MapConcurrency (10): the Maps run them in several waves
MAP_WAIT_SECONDS = 240  # 24 iterations of real handlers in moto, on a shared machine


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    """24 small schools, 12 students each (all of them gone is above the removal thresholds)."""
    district = GeneratedDistrict(seed=13, schools=SCHOOLS, students=SCHOOLS * 12)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    with sim.serve() as base_url:
        yield sim, base_url


def test_the_evaluate_and_release_maps_run_each_of_24_schools_once(stack: Any, simulator: Any) -> None:
    from functions.api.app import lambda_handler

    sim, _ = simulator
    evaluate_fn, apply_fn = (
        stack.function_names[f] for f in ("EvaluateHoldsFunction", "ApplyChangesFunction")
    )
    with real_handlers(stack) as log:
        # Given a first sync whose evaluate Map applied all 24 schools
        first = poll("s001")
        assert first.execution_arn is not None
        assert wait(first.execution_arn, MAP_WAIT_SECONDS)["status"] == "SUCCEEDED"
        assert len(schools()) == SCHOOLS
        # and a second where every school lost all its students: the evaluate Map over the
        # manifest of 24 changed schools put each on hold
        evaluated_before = Counter(e["school_id"] for name, e in log.calls if name == evaluate_fn)
        for school_id in sim.district.school_ids():
            sim.scenarios.semester_end(school_id=school_id, share=1.0)
        second = poll("s002")
        assert second.execution_arn is not None
        evaluated = wait(second.execution_arn, MAP_WAIT_SECONDS)
        assert evaluated["status"] == "SUCCEEDED", evaluated
        results = json.loads(evaluated["output"])["results"]
        assert len(results) == SCHOOLS
        evaluated_now = (
            Counter(e["school_id"] for name, e in log.calls if name == evaluate_fn) - evaluated_before
        )
        assert evaluated_now == dict.fromkeys((school.school_id for school in schools().values()), 1)
        held = list(schools().values())
        assert {school.status for school in held} == {SchoolStatus.ON_HOLD}
        applied_before = Counter(
            event["school_id"] for name, event in log.calls if name == apply_fn and "school_id" in event
        )
        # When the admin clears all 24 in one request
        body = {"schools": [{"school_id": school.school_id, "sync_id": "s002"} for school in held]}
        response = call(
            lambda_handler,
            http_event("POST", f"/v1/districts/{DISTRICT}/holds/clear", claims=admin(DISTRICT), body=body),
        )
        assert response.status == 202, response.text
        # Then ONE release execution ran its Map over the manifest: every school once, all applied
        [execution] = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.release_arn)[
            "executions"
        ]
        done = wait(execution["executionArn"], MAP_WAIT_SECONDS)
        assert done["status"] == "SUCCEEDED", done
        applied = (
            Counter(
                event["school_id"] for name, event in log.calls if name == apply_fn and "school_id" in event
            )
            - applied_before
        )
        assert applied == dict.fromkeys((school.school_id for school in held), 1)
        # (its first step, the same function, wrote each school's history of the Clear holds)
        state = services.state_table()
        assert all(
            [entry.action for entry in state.audit_entries_of_school(DISTRICT, school.school_id)].count(
                "clear_holds"
            )
            == 1
            for school in held
        )
        assert {school.school_id for school in held} == {
            school.school_id for school in schools().values() if school.status is SchoolStatus.CONNECTED
        }
        assert {school.applied.sync_id for school in schools().values() if school.applied} == {"s002"}
