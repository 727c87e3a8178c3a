"""The district the notify tests mail (tests/integration/test_notify.py, test_hold_digest_mail.py):
its state table with the district in it, and the real notify handler run as NotifyFunction.

Re-exported as fixtures by the integration conftest."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.lambdas import FakeContext
from sis_sync import services
from sis_sync.model import Decision, District, PendingChange, SafeApplied, School, SchoolStatus
from sis_sync.rules import Hold
from sis_sync.store.state_table import StateTable
from tests.conftest import AwsStack
from tests.iam_guard import acting_as

DASHBOARD = "https://sis.example.org"
DISTRICT = "d-1"
ADMINS = ["admin@example.org", "deputy@example.org"]
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def held_school(
    school_id: str,
    sync_id: str,
    holds: list[Hold],
    *,
    name: str | None = None,
    notified: list[str] | None = None,
    removed: int = 20,
    safe_applied: dict[str, int] | None = None,
) -> School:
    """A school of the district held at `sync_id` for `holds`, as evaluate_holds leaves it: its
    change set of `removed` removals waiting, `notified` the reasons already mailed, and
    `safe_applied` the summary of its safe part when that was applied."""
    return School(
        district_id=DISTRICT,
        school_id=school_id,
        name=name or f"School {school_id}",
        clever_school_id=f"c-{school_id}",
        status=SchoolStatus.ON_HOLD,
        latest_sync_id=sync_id,
        pending=PendingChange(
            sync_id=sync_id,
            key=f"snapshots/{DISTRICT}/{school_id}/{sync_id}.json.gz",
            sha256="0" * 64,
            decision=Decision.HOLD,
            evaluated_at=T0,
            csv_key=f"changes/{DISTRICT}/{school_id}/{sync_id}.csv",
        ),
        holds=holds,
        notified_reasons=notified or [],
        changes={"added": 0, "updated": 0, "removed": removed, "source_id_changed": 0, "sync_id": sync_id},
        safe_applied=(
            SafeApplied(sync_id=sync_id, at=T0, actor="system", changes=safe_applied)
            if safe_applied
            else None
        ),
    )


@pytest.fixture
def state(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateTable]:
    monkeypatch.setenv("DASHBOARD_URL", DASHBOARD)
    services.reset()
    table = services.state_table()
    table.put_district(
        District(
            district_id=DISTRICT,
            name="Springfield Unified",
            clever_district_id="c-d-1",
            admin_emails=ADMINS,
        )
    )
    yield table
    services.reset()


@pytest.fixture
def notify(state: StateTable) -> Handler:
    """The real notify handler (imported here, after the mock and the environment are in place)."""
    app = importlib.import_module("functions.notify.app")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        with acting_as("NotifyFunction"):
            result: dict[str, Any] = app.lambda_handler(event, FakeContext(function_name="notify"))
        return result

    return invoke
