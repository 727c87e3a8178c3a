"""Bringing a district on: its Clever identity, its token, and the schools the platform already has."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sis_sync.clever.client import CleverClient
from sis_sync.model import AuditEntry, District, School, SchoolStatus
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore


def onboard_district(
    state: StateTable,
    tokens: TokenStore,
    client: CleverClient,
    *,
    district_id: str,
    token: str,
    admin_emails: list[str],
    platform_schools: Iterable[School] = (),
    now: datetime,
) -> District:
    """Create the district from Clever's own record (idempotent: an existing district is returned)."""
    existing = state.get_district(district_id)
    if existing is not None:
        return existing
    clever_district = client.district()
    tokens.put(district_id, token)
    district = District(
        district_id=district_id,
        name=clever_district.name,
        clever_district_id=clever_district.id,
        admin_emails=admin_emails,
        next_poll_at=now,
    )
    for school in platform_schools:
        state.put_school(school.model_copy(update={"status": SchoolStatus.NOT_CONNECTED}), only_if_new=True)
    state.put_district(district)
    state.append_audit(
        AuditEntry(
            district_id=district_id,
            at=now,
            actor="system",
            action="district_onboarded",
            result="connected",
            detail={"clever_district_id": clever_district.id},
        )
    )
    return district
