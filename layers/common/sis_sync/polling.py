"""Polling one district: pull Clever, snapshot each school, hand the changed schools to evaluation.

All-or-nothing: every listing must complete before anything is written, so a failed, partial or
truncated poll produces no snapshot, no change set and no execution (a missing page must never
read as "everyone was removed").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sis_sync.clever.client import CleverClient, Role
from sis_sync.clever.errors import CleverAuthError, CleverBadResponse, CleverError
from sis_sync.clever.models import School as CleverSchoolRecord
from sis_sync.discovery import discover
from sis_sync.model import (
    AuditEntry,
    Connection,
    District,
    ErrorInfo,
    School,
    SchoolStatus,
    SyncRun,
    SyncSchool,
    SyncStatus,
)
from sis_sync.observability import logger
from sis_sync.snapshot import Partitioner, Records, Snapshot, encode
from sis_sync.store.executions import Executions
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import MissingTokenError, TokenStore

USER_ROLES: tuple[Role, ...] = ("student", "teacher", "staff", "contact")
SYSTEM = "system"
APP_DISCONNECTED = "app_disconnected"  # the district no longer authorizes the app in Clever
OFFBOARDED = "offboarded"  # an operator took the district off the platform
PARKED = frozenset({APP_DISCONNECTED, OFFBOARDED})


def parked(district: District) -> bool:
    """Disconnected with no token to poll with: the district removed the app in Clever, or an
    operator offboarded it. No poll runs (it would only replace that reason with a token error)
    until Clever lists a token for it again or an operator onboards it again."""
    error = district.last_error
    return district.connection is Connection.DISCONNECTED and error is not None and error.code in PARKED


@dataclass(frozen=True)
class Poller:
    state: StateTable
    snapshots: SnapshotBucket
    tokens: TokenStore
    executions: Executions
    clever: Callable[[str], CleverClient]  # district token -> client
    now: Callable[[], datetime]
    notify_disconnected: Callable[[str, str], None] = lambda district_id, sync_id: None


@dataclass(frozen=True)
class CleverPull:
    schools: list[CleverSchoolRecord]
    records: dict[str, Records]  # Clever school id -> records
    quarantine: dict[str, int]
    requests: int


def sync_id_for(district_id: str, at: datetime) -> str:
    """Sortable by time within a district, and a valid Step Functions execution name."""
    return f"{at:%Y%m%dT%H%M%S}Z-{district_id}"[:80]


def pull(client: CleverClient) -> CleverPull:
    """Every list the snapshots need, streamed page by page into the partitioner."""
    partitioner = Partitioner()
    schools = client.list_all_schools()
    for role in USER_ROLES:
        for user in client.users(role):
            partitioner.add_user(user)
    partitioner.add_terms(term.id for term in client.terms())
    for section in client.sections():
        partitioner.add_section(section)
    if client.rejected:
        # A record Clever sent that we could not read is missing from the lists: snapshotting
        # without it would read as its removal. The poll fails with a clear reason instead.
        kinds = sorted({rejection.kind for rejection in client.rejected})
        raise CleverBadResponse(f"{len(client.rejected)} {'/'.join(kinds)} records failed validation")
    records = partitioner.finish()
    quarantine = partitioner.quarantine.summary()
    return CleverPull(schools=schools, records=records, quarantine=quarantine, requests=client.request_count)


def poll_district(
    poller: Poller, district_id: str, sync_id: str, *, trigger: str, school_ids: Iterable[str] | None = None
) -> SyncRun:
    """Poll one district under `sync_id`; running the same sync id again does no double work."""
    state = poller.state
    existing = state.get_sync_run(district_id, sync_id)
    if existing is not None and existing.status is not SyncStatus.RUNNING:
        logger.info("sync already done", district_id=district_id, sync_id=sync_id, status=existing.status)
        return existing
    district = state.get_district(district_id)
    if district is None:
        raise LookupError(f"unknown district {district_id}")
    if parked(district):
        logger.info("parked district not polled", district_id=district_id, sync_id=sync_id)
        return SyncRun(
            district_id=district_id,
            sync_id=sync_id,
            trigger=trigger,
            started_at=poller.now(),
            finished_at=poller.now(),
            status=SyncStatus.FAILED,
            error=district.last_error,
        )
    run = existing or SyncRun(
        district_id=district_id, sync_id=sync_id, trigger=trigger, started_at=poller.now()
    )
    state.put_sync_run(run)
    try:
        with poller.clever(poller.tokens.get(district_id)) as client:
            pulled = pull(client)
    except (CleverError, MissingTokenError) as error:
        return _record_failure(poller, district, run, error)
    return _record_pull(poller, district, run, pulled, set(school_ids) if school_ids else None)


def _record_pull(
    poller: Poller, district: District, run: SyncRun, pulled: CleverPull, only: set[str] | None
) -> SyncRun:
    state, now = poller.state, poller.now()
    known = list(state.schools(district.district_id))
    found = discover(
        district.district_id, run.sync_id, known, pulled.schools, first_sync=not district.onboarded
    )
    for school in found.created:
        state.put_school(school, only_if_new=True)
    for school in found.auto_matched:
        state.put_school(school)
        state.delete_clever_school(district.district_id, school.clever_school_id or "")
        _audit(
            poller,
            district,
            "school_auto_matched",
            [school.school_id],
            run.sync_id,
            school.clever_school_id or "",
        )
    for clever_school in found.unmatched:
        state.put_clever_school(clever_school)
    for school in found.no_longer_shared:
        logger.warning("matched school no longer shared by Clever", school_id=school.school_id)

    for clever_school_id, school in sorted(found.matched.items()):
        if only is not None and school.school_id not in only:
            continue
        records = pulled.records.get(clever_school_id) or {}
        changed = _snapshot_if_changed(poller, school, clever_school_id, records, run.sync_id)
        if changed is None:
            run.unchanged_school_ids.append(school.school_id)
        else:
            run.changed_schools.append(changed)

    run.quarantine, run.requests = pulled.quarantine, pulled.requests
    if run.changed_schools:
        # The schools go in a manifest, not the execution input: 1,800 of them would not fit.
        manifest = poller.snapshots.put_manifest(
            district.district_id,
            run.sync_id,
            [school.model_dump(mode="json") for school in run.changed_schools],
        )
        run.manifest_key, run.changed_count = manifest, len(run.changed_schools)
        run.execution_arn = poller.executions.start(
            run.sync_id,
            {
                "district_id": district.district_id,
                "sync_id": run.sync_id,
                "manifest": {"bucket": poller.snapshots.bucket, "key": manifest},
                "school_count": len(run.changed_schools),
            },
        )
    run.status, run.finished_at = SyncStatus.SUCCEEDED, now
    state.put_sync_run(run)
    reconnected = district.connection is Connection.DISCONNECTED
    district = district.model_copy(
        update={
            "connection": Connection.CONNECTED,
            "consecutive_failures": 0,
            "last_error": None,
            "onboarded": True,
            "last_sync_at": now,
            "last_sync_id": run.sync_id,
            "next_poll_at": now + timedelta(minutes=district.settings.sync_interval_minutes),
        }
    )
    state.put_district(district)
    if reconnected:
        _audit(poller, district, "district_reconnected", [], run.sync_id, "connected")
    logger.info(
        "sync pulled",
        district_id=district.district_id,
        sync_id=run.sync_id,
        changed=len(run.changed_schools),
        unchanged=len(run.unchanged_school_ids),
        requests=run.requests,
    )
    return run


def _snapshot_if_changed(
    poller: Poller, school: School, clever_school_id: str, records: Records, sync_id: str
) -> SyncSchool | None:
    snapshot = Snapshot(school.district_id, school.school_id, clever_school_id, records)
    encoded = encode(snapshot)
    if encoded.sha256 == school.latest_sha256():
        return None
    key = poller.snapshots.put(school.district_id, school.school_id, encoded)
    return SyncSchool(
        school_id=school.school_id,
        clever_school_id=clever_school_id,
        snapshot_key=key,
        sha256=encoded.sha256,
        counts=snapshot.counts(),
    )


def _record_failure(poller: Poller, district: District, run: SyncRun, error: Exception) -> SyncRun:
    now = poller.now()
    code = error.code if isinstance(error, CleverError) else "no_token"
    info = ErrorInfo(code=code, message=str(error)[:500], at=now)
    failures = district.consecutive_failures + 1
    give_up = isinstance(error, (CleverAuthError, MissingTokenError))
    disconnect = give_up or failures >= district.settings.disconnect_after_failures
    logger.warning(
        "sync failed", district_id=district.district_id, sync_id=run.sync_id, code=code, failures=failures
    )
    run.status, run.finished_at, run.error = SyncStatus.FAILED, now, info
    poller.state.put_sync_run(run)
    was_connected = district.connection is Connection.CONNECTED
    district = district.model_copy(
        update={
            "consecutive_failures": failures,
            "last_error": info,
            "connection": Connection.DISCONNECTED if disconnect else district.connection,
            "next_poll_at": now + timedelta(minutes=district.settings.sync_interval_minutes),
        }
    )
    poller.state.put_district(district)
    if disconnect and was_connected:
        announce_disconnection(
            poller.state, poller.notify_disconnected, district, run.sync_id, actor=SYSTEM, at=now
        )
    return run


def announce_disconnection(
    state: StateTable,
    notify_disconnected: Callable[[str, str], None],
    district: District,
    sync_id: str,
    *,
    actor: str,
    at: datetime,
) -> None:
    """The audit entry and the admins' e-mail of a district that just became disconnected (its
    `last_error` says why); the e-mail is sent once per (district, `sync_id`) whatever the retries."""
    error = district.last_error
    state.append_audit(
        AuditEntry(
            district_id=district.district_id,
            at=at,
            actor=actor,
            action="district_disconnected",
            sync_ids=[sync_id],
            result=error.code if error else "disconnected",
            detail={"message": error.message} if error else {},
        )
    )
    notify_disconnected(district.district_id, sync_id)


def _audit(
    poller: Poller,
    district: District,
    action: str,
    school_ids: list[str],
    sync_id: str,
    result: str,
    detail: dict[str, str] | None = None,
) -> None:
    poller.state.append_audit(
        AuditEntry(
            district_id=district.district_id,
            at=poller.now(),
            actor=SYSTEM,
            action=action,
            school_ids=school_ids,
            sync_ids=[sync_id],
            result=result,
            detail=detail or {},
        )
    )


def status_of(school: School, district: District) -> SchoolStatus:
    """What the dashboard shows: a disconnected district shows every matched school disconnected."""
    if not school.clever_school_id:
        return SchoolStatus.NOT_CONNECTED
    if district.connection is Connection.DISCONNECTED:
        return SchoolStatus.DISCONNECTED
    return school.status
