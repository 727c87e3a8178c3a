"""The district's audit log: every action that changes something appends an entry (who, when,
what, which schools and syncs, result); admins read it newest first, a page at a time."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from typing import Any, Final

from sis_sync.api.context import ApiContext
from sis_sync.api.errors import BadRequestError
from sis_sync.api.identity import Identity
from sis_sync.api.models import AuditPage
from sis_sync.model import AuditEntry

AUDIT_PAGE_MAX: Final = 100
AUDIT_PREFIX: Final = "AUDIT#"


def record(
    ctx: ApiContext,
    who: Identity,
    district_id: str,
    action: str,
    *,
    school_ids: list[str] | None = None,
    sync_ids: list[str] | None = None,
    result: str,
    detail: dict[str, Any] | None = None,
    per_school: Mapping[str, tuple[str, str]] | None = None,
    deferred: Collection[str] = (),
) -> tuple[AuditEntry, str]:
    """Append the entry; return it and its key (its place in the log and the histories).
    `per_school` (school id -> (sync id, result)) gives each school's history its own sync and
    result rather than a copy of the whole entry; the schools `deferred` get theirs from the
    release this action starts (see ReleaseHistory)."""
    entry = AuditEntry(
        district_id=district_id,
        at=ctx.now(),
        actor=who.email,
        action=action,
        school_ids=school_ids or [],
        sync_ids=sync_ids or [],
        result=result,
        detail=detail or {},
    )
    later = frozenset(deferred)
    histories = {
        school_id: entry.model_copy(
            update={"school_ids": [school_id], "sync_ids": [sync_id], "result": outcome, "detail": {}}
        )
        for school_id, (sync_id, outcome) in (per_school or {}).items()
        if school_id not in later
    }
    return entry, ctx.state.append_audit(entry, histories, deferred=deferred)


def audit_page(ctx: ApiContext, who: Identity, district_id: str, limit: int, cursor: str | None) -> AuditPage:
    ctx.require_district(who, district_id)
    after = decode_cursor(cursor) if cursor else None
    entries, next_sk = ctx.state.audit(district_id, limit=min(max(limit, 1), AUDIT_PAGE_MAX), after=after)
    return AuditPage(entries=entries, next_cursor=encode_cursor(next_sk) if next_sk else None)


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = AUDIT_PREFIX) -> str:
    """The sort key a cursor carries; only one of the listing's own (`prefix`) is accepted."""
    try:
        sort_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadRequestError("invalid cursor") from error
    if not sort_key.startswith(prefix) or len(sort_key) > 200:
        raise BadRequestError("invalid cursor")
    return sort_key
