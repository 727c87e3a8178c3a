"""The district the notify tests mail (tests/integration/test_notify.py, test_hold_digest_mail.py):
its state table with the district in it, and the real notify handler run as NotifyFunction.

Re-exported as fixtures by the integration conftest."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.lambdas import FakeContext
from sis_sync import services
from sis_sync.model import District
from sis_sync.store.state_table import StateTable
from tests.conftest import AwsStack
from tests.iam_guard import acting_as

DASHBOARD = "https://sis.example.org"
DISTRICT = "d-1"
ADMINS = ["admin@example.org", "deputy@example.org"]

Handler = Callable[[dict[str, Any]], dict[str, Any]]


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
