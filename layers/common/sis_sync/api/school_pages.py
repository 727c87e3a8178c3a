"""The school list a page at a time: filtered by status, sorted, with a cursor that names the last
school shown by its sort key (keyset paging, so a school written between two pages neither repeats
nor shifts the rest) and the district's per-status counts.

A district has at most a few thousand schools (NYC: ~1,800), so the whole list is read with one
paged Query and sorted in memory; only the page is turned into views."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sis_sync.api.errors import BadRequestError
from sis_sync.api.models import SchoolCounts, SchoolSort
from sis_sync.model import SchoolStatus

NAME_KEY_CHARS: Final = 120  # names compare on this many characters (ties by id): cursors stay short
# What needs the admin first comes first.
STATUS_RANK: Final = {
    SchoolStatus.ON_HOLD: 0,
    SchoolStatus.DISCONNECTED: 1,
    SchoolStatus.NOT_CONNECTED: 2,
    SchoolStatus.CONNECTED: 3,
}
NEVER: Final = -1  # last_synced_at of a school never synced: before every real time

Key = tuple[int, str, str] | tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class Listed:
    """What sorting and filtering need of a school: its shown status, name, id, last sync."""

    school_id: str
    name: str
    status: SchoolStatus
    last_synced_at: datetime | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    total: int
    counts: SchoolCounts


def _name(listed: Listed) -> str:
    return listed.name.casefold()[:NAME_KEY_CHARS]


def _synced(listed: Listed) -> int:
    at = listed.last_synced_at
    if at is None:
        return NEVER
    return int(at.astimezone(UTC).timestamp() * 1_000_000)


# Each order: its key and whether the list runs from the largest key down.
ORDERS: Final[dict[SchoolSort, tuple[Callable[[Listed], Key], bool]]] = {
    SchoolSort.STATUS: (lambda s: (STATUS_RANK[s.status], _name(s), s.school_id), False),
    SchoolSort.STATUS_DESC: (lambda s: (-STATUS_RANK[s.status], _name(s), s.school_id), False),
    SchoolSort.NAME: (lambda s: (_name(s), s.school_id), False),
    SchoolSort.NAME_DESC: (lambda s: (_name(s), s.school_id), True),
    SchoolSort.LAST_SYNCED_AT: (lambda s: (_synced(s), _name(s), s.school_id), False),
    SchoolSort.LAST_SYNCED_AT_DESC: (lambda s: (-_synced(s), _name(s), s.school_id), False),
}
KEY_SHAPES: Final[dict[bool, TypeAdapter[Key]]] = {
    True: TypeAdapter(tuple[int, str, str]),  # status, last_synced_at
    False: TypeAdapter(tuple[str, str]),  # name
}


class Cursor(BaseModel):
    """Where the previous page ended, in which listing (its order and filter)."""

    model_config = ConfigDict(extra="forbid")

    sort: SchoolSort
    status: SchoolStatus | None
    after: list[int | str] = Field(min_length=2, max_length=3)


def page_of(
    listed: Sequence[tuple[Listed, T]],
    *,
    status: SchoolStatus | None,
    sort: SchoolSort,
    limit: int,
    after: Key | None,
) -> Page[T]:
    """The page of `listed` (each school with what the caller wants back for it) after the key
    `after` (a cursor's, `decode`d before anything is read)."""
    key, descending = ORDERS[sort]
    counts = Counter(school.status for school, _ in listed)
    matching = sorted(
        ((key(school), item) for school, item in listed if status is None or school.status is status),
        key=lambda pair: pair[0],
        reverse=descending,
    )
    start = 0
    if after is not None:
        start = next(
            (i for i, (k, _) in enumerate(matching) if (k < after if descending else k > after)),
            len(matching),
        )
    shown = matching[start : start + limit]
    more = start + limit < len(matching)
    return Page(
        items=[item for _, item in shown],
        next_cursor=encode(Cursor(sort=sort, status=status, after=list(shown[-1][0]))) if more else None,
        total=len(matching),
        counts=SchoolCounts(all=len(listed), **{s.value: counts[s] for s in SchoolStatus}),
    )


def encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(cursor.model_dump_json().encode()).decode().rstrip("=")


def decode(cursor: str, sort: SchoolSort, status: SchoolStatus | None) -> Key:
    """The key a cursor of this listing carries; a cursor of another order or filter, or one that
    is not ours at all, is refused (it could only point somewhere meaningless)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parsed = Cursor.model_validate_json(text)
        after = KEY_SHAPES[sort not in (SchoolSort.NAME, SchoolSort.NAME_DESC)].validate_python(
            tuple(parsed.after), strict=True
        )
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:  # ValidationError is a ValueError
        raise BadRequestError("invalid cursor") from error
    if parsed.sort is not sort or parsed.status is not status:
        raise BadRequestError(
            "the cursor belongs to another order or status filter: start from the first page"
        )
    return after
