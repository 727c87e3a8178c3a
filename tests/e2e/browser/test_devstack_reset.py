"""`POST /dev/reset`, which lets the browser tests share a devstack: after a hold, its e-mail and
a cleared hold, a reset leaves what a freshly started devstack has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.e2e.browser.conftest import ADMIN, DevstackPool, RunningDevstack

pytestmark = pytest.mark.browser

# What differs between two devstacks in the same state: when their syncs ran and what they are called.
_SYNC_ID: Final = re.compile(r"\d{8}T\d{6,9}Z-[0-9a-z]+-d-[0-9a-f]+")
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    if isinstance(value, str):
        return _TIME.sub("<time>", _SYNC_ID.sub("<sync>", value))
    return value


def _state(devstack: RunningDevstack, headers: dict[str, str], district: str) -> dict[str, Any]:
    """What a test would see: the dashboard's schools, the audit log, the outbox, the panel."""
    schools = devstack.http.get(f"/v1/districts/{district}/schools", headers=headers)
    audit = devstack.http.get(f"/v1/districts/{district}/audit", headers=headers)
    panel = devstack.http.get("/dev/scenario")
    for response in (schools, audit, panel):
        response.raise_for_status()
    return _without_times(
        {
            "schools": schools.json(),
            "audit": audit.json(),
            "outbox": devstack.outbox(),
            "panel": panel.json(),
        }
    )


@pytest.fixture
def fresh_devstack(devstack_pool: DevstackPool) -> Iterator[RunningDevstack]:
    """A devstack of its own, just started (the shared ones have served other tests)."""
    started = devstack_pool.start({})
    try:
        yield started.devstack
    finally:
        started.stop()


def test_a_reset_after_a_hold_its_mail_and_a_clear_leaves_what_a_fresh_devstack_has(
    fresh_devstack: RunningDevstack,
) -> None:
    devstack = fresh_devstack
    token = devstack.http.post("/dev/token", json={"email": ADMIN}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    [district] = devstack.http.get("/v1/me", headers=headers).json()["district_ids"]
    # Given what the devstack has once started
    fresh = _state(devstack, headers, district)
    # And a school put on hold (the admin mailed), then cleared, and a token revoked
    first_scenario = devstack.scenario("semester_end")["effect"]["scenario_id"]
    devstack.tick()
    held = [
        s
        for s in devstack.http.get(f"/v1/districts/{district}/schools", headers=headers).json()["schools"]
        if s["status"] == "on_hold"
    ]
    assert held
    assert devstack.outbox()
    cleared = devstack.http.post(
        f"/v1/districts/{district}/holds/clear",
        headers=headers,
        json={"schools": [{"school_id": s["school_id"], "sync_id": s["pending_sync_id"]} for s in held]},
    )
    assert cleared.status_code == 202
    devstack.scenario("revoke_token")
    devstack.tick()
    assert _state(devstack, headers, district) != fresh

    # When the devstack is reset
    devstack.reset()

    # Then the schools, audit log, outbox and demo panel are as the devstack started
    assert _state(devstack, headers, district) == fresh
    # And the simulated district starts over: its token works, its scenarios are numbered anew
    assert devstack.scenario("semester_end")["effect"]["scenario_id"] == first_scenario
