"""The onboarded test district and a poll of it (shared by the integration tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import SyncRun
from sis_sync.polling import poll_district

DISTRICT = "d-test"
TOKEN = "district-token-1"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def poll(sync_id: str) -> SyncRun:
    """A real poll, whose Clever client records its back-off waits instead of sleeping them."""
    poller = services.poller()
    url = services.environment().clever_api_url
    poller = replace(poller, clever=lambda token: CleverClient(url, token, sleep=lambda _: None))
    return poll_district(poller, DISTRICT, sync_id, trigger="test")
