"""Clever's pause of a district (its summer pause: district `state` `paused`, `pause_start`/`pause_end`).

While Clever pauses a district its data is frozen or half-rolled-over, so a poll reads the district
object only: no listing, no snapshot, no evaluation, nothing applied, and no failure counted (the
connection works). The district records the pause, which the dashboard shows. The first sync whose
pull completes after the pause is noted on the district; its schools' change sets that remove above
the thresholds carry an `after_pause` hold beside `large_removals`, until an admin clears them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sis_sync.clever.models import District as CleverDistrict
from sis_sync.model import CleverPause, District, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.rules import HoldReason

PAUSED: Final = "paused"  # Clever's district `state` while its sync is paused


def _when(value: str, field: str) -> datetime | None:
    """A pause date as Clever sends it (ISO 8601, "" or absent when unset); unreadable: unset."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        logger.warning("unreadable Clever pause date", field=field)
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # Clever's times are UTC


def pause_of(clever: CleverDistrict, now: datetime) -> CleverPause | None:
    """Clever's pause of the district in effect at `now`, if any: the district's state says so, or
    `now` is inside the pause Clever scheduled (a window with both ends; an open-ended date left over
    from an old pause must not stop the sync for good)."""
    start, end = _when(clever.pause_start, "pause_start"), _when(clever.pause_end, "pause_end")
    scheduled = start is not None and end is not None and start <= now < end
    if clever.state != PAUSED and not scheduled:
        return None
    return CleverPause(start=start, end=end)


def resumed(district: District, sync_id: str) -> CleverPause | None:
    """The district's pause, now naming `sync_id` as the first sync after it; None when no pause
    waits for its first sync (the district was not paused, or a sync after it completed already)."""
    pause = district.clever_pause
    if pause is None or not pause.active:
        return None
    return pause.model_copy(update={"first_sync_id": sync_id})


def held_for_pause(school: School) -> dict[str, Any] | None:
    """The detail of the school's `after_pause` hold while it is on hold for it."""
    held = next((hold for hold in school.holds if hold.reason is HoldReason.AFTER_PAUSE), None)
    return dict(held.detail) if held is not None and school.status is SchoolStatus.ON_HOLD else None


def pause_note(district: District, school: School, sync_id: str) -> dict[str, Any] | None:
    """The `after_pause` hold's detail for the school's change set of `sync_id`: the first sync after
    the pause, or a later one while the school is still held for it (newer data replaces the held
    change set, the review it waits for stays). None: not a sync after a pause."""
    held = held_for_pause(school)
    if held is not None:
        return held
    pause = district.clever_pause
    if pause is None or pause.first_sync_id != sync_id:
        return None
    return {
        "pause_start": pause.start.isoformat() if pause.start else None,
        "pause_end": pause.end.isoformat() if pause.end else None,
        "first_sync_id": sync_id,
    }


__all__ = ["PAUSED", "held_for_pause", "pause_note", "pause_of", "resumed"]
