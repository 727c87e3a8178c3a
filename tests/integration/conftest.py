"""Fixtures for integration tests: a Clever simulator on loopback and an onboarded district in moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.onboarding import onboard_district
from tests.integration.onboarded import DISTRICT, T0, TOKEN


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    """A generated 3-school district; a test module may override this fixture with other data."""
    district = GeneratedDistrict(seed=11, schools=3, students=300)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    with sim.serve() as base_url:
        yield sim, base_url


@pytest.fixture
def stack(aws: Any, simulator: tuple[CleverSimulator, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    _, base_url = simulator
    monkeypatch.setenv("CLEVER_API_URL", base_url)
    services.reset()
    state = services.state_table()
    with CleverClient(base_url, TOKEN) as client:
        onboard_district(
            state,
            services.token_store(),
            client,
            district_id=DISTRICT,
            token=TOKEN,
            admin_emails=["admin@example.org"],
            now=T0,
        )
    yield aws
    services.reset()
