"""When districts are polled, and how much one poll may read and take.

The schedule fans out: its first step lists the districts due and the poll state machine runs
one poll function invocation per district (statemachine/poll.asl.json), so a slow or huge district
costs only its own invocation. A district whose poll failed, or was cut off, waits longer each time
(exponential, capped): it can never stay first in line.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from pydantic import BaseModel

from sis_sync.clever.client import PagingLimits
from sis_sync.model import District, SyncRun

MAX_BACKOFF: Final = timedelta(hours=24)
# A listing this much larger than the district's last full one is not believed (an endless run of
# `next` links, a listing of another district): the poll fails with a recorded error instead.
GROWTH: Final = 3
RECORD_MARGIN: Final = 20_000
PAGE_MARGIN: Final = 50
# A first poll has nothing to compare with: caps above the largest district (NYC, ~2.9 M records
# in ~300 pages of 10,000).
FIRST_POLL_MAX_RECORDS: Final = 6_000_000
FIRST_POLL_MAX_PAGES: Final = 5_000
# Kept back from the invocation's remaining time: recording the outcome must fit after the deadline.
RECORDING_RESERVE_S: Final = 60.0
MIN_BUDGET_S: Final = 5.0
SYNC_ID_MAX: Final = 80  # a Step Functions execution name
# One invocation starts no page after this many seconds, so none runs over 5 minutes (NYC's pull
# takes several: the poll state machine loops the district's poll task until it is done).
STEP_S: Final = 200.0
# A pull not complete this long after it started fails, however many invocations it took.
PULL_DEADLINE: Final = timedelta(hours=1)
# The last step's cost per record (joining the pages converted while paging, writing snapshots), as
# estimated (2x the ~0.00005 s measured at 200,000 students under load): a step that paged leaves it
# to the next invocation unless it fits in this one.
PARTITION_S_PER_RECORD: Final = 0.0001


class PollOrder(BaseModel):
    """One district's poll, as the schedule's fan-out hands it to the poll function."""

    district_id: str
    sync_id: str
    trigger: str = "schedule"


def sync_id_for(district_id: str, at: datetime, trigger_id: str | None = None) -> str:
    """`<UTC time to the millisecond>Z-<tag>-<district>`: sorts by time within a district, and is a
    valid execution name. The tag is derived from `trigger_id` (an EventBridge event id, a queue
    message id), so a redelivered trigger finds the poll it already started; without one it is
    random, for a caller that mints a new poll and passes its id along (the API). Two polls in the
    same millisecond are still two polls."""
    seed = (
        hashlib.blake2b(f"{trigger_id}\0{district_id}".encode(), digest_size=5).digest()
        if trigger_id is not None
        else secrets.token_bytes(5)
    )
    tag = base64.b32encode(seed).decode().lower()
    return f"{at:%Y%m%dT%H%M%S}{at.microsecond // 1000:03d}Z-{tag}-{district_id}"[:SYNC_ID_MAX]


def retry_at(district: District, now: datetime) -> datetime:
    """When to poll again after this poll fails (or is killed): the sync interval, doubled for
    every failure in a row before this one, at most `MAX_BACKOFF` (or the interval, if longer)."""
    interval = timedelta(minutes=district.settings.sync_interval_minutes)
    doublings = min(district.consecutive_failures, 16)
    return now + min(interval * 2**doublings, max(MAX_BACKOFF, interval))


def paging_limits(last: SyncRun | None, budget_s: float | None) -> PagingLimits:
    """Caps relative to the district's last complete poll (absolute ones for a first poll)."""
    records = last.records if last is not None else 0
    pages = last.pages if last is not None else 0
    return PagingLimits(
        max_records=GROWTH * records + RECORD_MARGIN if records else FIRST_POLL_MAX_RECORDS,
        max_pages=GROWTH * pages + PAGE_MARGIN if pages else FIRST_POLL_MAX_PAGES,
        budget_s=budget_s,
    )


def poll_budget(remaining_ms: int) -> float:
    """Seconds a poll may spend reading Clever in an invocation with `remaining_ms` left."""
    return max(remaining_ms / 1000 - RECORDING_RESERVE_S, MIN_BUDGET_S)


def poll_orders(due: Iterable[District], at: datetime, trigger_id: str) -> list[PollOrder]:
    """One poll per due district; the sync ids come from the triggering event, so the fan-out of a
    redelivered event orders the same polls again (and they find the runs already started)."""
    return [
        PollOrder(district_id=district.district_id, sync_id=sync_id_for(district.district_id, at, trigger_id))
        for district in due
    ]
