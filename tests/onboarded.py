"""The onboarded test district: a Clever simulator on loopback, the district in moto, and a poll.

Imported by the integration and end-to-end conftests, which re-export the fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.token_onboarding import onboard_with_token
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import SyncRun
from sis_sync.polling import poll_district
from tests.iam_guard import acting_as

DISTRICT = "d-test"
TOKEN = "district-token-1"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def poll(sync_id: str) -> SyncRun:
    """A real poll as the poll function, whose Clever client skips its back-off waits."""
    poller = services.poller()
    url = services.environment().clever_api_url
    poller = replace(poller, clever=lambda token: CleverClient(url, token, sleep=lambda _: None))
    with acting_as("PollCleverFunction"):
        return poll_district(poller, DISTRICT, sync_id, trigger="test")


@contextmanager
def generated_district(seed: int, schools: int, students: int) -> Iterator[tuple[CleverSimulator, str]]:
    """The simulator serving a generated district to TOKEN, and its URL."""
    district = GeneratedDistrict(seed=seed, schools=schools, students=students)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    with sim.serve() as base_url:
        yield sim, base_url


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    """A generated 3-school district; a test module may override this fixture with other data
    (`generated_district` with its own size)."""
    with generated_district(seed=11, schools=3, students=300) as served:
        yield served


@pytest.fixture
def stack(aws: Any, simulator: tuple[CleverSimulator, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    _, base_url = simulator
    monkeypatch.setenv("CLEVER_API_URL", base_url)
    onboard_with_token(base_url, TOKEN, district_id=DISTRICT, admin_email="admin@example.org", now=T0)
    yield aws
    services.reset()
