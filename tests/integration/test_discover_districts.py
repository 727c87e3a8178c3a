"""discover_districts (the Lambda handler, routed in-process) against a two-district Clever simulator,
with AWS in moto built from template.yaml: districts onboard themselves and leave with
`app_disconnected` when Clever stops listing their token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.lambdas import InvokeLog, route_lambda_invokes, stack_handlers
from devstack.outbox import sent_messages
from devstack.schedules import run_execution, scheduled_event
from sis_sync import services
from sis_sync.model import Connection
from sis_sync.onboarding import district_id_for
from sis_sync.polling import parked
from sis_sync.store.app_credentials import AppCredentials, AppCredentialsStore

FIRST_ADMIN = "first.admin@one.example.org"
T1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
T3 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


@pytest.fixture
def clever() -> Iterator[CleverSimulator]:
    """Two districts that authorized the app (the first with a known admin e-mail)."""
    one = GeneratedDistrict(21, schools=1, students=40, district_admins=2, admin_emails=[FIRST_ADMIN])
    sim = CleverSimulator(one, client_id="app-id", client_secret="app-secret")
    sim.add_district(GeneratedDistrict(22, schools=1, students=40))
    with sim.serve() as base_url:
        sim.base = base_url  # type: ignore[attr-defined]
        yield sim


@pytest.fixture
def routed(aws: Any, clever: CleverSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[InvokeLog]:
    monkeypatch.setenv("CLEVER_API_URL", clever.base)  # type: ignore[attr-defined]
    monkeypatch.setenv("CLEVER_OAUTH_URL", clever.base)  # type: ignore[attr-defined]
    services.reset()
    with route_lambda_invokes(stack_handlers(aws.function_names, aws.function_modules)) as log:
        yield log
    services.reset()


def fill_secret(aws: Any, client_id: str = "app-id", client_secret: str = "app-secret") -> None:  # noqa: S107
    store = AppCredentialsStore(boto3.client("secretsmanager"), aws.secret_arns["CleverAppSecret"])
    store.put(AppCredentials.model_validate({"client_id": client_id, "client_secret": client_secret}))


def discover(aws: Any, at: datetime) -> dict[str, Any]:
    """One scheduled run of the function, as EventBridge invokes it."""
    event = {"id": f"event-{at:%H%M}", "time": at.isoformat(), "detail-type": "Scheduled Event", "detail": {}}
    response = boto3.client("lambda").invoke(
        FunctionName=aws.function_names["DiscoverDistrictsFunction"], Payload=json.dumps(event)
    )
    answer: dict[str, Any] = json.loads(response["Payload"].read())
    return {"error": answer} if "FunctionError" in response else answer


def audit_actions(district_id: str) -> list[str]:
    entries, _ = services.state_table().audit(district_id, limit=100)
    return sorted(entry.action for entry in entries)


def test_every_district_that_authorized_the_app_is_onboarded_once(
    aws: Any, clever: CleverSimulator, routed: InvokeLog
) -> None:
    # Given the operator filled the Clever app secret
    fill_secret(aws)
    one, two = (district_id_for(cid) for cid in sorted(clever.districts, key=list(clever.districts).index))
    # When discovery runs, and runs again
    first = discover(aws, T1)
    again = discover(aws, T2)
    # Then both districts were onboarded, once, as d-<clever id>, with their tokens and admins
    assert sorted(first["onboarded"]) == sorted([one, two])
    assert sorted(again["unchanged"]) == sorted([one, two])
    assert again["onboarded"] == []
    state, tokens = services.state_table(), services.token_store()
    district = state.get_district(one)
    assert district is not None
    assert district.clever_district_id == clever.district.district_id
    assert FIRST_ADMIN in district.admin_emails
    assert len(district.admin_emails) == 2  # Clever's district_admin users, all of them
    assert tokens.get(one) == next(t for t, d in clever.tokens.items() if d == clever.district.district_id)
    assert audit_actions(one) == ["district_onboarded"]


def test_a_district_that_removed_the_app_is_disconnected_once_and_comes_back(
    aws: Any, clever: CleverSimulator, routed: InvokeLog
) -> None:
    # Given two onboarded districts
    fill_secret(aws)
    discover(aws, T1)
    second = next(cid for cid in clever.districts if cid != clever.district.district_id)
    gone = district_id_for(second)
    state = services.state_table()
    district = state.get_district(gone)
    assert district is not None
    state.update_district(district.district_id, admin_emails=["second.admin@two.example.org"])
    # When the second district removes the app in Clever, and discovery runs (and is retried)
    clever.disconnect(second)
    result = discover(aws, T2)
    retried = discover(aws, T2)
    assert routed.join(60), "the disconnection e-mail is still being sent"
    # Then it is disconnected with app_disconnected, audited once, its admins mailed once
    assert result["disconnected"] == [gone]
    assert retried["disconnected"] == []
    district = state.get_district(gone)
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert district.last_error is not None
    assert district.last_error.code == "app_disconnected"
    assert parked(district)
    assert audit_actions(gone) == ["district_disconnected", "district_onboarded"]
    mails = [
        m for m in sent_messages(aws.account_id, aws.region) if m["to"] == ["second.admin@two.example.org"]
    ]
    assert len(mails) == 1
    # And the scheduled poll leaves it alone: its reason stays app_disconnected
    machine = aws.resolver.resolve({"Ref": "PollStateMachine"})
    event = scheduled_event({"poll_all": True}, at=T2, event_id="p")
    output = run_execution(boto3.client("stepfunctions"), machine, event, timeout_s=60)
    polled = [s["district_id"] for poll in output["polls"] for s in poll["syncs"]]
    assert gone not in polled
    still = state.get_district(gone)
    assert still is not None
    assert still.last_error is not None
    assert still.last_error.code == "app_disconnected"
    # When the district authorizes the app again
    clever.connect(second)
    back = discover(aws, T3)
    # Then it is connected again and due for a poll
    assert back["reconnected"] == [gone]
    district = state.get_district(gone)
    assert district is not None
    assert district.connection is Connection.CONNECTED
    assert district.last_error is None
    assert "district_reconnected" in audit_actions(gone)


def test_a_replaced_token_is_stored(aws: Any, clever: CleverSimulator, routed: InvokeLog) -> None:
    # Given an onboarded district
    fill_secret(aws)
    discover(aws, T1)
    first = clever.district.district_id
    # When Clever issues it a new token (the old one no longer listed)
    clever.disconnect(first)
    clever.connect(first, "a-brand-new-token")
    result = discover(aws, T2)
    # Then the new token is stored and the district stays connected
    district_id = district_id_for(first)
    assert result["token_replaced"] == [district_id]
    assert services.token_store().get(district_id) == "a-brand-new-token"
    district = services.state_table().get_district(district_id)
    assert district is not None
    assert district.connection is Connection.CONNECTED
    assert "clever_token_replaced" in audit_actions(district_id)


def test_until_the_secret_is_filled_nothing_happens(aws: Any, routed: InvokeLog) -> None:
    # Given the secret as the template creates it (empty values)
    # When discovery runs
    result = discover(aws, T1)
    # Then it says it is not configured and no district exists
    assert result["configured"] is False
    assert list(services.state_table().districts()) == []


def test_a_failed_listing_disconnects_nobody(aws: Any, clever: CleverSimulator, routed: InvokeLog) -> None:
    # Given two onboarded districts
    fill_secret(aws)
    discover(aws, T1)
    # When the app's credentials stop working (Clever answers 401 to the token listing)
    fill_secret(aws, client_secret="rotated-elsewhere")
    result = discover(aws, T2)
    # Then the run fails loudly and both districts stay connected
    assert result["error"]["errorType"] == "CleverAuthError"
    assert {d.connection for d in services.state_table().districts()} == {Connection.CONNECTED}
