"""What an operator does to districts: list them, onboard one by hand, poll one now, offboard one.

Every action is audited in the district's log under the operator's AWS identity. Offboarding
disconnects the district and forgets its token; it never deletes roster data, snapshots or history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from sis_sync.clever.client import CleverClient
from sis_sync.model import AuditEntry, Connection, District, ErrorInfo
from sis_sync.onboarding import TokenDistrictMismatchError, admin_emails, onboard_district
from sis_sync.polling import OFFBOARDED, sync_id_for
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore

OFFBOARDED_MESSAGE = "Offboarded by an operator: nothing is synced; the roster and history are kept."


class UnknownDistrictError(LookupError):
    pass


class PollInvoker(Protocol):
    """Starts one district's poll the API's way (the poll state machine): returns at once, or
    waits for its result (`syncs`: the polled district's sync id and status)."""

    def invoke(self, request: dict[str, Any], *, wait: bool) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Operator:
    state: StateTable
    tokens: TokenStore
    polls: PollInvoker
    clever: Callable[[str], CleverClient]  # district token -> client
    now: Callable[[], datetime]
    actor: str  # the operator's verified identity (its AWS principal)


class DistrictRow(BaseModel):
    district_id: str
    name: str
    clever_district_id: str
    connection: Connection
    error: str = ""
    admins: int = 0
    last_sync_at: datetime | None = None

    @classmethod
    def of(cls, district: District) -> DistrictRow:
        return cls(
            district_id=district.district_id,
            name=district.name,
            clever_district_id=district.clever_district_id,
            connection=district.connection,
            error=district.last_error.code if district.last_error else "",
            admins=len(district.admin_emails),
            last_sync_at=district.last_sync_at,
        )


class ActionResult(BaseModel):
    district_id: str
    action: str
    result: str
    sync_id: str | None = None
    detail: dict[str, Any] = {}


def list_districts(op: Operator) -> list[DistrictRow]:
    return sorted((DistrictRow.of(d) for d in op.state.districts()), key=lambda row: row.district_id)


def onboard(op: Operator, district_id: str, token: str, emails: list[str]) -> ActionResult:
    """Onboard a district with this token, or bring back an existing one (offboarded, disconnected
    or with a new token) after checking the token reads the district on record."""
    existing = op.state.get_district(district_id)
    with op.clever(token) as client:
        admins = sorted({e.strip().lower() for e in emails if e.strip()}) or admin_emails(client)
        if existing is None:
            district = onboard_district(
                op.state,
                op.tokens,
                client,
                district_id=district_id,
                token=token,
                admin_emails=admins,
                now=op.now(),
                actor=op.actor,
                source="operator",
            )
            return ActionResult(
                district_id=district_id,
                action="onboard",
                result="onboarded",
                detail={"clever_district_id": district.clever_district_id, "admins": len(admins)},
            )
        read = client.district().id
    if read != existing.clever_district_id:
        raise TokenDistrictMismatchError(
            f"the token reads Clever district {read}, not {existing.clever_district_id}"
        )
    op.tokens.put(district_id, token)
    now = op.now()
    op.state.mark_connected(district_id, next_poll_at=now, admin_emails=admins)
    _audit(op, district_id, "district_reconnected", "operator_onboarded")
    return ActionResult(district_id=district_id, action="onboard", result="reconnected")


def poll(op: Operator, district_id: str, *, wait: bool = False) -> ActionResult:
    require(op, district_id)
    sync_id = sync_id_for(district_id, op.now())
    request = {"district_id": district_id, "sync_id": sync_id, "trigger": "operator"}
    _audit(op, district_id, "check_now", "started", sync_ids=[sync_id])
    answer = op.polls.invoke(request, wait=wait)
    status = next((str(s.get("status")) for s in answer.get("syncs", [])), "started")
    return ActionResult(district_id=district_id, action="poll", result=status, sync_id=sync_id, detail=answer)


def offboard(op: Operator, district_id: str) -> ActionResult:
    """Disconnect the district for good and forget its token; everything it synced is kept."""
    district = require(op, district_id)
    removed = op.tokens.delete(district_id)
    if district.last_error is not None and district.last_error.code == OFFBOARDED:
        return ActionResult(district_id=district_id, action="offboard", result="already_offboarded")
    error = ErrorInfo(code=OFFBOARDED, message=OFFBOARDED_MESSAGE, at=op.now())
    op.state.update_district(district_id, connection=Connection.DISCONNECTED, last_error=error)
    _audit(op, district_id, "district_offboarded", OFFBOARDED, detail={"token_removed": removed})
    return ActionResult(
        district_id=district_id, action="offboard", result=OFFBOARDED, detail={"token_removed": removed}
    )


def require(op: Operator, district_id: str) -> District:
    district = op.state.get_district(district_id)
    if district is None:
        raise UnknownDistrictError(f"unknown district {district_id}")
    return district


def _audit(
    op: Operator,
    district_id: str,
    action: str,
    result: str,
    *,
    sync_ids: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    op.state.append_audit(
        AuditEntry(
            district_id=district_id,
            at=op.now(),
            actor=op.actor,
            action=action,
            sync_ids=sync_ids or [],
            result=result,
            detail=detail or {},
        )
    )
