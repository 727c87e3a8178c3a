"""Schemathesis fuzzes every operation of the OpenAPI document the API generates (bodies, query
and path parameters drawn from the schema by hypothesis) through API Gateway v2 events, against
the template's stack in moto: no 5xx, and every response matches the document (status, content
type, body schema)."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sis_sync import services
from sis_sync.model import CleverSchool, School, SchoolStatus
from tests.api_events import WsgiShim, admin
from tests.onboarded import DISTRICT

SCHOOLS = ["s-a", "s-b", "s-nope"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from functions.api.app import lambda_handler  # imported on first request: it creates no clients

    result: dict[str, Any] = lambda_handler(event, context)
    return result


# The document is read from the API itself (GET /v1/openapi.json needs no AWS resource).
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", WsgiShim(_handler, admin(DISTRICT)))


@pytest.fixture
def seeded(stack: Any) -> Any:
    state = services.state_table()
    state.put_school(
        School(
            district_id=DISTRICT,
            school_id="s-a",
            name="A",
            clever_school_id="c-a",
            status=SchoolStatus.CONNECTED,
        )
    )
    state.put_school(School(district_id=DISTRICT, school_id="s-b", name="B School"))
    state.put_clever_school(
        CleverSchool(district_id=DISTRICT, clever_school_id="c-b", name="B", first_seen_sync_id="s1")
    )
    return stack


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_route_answers_5xx_or_breaks_its_schema(seeded: Any, case: Any) -> None:
    # Most cases address the district the caller administers (another one is a plain 404) and a
    # school that exists, so the fuzzing reaches the actions rather than stopping at lookups.
    parameters = case.path_parameters or {}
    if "d" in parameters:
        parameters["d"] = DISTRICT
    if "s" in parameters:
        parameters["s"] = SCHOOLS[zlib.crc32(str(parameters["s"]).encode()) % len(SCHOOLS)]
    response = case.call()
    case.validate_response(response, checks=CHECKS)
