"""Polling one district: pull Clever, snapshot each school, hand the changed schools to evaluation.

All-or-nothing: every listing must complete before anything is written, so a failed, partial or
truncated poll produces no snapshot, no change set and no execution (a missing page must never
read as "everyone was removed").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sis_sync.clever.client import CleverClient, PagingLimits, Role
from sis_sync.clever.errors import CleverAuthError, CleverBadResponse, CleverDeadlineExceeded, CleverError
from sis_sync.clever.models import District as CleverDistrict
from sis_sync.clever.models import School as CleverSchoolRecord
from sis_sync.discovery import discover
from sis_sync.model import (
    AuditEntry,
    CleverPause,
    Connection,
    District,
    ErrorInfo,
    QuarantineEntry,
    School,
    SchoolStatus,
    SyncRun,
    SyncSchool,
    SyncStatus,
)
from sis_sync.observability import logger
from sis_sync.onboarding import TokenDistrictMismatchError
from sis_sync.pause import pause_of, resumed
from sis_sync.pulling import (
    LISTINGS,
    ListingCursor,
    MemoryPullStore,
    Paged,
    PullStore,
    StoredPull,
    page_listings,
    partition,
)
from sis_sync.scheduling import (
    PARTITION_S_PER_RECORD,
    PULL_DEADLINE,
    STEP_S,
    PollOrder,
    paging_limits,
    poll_orders,
    retry_at,
    sync_id_for,
)
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
ALREADY_RUNNING = "already_running"  # another poll of the district held the lease
# Longer than the poll function's timeout (900 s), so a running poll never loses its lease (every
# step of the poll takes it again); a poll that crashed frees its district when this has passed.
LEASE: Final = timedelta(seconds=960)


def parked(district: District) -> bool:
    """Disconnected with no token to poll with: the district removed the app in Clever, or an
    operator offboarded it. No poll runs (it would only replace that reason with a token error)
    until Clever lists a token for it again or an operator onboards it again."""
    error = district.last_error
    return district.connection is Connection.DISCONNECTED and error is not None and error.code in PARKED


def due_polls(state: StateTable, due_by: datetime, at: datetime, trigger_id: str) -> list[PollOrder]:
    """The schedule's fan-out: one poll order per district due by `due_by` that can be polled,
    its sync id from the schedule's time `at` and its event id `trigger_id`."""
    return poll_orders((d for d in state.districts_due(due_by) if not parked(d)), at, trigger_id)


@dataclass(frozen=True)
class Poller:
    state: StateTable
    snapshots: SnapshotBucket
    tokens: TokenStore
    executions: Executions
    clever: Callable[[str], CleverClient]  # district token -> client
    now: Callable[[], datetime]
    notify_disconnected: Callable[[str, str], None] = lambda district_id, sync_id: None
    # where a pull in progress keeps its pages and cursors (S3 + DynamoDB on AWS: services.poller)
    pulls: PullStore = field(default_factory=MemoryPullStore)
    clock: Callable[[], float] = time.monotonic  # times one invocation's steps


@dataclass(frozen=True)
class CleverPull:
    schools: list[CleverSchoolRecord]
    records: dict[str, Records]  # Clever school id -> records
    quarantine: dict[str, int]
    requests: int
    pages: int = 0
    records_read: int = 0
    quarantined: list[QuarantineEntry] = field(default_factory=list)  # the first few per reason
    multi_role: int = 0


@dataclass(frozen=True)
class PollStep:
    """One invocation's part of a poll: `done` False when the next invocation must carry on."""

    run: SyncRun
    done: bool


__all__ = ["sync_id_for"]  # the id scheme lives in sis_sync.scheduling; callers import it here


def pull(client: CleverClient) -> CleverPull:
    """Every list the snapshots need, in one go, partitioned (the poll's own path, in memory)."""
    store = MemoryPullStore()
    paged = page_listings(
        client, store, "", "", limits=PagingLimits(), stop_at=math.inf, clock=time.monotonic
    )
    with Partitioner() as partitioner:
        stored = _read_back(store, "", "", paged.cursors, partitioner)
        return CleverPull(
            schools=stored.schools,
            records=partitioner.finish(),
            quarantine=partitioner.quarantine.summary(),
            requests=client.request_count,
            pages=stored.pages,
            records_read=stored.records,
            quarantined=[QuarantineEntry.model_validate(entry) for entry in partitioner.quarantine.examples],
            multi_role=partitioner.multi_role,
        )


def _read_back(
    store: PullStore,
    district_id: str,
    sync_id: str,
    cursors: dict[str, ListingCursor],
    partitioner: Partitioner,
) -> StoredPull:
    stored = partition(store, district_id, sync_id, cursors, partitioner)
    if stored.rejected:
        # A record Clever sent that we could not read is missing from the lists: snapshotting
        # without it would read as its removal. The poll fails with a clear reason instead.
        kinds = sorted({rejection.kind for rejection in stored.rejected})
        logger.warning("Clever records rejected", rejected=len(stored.rejected), kinds=kinds)
        raise CleverBadResponse(f"{len(stored.rejected)} {'/'.join(kinds)} records failed validation")
    return stored


def poll_district(
    poller: Poller,
    district_id: str,
    sync_id: str,
    *,
    trigger: str,
    school_ids: Iterable[str] | None = None,
    budget_s: float | None = None,
    step_s: float = STEP_S,
) -> SyncRun:
    """Poll one district under `sync_id` to its end, step after step in this process (the API's
    poll; the scheduled one runs each step in its own invocation: `poll_step`). Reading Clever
    must end within `budget_s` seconds, else the poll fails and stores nothing."""
    deadline = None if budget_s is None else poller.clock() + budget_s
    while True:
        left = None if deadline is None else max(deadline - poller.clock(), 0.0)
        step = poll_step(
            poller, district_id, sync_id, trigger=trigger, school_ids=school_ids, budget_s=left, step_s=step_s
        )
        if step.done:
            return step.run


def poll_step(
    poller: Poller,
    district_id: str,
    sync_id: str,
    *,
    trigger: str,
    school_ids: Iterable[str] | None = None,
    budget_s: float | None = None,
    step_s: float = STEP_S,
) -> PollStep:
    """One invocation's part of the poll of one district under `sync_id`; running the same sync id
    again carries on where the last step stopped and does no double work.

    Listings page from their stored cursors; no page is started past `step_s` seconds (at least one
    per listing is), and every request ends within `budget_s` (the invocation's deadline) or the
    poll fails. Nothing is snapshotted until every listing is complete: a failed, partial or
    truncated pull stores no snapshot, no change set and no execution."""
    state = poller.state
    existing = state.get_sync_run(district_id, sync_id)
    if existing is not None and existing.status is not SyncStatus.RUNNING:
        logger.info("sync already done", district_id=district_id, sync_id=sync_id, status=existing.status)
        return PollStep(existing, done=True)
    district = state.get_district(district_id)
    if district is None:
        raise LookupError(f"unknown district {district_id}")
    run = existing or SyncRun(
        district_id=district_id, sync_id=sync_id, trigger=trigger, started_at=poller.now()
    )
    now = poller.now()
    # taken again by every step of the same sync: it stays held (renewed) until the poll ends
    holder = state.take_poll_lease(district_id, sync_id, now=now, until=now + LEASE)
    if holder is not None:
        return PollStep(
            _closed(poller, run, ALREADY_RUNNING, f"sync {holder} of the district was running", existing),
            True,
        )
    done = True
    try:
        if parked(district):
            logger.info("parked district not polled", district_id=district_id, sync_id=sync_id)
            error = district.last_error
            assert error is not None
            return PollStep(_closed(poller, run, error.code, error.message, existing), True)
        if existing is not None:
            started = poller.executions.find(sync_id)
            if started is not None:
                return PollStep(_finish_started(poller, district, existing, started), True)
        state.put_sync_run(run)
        # Until this poll records its outcome, the district counts as failing: a poll killed by
        # Lambda's timeout must not leave the district first in line for the next schedule.
        state.update_district(district_id, next_poll_at=retry_at(district, now))
        last = state.get_sync_run(district_id, district.last_sync_id) if district.last_sync_id else None
        began = poller.clock()
        try:
            if now > run.started_at + PULL_DEADLINE:
                raise CleverDeadlineExceeded(f"the pull did not complete within {PULL_DEADLINE}")
            paged = _stored_complete(poller.pulls, district_id, sync_id)
            if paged is not None:
                run.requests = poller.pulls.add_requests(district_id, sync_id, 0)  # the pull's total
            else:
                limits = paging_limits(last, budget_s)
                with poller.clever(poller.tokens.get(district_id)) as client:
                    client.bound(limits)
                    try:
                        # every step that pages checks the token's district and the pause first: a
                        # token swapped or a district paused mid-poll reads nothing more
                        pause = pause_of(require_own_district(client, district), now)
                        if pause is not None:  # Clever's data is frozen: read nothing, apply nothing
                            return PollStep(_mark_paused(poller, district, run, pause), True)
                        paged = page_listings(
                            client,
                            poller.pulls,
                            district_id,
                            sync_id,
                            limits=limits,
                            stop_at=began + step_s,
                            clock=poller.clock,
                        )
                    finally:
                        run.requests = poller.pulls.add_requests(district_id, sync_id, client.request_count)
            # partitioned in this step if it fits, or by a step that only had partitioning left
            if not paged.complete or (
                paged.fetched and not _partition_fits(paged, poller.clock() - began, step_s)
            ):
                done = False
                logger.info("poll continues", district_id=district_id, sync_id=sync_id, paged=paged.complete)
                return PollStep(run, done=False)
            with Partitioner() as partitioner:
                stored = _read_back(poller.pulls, district_id, sync_id, paged.cursors, partitioner)
                return PollStep(
                    _record_pull(poller, district, run, stored, set(school_ids) if school_ids else None), True
                )
        except (CleverError, MissingTokenError, TokenDistrictMismatchError) as error:
            return PollStep(_record_failure(poller, district, run, error), True)
    finally:
        if done:
            state.release_poll_lease(district_id, sync_id)


def _stored_complete(store: PullStore, district_id: str, sync_id: str) -> Paged | None:
    """The pull's cursors when every listing's last page is stored (the step only partitions: it
    reads nothing from Clever, each page was read by a step that checked the token's district)."""
    cursors = store.cursors(district_id, sync_id)
    if set(cursors) != set(LISTINGS) or not all(cursor.done for cursor in cursors.values()):
        return None
    return Paged(cursors, fetched=0)


def _partition_fits(paged: Paged, spent_s: float, step_s: float) -> bool:
    """Whether partitioning the pull fits in what is left of this step (else the next does it)."""
    records = sum(cursor.records for cursor in paged.cursors.values())
    return spent_s + records * PARTITION_S_PER_RECORD <= step_s


def require_own_district(client: CleverClient, district: District) -> CleverDistrict:
    """A token belongs to one district: one that reads another Clever district must not sync
    that district's roster into this one (a token stored in the wrong slot). The district read."""
    read = client.district()
    if read.id != district.clever_district_id:
        raise TokenDistrictMismatchError(
            f"the district's Clever token reads Clever district {read.id}, not {district.clever_district_id}"
        )
    return read


def _finish_started(poller: Poller, district: District, run: SyncRun, execution_arn: str) -> SyncRun:
    """A retried poll whose first attempt got as far as starting the evaluate execution (then died
    before recording it): that execution reads, or has read, the manifest of this sync. Pulling
    again would rewrite the manifest with schools that execution never evaluates."""
    logger.info("sync already started its evaluation", district_id=district.district_id, sync_id=run.sync_id)
    run.execution_arn = execution_arn
    return _mark_synced(poller, district, run)


def _closed(poller: Poller, run: SyncRun, code: str, message: str, announced: SyncRun | None) -> SyncRun:
    """A poll that pulls nothing (another poll holds the district, or it is parked). A run the
    API announced (stored as running) is closed, so that its status does not stay running."""
    logger.info("poll not run", district_id=run.district_id, sync_id=run.sync_id, code=code)
    now = poller.now()
    error = ErrorInfo(code=code, message=message, at=now)
    closed = run.model_copy(update={"status": SyncStatus.FAILED, "finished_at": now, "error": error})
    if announced is not None:
        poller.state.put_sync_run(closed)
    return closed


def _record_pull(
    poller: Poller, district: District, run: SyncRun, pulled: StoredPull, only: set[str] | None
) -> SyncRun:
    state = poller.state
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
        records = pulled.partitioner.records_of(clever_school_id)
        changed = _snapshot_if_changed(poller, school, clever_school_id, records, run.sync_id)
        if changed is None:
            run.unchanged_school_ids.append(school.school_id)
        else:
            run.changed_schools.append(changed)

    quarantine = pulled.partitioner.quarantine
    run.quarantine, run.multi_role = quarantine.summary(), pulled.partitioner.multi_role
    run.pages, run.records = pulled.pages, pulled.records
    run.quarantined = [QuarantineEntry.model_validate(entry) for entry in quarantine.examples]
    after_pause = resumed(district, run.sync_id)
    if after_pause is not None:  # before evaluation starts: it reads which sync came first after it
        state.update_district(district.district_id, clever_pause=after_pause)
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
    _mark_synced(poller, district, run)
    logger.info(
        "sync pulled",
        district_id=district.district_id,
        sync_id=run.sync_id,
        changed=len(run.changed_schools),
        unchanged=len(run.unchanged_school_ids),
        requests=run.requests,
    )
    return run


def _mark_synced(poller: Poller, district: District, run: SyncRun) -> SyncRun:
    state, now = poller.state, poller.now()
    run.status, run.finished_at = SyncStatus.SUCCEEDED, now
    state.put_sync_run(run)
    # only the poll's own fields: settings or a reconnect saved meanwhile stay as saved
    before = state.mark_connected(
        district.district_id,
        onboarded=True,
        last_sync_at=now,
        last_sync_id=run.sync_id,
        next_poll_at=now + timedelta(minutes=district.settings.sync_interval_minutes),
    )
    if before is not None and before.connection is Connection.DISCONNECTED:
        _audit(poller, district, "district_reconnected", [], run.sync_id, "connected")
    return run


def _mark_paused(poller: Poller, district: District, run: SyncRun, pause: CleverPause) -> SyncRun:
    """A poll during Clever's pause: no failure (Clever answered), nothing pulled, no sync recorded
    on the district (its last sync stays the last one that read data); the pause is recorded."""
    state, now = poller.state, poller.now()
    logger.info("district paused in Clever", district_id=district.district_id, sync_id=run.sync_id)
    run.status, run.finished_at, run.clever_paused = SyncStatus.SUCCEEDED, now, True
    state.put_sync_run(run)
    before = state.mark_connected(
        district.district_id,
        clever_pause=pause,
        next_poll_at=now + timedelta(minutes=district.settings.sync_interval_minutes),
    )
    if before is not None and before.connection is Connection.DISCONNECTED:
        _audit(poller, district, "district_reconnected", [], run.sync_id, "connected")
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
    code = error.code if isinstance(error, (CleverError, TokenDistrictMismatchError)) else "no_token"
    # the message without the code (it is recorded beside it): what the admin reads
    message = error.message if isinstance(error, CleverError) else str(error)
    info = ErrorInfo(code=code, message=message[:500], at=now)
    run.status, run.finished_at, run.error = SyncStatus.FAILED, now, info
    poller.state.put_sync_run(run)
    # backed off: a district that keeps failing (or timing out) cannot stay first in line
    counted = poller.state.count_poll_failure(district.district_id, info, retry_at(district, now))
    failures = counted.consecutive_failures if counted else district.consecutive_failures + 1
    logger.warning(
        "sync failed", district_id=district.district_id, sync_id=run.sync_id, code=code, failures=failures
    )
    give_up = isinstance(error, (CleverAuthError, MissingTokenError, TokenDistrictMismatchError))
    if give_up or failures >= (counted or district).settings.disconnect_after_failures:
        disconnect(poller.state, poller.notify_disconnected, district.district_id, run.sync_id, at=now)
    return run


def disconnect(
    state: StateTable,
    notify_disconnected: Callable[[str, str], None],
    district_id: str,
    sync_id: str,
    *,
    actor: str = SYSTEM,
    at: datetime,
) -> bool:
    """Mark a connected district disconnected (its `last_error` already says why) and announce it;
    only the write that makes the change announces it, so racing writers send one e-mail."""
    before = state.update_district(
        district_id, connection=Connection.DISCONNECTED, only_if={"connection": Connection.CONNECTED}
    )
    if before is None:
        return False
    now = state.get_district(district_id)
    announce_disconnection(state, notify_disconnected, now or before, sync_id, actor=actor, at=at)
    return True


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
