"""Bringing a district on: its Clever identity, its token, and the schools the platform already has."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sis_sync.clever.client import CleverClient
from sis_sync.model import AuditEntry, District, School, SchoolStatus
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore

SYSTEM = "system"


class TokenDistrictMismatchError(ValueError):
    """The token reads a different Clever district than the one it was listed or recorded for."""

    code = "token_district_mismatch"


def district_id_for(clever_district_id: str) -> str:
    """The platform's id of a district onboarded from Clever: stable, so onboarding runs once."""
    return f"d-{clever_district_id}"


def admin_emails(client: CleverClient) -> list[str]:
    """The e-mails of the district's Clever `district_admin` users (sorted, no blanks, no repeats)."""
    users = client.list_all_users("district_admin")
    return sorted({user.email.strip().lower() for user in users if user.email.strip()})


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
    expected_clever_district_id: str | None = None,
    actor: str = SYSTEM,
    source: str = "operator",
) -> District:
    """Create the district from Clever's own record (idempotent: an existing district is returned).

    With `expected_clever_district_id` (the owner Clever lists for the token), a token that reads
    another district is refused (`TokenDistrictMismatchError`) before anything is written.
    """
    existing = state.get_district(district_id)
    if existing is not None:
        return existing
    clever_district = client.district()
    if expected_clever_district_id is not None and clever_district.id != expected_clever_district_id:
        raise TokenDistrictMismatchError(
            f"the token of Clever district {expected_clever_district_id} reads district {clever_district.id}"
        )
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
    if not state.put_district(district):  # onboarded meanwhile by another run: that one audits
        return state.get_district(district_id) or district
    state.append_audit(
        AuditEntry(
            district_id=district_id,
            at=now,
            actor=actor,
            action="district_onboarded",
            result="connected",
            detail={
                "clever_district_id": clever_district.id,
                "source": source,
                "admins": len(admin_emails),
            },
        )
    )
    return district
