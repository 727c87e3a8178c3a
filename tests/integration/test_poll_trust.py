"""Issue 10, findings 1, 3 and 5: a running poll or a reconnect never reverts settings saved
meanwhile; a token that reads another Clever district disconnects its district and stores nothing;
one poll per district at a time (a lease that a crashed poll cannot keep)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from clever_simulator import GeneratedDistrict
from sis_sync import services
from sis_sync.clever.client import CleverClient, ConnectionCheck
from sis_sync.clever.models import District as CleverDistrict
from sis_sync.clever.models import School as CleverSchoolRecord
from sis_sync.model import Connection, SyncRun, SyncStatus
from sis_sync.polling import LEASE, poll_district
from tests.api_events import ApiResponse, admin, call, http_event
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT, T0
from tests.poll_orders import recorded_polls

OTHER_TOKEN = "token-of-another-district"


class HookedClient(CleverClient):
    """A Clever client that runs `hook` once, when its caller first reads Clever: the moment a
    poll (or "I fixed it") has read the district and not yet written anything back."""

    def __init__(self, base_url: str, token: str, hook: Callable[[], None]) -> None:
        super().__init__(base_url, token, sleep=lambda _: None)
        self._hook: Callable[[], None] | None = hook

    def _fire(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()

    def district(self) -> CleverDistrict:
        self._fire()
        return super().district()

    def list_all_schools(self) -> list[CleverSchoolRecord]:
        self._fire()
        return super().list_all_schools()

    def check_connection(self, **kwargs: Any) -> ConnectionCheck:
        self._fire()
        return super().check_connection(**kwargs)


@pytest.fixture
def api(stack: Any) -> Callable[..., ApiResponse]:
    from functions.api.app import lambda_handler  # imported inside the mock (STYLE: tests)

    def request(method: str, raw_path: str, body: Any = None) -> ApiResponse:
        return call(lambda_handler, http_event(method, raw_path, claims=admin(DISTRICT), body=body))

    return request


@pytest.fixture
def polls(stack: Any) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The polls the API started (poll machine executions), their poll_clever steps recorded
    instead of run: `polls()` once the executions ended."""
    with recorded_polls(stack) as recorded:
        yield recorded


def hooked_poll(sync_id: str, hook: Callable[[], None], **changes: Any) -> SyncRun:
    """A real poll as the poll function; `hook` runs between its read of the district and its writes."""
    url = services.environment().clever_api_url
    poller = replace(services.poller(), clever=lambda token: HookedClient(url, token, hook), **changes)
    with acting_as("PollCleverFunction"):
        return poll_district(poller, DISTRICT, sync_id, trigger="test")


def removal_pct() -> float:
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    return district.settings.thresholds.removal_pct


def settings_audited() -> int:
    entries, _ = services.state_table().audit(DISTRICT, limit=200)
    return sum(entry.action == "settings_updated" for entry in entries)


# --- finding 1: field-level writes ------------------------------------------------------------------


def test_settings_saved_while_a_poll_runs_survive_the_poll(stack: Any, api: Any) -> None:
    # Given a poll that has read the district (removal_pct 10) and is reading Clever
    def tighten() -> None:
        patch = api("PATCH", f"/v1/districts/{DISTRICT}/settings", {"thresholds": {"removal_pct": 2}})
        assert patch.status == 200, patch.text

    # When an admin tightens removal_pct to 2 meanwhile, and the poll then finishes
    run = hooked_poll("20261102T080000000Z-a-d-test", tighten)
    # Then the poll's bookkeeping is written and the setting is still 2, as the audit log says
    assert run.status is SyncStatus.SUCCEEDED
    assert removal_pct() == 2
    assert settings_audited() == 1
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert (district.last_sync_id, district.onboarded) == (run.sync_id, True)


def test_settings_saved_while_a_failing_poll_runs_survive_its_failure(
    stack: Any, api: Any, simulator: Any
) -> None:
    # Given a poll that fails (Clever 503s on the schools listing)
    sim, _ = simulator
    sim.faults.fail_pages("/v3.0/schools", 1, status=503, html=False)

    def tighten() -> None:
        api("PATCH", f"/v1/districts/{DISTRICT}/settings", {"thresholds": {"removal_pct": 2}})

    # When settings are saved while it runs
    run = hooked_poll("20261102T080000000Z-b-d-test", tighten)
    # Then the failure is counted and the settings are kept
    assert run.status is SyncStatus.FAILED
    assert removal_pct() == 2
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.consecutive_failures == 1


def test_settings_saved_during_i_fixed_it_survive_the_reconnect(
    stack: Any, api: Any, polls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a disconnected district whose admin clicks "I fixed it"
    state = services.state_table()
    state.update_district(DISTRICT, connection=Connection.DISCONNECTED, consecutive_failures=3)
    url = services.environment().clever_api_url

    def tighten() -> None:
        patch = api("PATCH", f"/v1/districts/{DISTRICT}/settings", {"thresholds": {"removal_pct": 2}})
        assert patch.status == 200, patch.text

    # When settings are saved while the reconnect tests the Clever connection
    monkeypatch.setattr(
        services, "clever_client_factory", lambda env: lambda token: HookedClient(url, token, tighten)
    )
    body = api("POST", f"/v1/districts/{DISTRICT}/reconnect").json()
    # Then the district is connected again and the setting is still the one saved
    assert body["connection"] == "connected"
    assert removal_pct() == 2
    assert settings_audited() == 1
    district = state.get_district(DISTRICT)
    assert district is not None
    assert (district.connection, district.consecutive_failures) == (Connection.CONNECTED, 0)


def test_two_settings_changes_in_a_race_both_count(stack: Any, api: Any) -> None:
    # Given an admin saving removal_pct while another admin's max_guardians change lands first
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    with acting_as("ApiFunction"):
        other = district.settings.model_copy(
            update={"thresholds": district.settings.thresholds.model_copy(update={"max_guardians": 3})}
        )
        assert state.update_settings(DISTRICT, other, read_version=district.settings_version)
        # When a change computed from the settings read before is saved over the version read
        stale = state.update_settings(DISTRICT, district.settings, read_version=district.settings_version)
    # Then it is refused (the API reads again and re-applies its patch)
    assert not stale
    response = api("PATCH", f"/v1/districts/{DISTRICT}/settings", {"thresholds": {"removal_pct": 2}})
    assert response.status == 200
    after = state.get_district(DISTRICT)
    assert after is not None
    assert (after.settings.thresholds.max_guardians, after.settings.thresholds.removal_pct) == (3, 2)


def test_a_district_is_created_once(stack: Any) -> None:
    # Given the onboarded district
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    # When something tries to put it again as a whole item (a stale copy)
    stale = district.model_copy(update={"name": "Stale copy"})
    # Then nothing is written
    assert state.put_district(stale) is False
    after = state.get_district(DISTRICT)
    assert after is not None
    assert after.name == district.name


# --- finding 3: a token belongs to one district -----------------------------------------------------


def swap_token(simulator: Any) -> None:
    """The district's stored token is one Clever issued for another district (a token in the wrong slot)."""
    sim, _ = simulator
    sim.add_district(GeneratedDistrict(seed=99, schools=2, students=40), token=OTHER_TOKEN)
    services.token_store().put(DISTRICT, OTHER_TOKEN)


def test_a_token_of_another_district_disconnects_at_once_and_stores_nothing(
    stack: Any, simulator: Any
) -> None:
    # Given a connected district whose stored token reads another Clever district
    swap_token(simulator)
    sim, _ = simulator
    mails: list[tuple[str, str]] = []
    # When it is polled twice
    runs = [
        hooked_poll(sync_id, lambda: None, notify_disconnected=lambda d, s: mails.append((d, s)))
        for sync_id in ("20261102T080000000Z-c-d-test", "20261102T100000000Z-d-d-test")
    ]
    # Then both polls fail with token_district_mismatch; the first disconnects the district at once
    assert [(run.status, run.error.code if run.error else "") for run in runs] == [
        (SyncStatus.FAILED, "token_district_mismatch")
    ] * 2
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert district.last_error is not None
    assert district.last_error.code == "token_district_mismatch"
    # one e-mail and one audited disconnection
    assert mails == [(DISTRICT, runs[0].sync_id)]
    entries, _ = state.audit(DISTRICT, limit=200)
    assert [e.result for e in entries if e.action == "district_disconnected"] == ["token_district_mismatch"]
    # and nothing read was stored: no school, no snapshot, no execution
    assert list(state.schools(DISTRICT)) == []
    assert list(state.clever_schools(DISTRICT)) == []
    listing = boto3.client("s3").list_objects_v2(Bucket=stack.bucket)
    assert listing.get("KeyCount", 0) == 0
    sfn = boto3.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=stack.evaluate_arn)["executions"] == []
    assert sim.requests["/v3.0/users"] == 0  # the roster was not even read


def test_i_fixed_it_with_a_token_of_another_district_stays_disconnected(
    stack: Any, simulator: Any, api: Any, polls: Any
) -> None:
    # Given a disconnected district whose stored token now reads another Clever district
    swap_token(simulator)
    services.state_table().update_district(DISTRICT, connection=Connection.DISCONNECTED)
    # When the admin clicks "I fixed it"
    response = api("POST", f"/v1/districts/{DISTRICT}/reconnect")
    # Then it stays disconnected with the mismatch as its error, and no poll starts
    assert response.status == 200, response.text
    body = response.json()
    assert body["connection"] == "disconnected"
    assert body["error"]["code"] == "token_district_mismatch"
    assert polls() == []
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert district.last_error is not None
    assert district.last_error.code == "token_district_mismatch"


# --- finding 5: one poll per district at a time --------------------------------------------------------


def test_check_now_while_a_poll_runs_answers_its_sync_id_and_starts_nothing(
    stack: Any, api: Any, polls: Any
) -> None:
    # Given a first "Check for new Clever data" whose poll is running
    first = api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True})
    assert first.status == 202, first.text
    running = first.json()["sync_id"]
    assert first.json()["already_running"] is False
    # When the admin (or a script) asks five more times, and clicks "I fixed it"
    again = [api("POST", f"/v1/districts/{DISTRICT}/sync", {"confirm": True}) for _ in range(5)]
    fixed = api("POST", f"/v1/districts/{DISTRICT}/reconnect")
    # Then each answers 202 with the running sync id, and only one poll was started
    assert {(r.status, r.json()["sync_id"], r.json()["already_running"]) for r in again} == {
        (202, running, True)
    }
    assert fixed.status == 202, fixed.text
    assert (fixed.json()["sync_id"], fixed.json()["already_running"]) == (running, True)
    assert [p["sync_id"] for p in polls()] == [running]
    # and the sync's status can be asked for at once
    status = api("GET", f"/v1/districts/{DISTRICT}/syncs/{running}")
    assert status.status == 200, status.text
    assert status.json()["status"] == "running"


def test_a_scheduled_poll_skips_a_district_whose_poll_runs_then_the_lease_is_free(
    stack: Any, simulator: Any
) -> None:
    # Given a poll of the district that holds its lease
    sim, _ = simulator
    state = services.state_table()
    with acting_as("PollCleverFunction"):
        assert state.take_poll_lease(DISTRICT, "running-sync", now=T0, until=T0 + LEASE) is None
    before = sim.requests.total
    # When the scheduled poll reaches the district
    skipped = hooked_poll("20261102T080000000Z-e-d-test", lambda: None, now=lambda: T0 + timedelta(minutes=1))
    # Then it reads nothing from Clever and stores nothing
    assert skipped.status is SyncStatus.FAILED
    assert skipped.error is not None
    assert skipped.error.code == "already_running"
    assert state.get_sync_run(DISTRICT, skipped.sync_id) is None
    assert list(state.schools(DISTRICT)) == []
    assert sim.requests.total == before
    # When the running poll crashed and its lease expired
    later = hooked_poll(
        "20261102T083000000Z-f-d-test", lambda: None, now=lambda: T0 + LEASE + timedelta(seconds=1)
    )
    # Then the next poll takes the district over, runs, and frees it at its end
    assert later.status is SyncStatus.SUCCEEDED
    with acting_as("PollCleverFunction"):
        assert state.take_poll_lease(DISTRICT, "next", now=T0 + LEASE * 2, until=T0 + LEASE * 3) is None
