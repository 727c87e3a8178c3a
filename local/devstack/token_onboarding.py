"""A district onboarded from a Clever URL and its district token, as an operator onboards one: how
the devstack (given a real Clever), the benches and the tests bring their district on."""

from __future__ import annotations

from datetime import datetime

from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import District
from sis_sync.onboarding import onboard_district


def onboard_with_token(
    clever_url: str,
    token: str,
    *,
    district_id: str,
    admin_email: str,
    now: datetime,
    source: str = "operator",
) -> District:
    """`district_id` onboarded against the Clever at `clever_url` (its token stored; no poll yet), in
    the stack the environment names: the cached clients are forgotten first, so they are built from it."""
    services.reset()
    with CleverClient(clever_url, token) as client:
        return onboard_district(
            services.state_table(),
            services.token_store(),
            client,
            district_id=district_id,
            token=token,
            admin_emails=[admin_email],
            now=now,
            source=source,
        )
