"""Resumable paging of a district's Clever listings, and reading the stored pages back.

A poll reads seven listings. Each pages from a cursor (the URI of its next page) kept with the sync
run; a page is stored (raw, gzip) before its listing's cursor moves past it, so a poll cut off at
any point resumes from the last stored page, never from zero and never with a gap, and a page
stored twice (a retried invocation) is the same object. Independent listings page concurrently.

Nothing here decides what a listing means: `partition` feeds the stored pages, one page at a time,
into a `Partitioner`, which spills to disk, so memory does not grow with the district.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pydantic import BaseModel, Field

from sis_sync.clever.client import CleverClient, PagingLimits, Rejection, validated
from sis_sync.clever.errors import CleverLimitExceeded, CleverPagingLoop
from sis_sync.clever.models import Page, School, Section, Term, User
from sis_sync.observability import logger
from sis_sync.snapshot import Partitioner

# name -> (path, query); in the order the partitioner needs them (schools first, sections last)
LISTINGS: Final[Mapping[str, tuple[str, dict[str, str] | None]]] = {
    "schools": ("/v3.0/schools", None),
    "students": ("/v3.0/users", {"role": "student"}),
    "teachers": ("/v3.0/users", {"role": "teacher"}),
    "staff": ("/v3.0/users", {"role": "staff"}),
    "contacts": ("/v3.0/users", {"role": "contact"}),
    "terms": ("/v3.0/terms", None),
    "sections": ("/v3.0/sections", None),
}
LISTING_THREADS: Final = 4  # pages in flight at once; far below Clever's rate at 10,000 a page
_ROLE_OF: Final = {"students": "student", "teachers": "teacher", "staff": "staff", "contacts": "contact"}


class ListingCursor(BaseModel):
    """Where one listing of a pull stands: `next_uri` None once its last page is stored."""

    next_uri: str | None
    pages: int = 0
    records: int = 0
    # digests of every URI requested: a `next` link back to one of them is a loop, even when the
    # loop spans invocations
    requested: list[str] = Field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.next_uri is None


class PullStore(Protocol):
    """Where a pull in progress keeps its pages and cursors (S3 + DynamoDB: store/pulls.py)."""

    def cursors(self, district_id: str, sync_id: str) -> dict[str, ListingCursor]: ...

    def save_cursor(self, district_id: str, sync_id: str, listing: str, cursor: ListingCursor) -> None: ...

    def add_requests(self, district_id: str, sync_id: str, requests: int) -> int: ...

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None: ...

    def page(self, district_id: str, sync_id: str, listing: str, number: int) -> bytes: ...


@dataclass
class MemoryPullStore:
    """A pull kept in memory: one uninterrupted pull (`polling.pull`, the spec tests, the bench)."""

    pages: dict[tuple[str, str, str, int], bytes] = field(default_factory=dict)
    saved: dict[tuple[str, str], dict[str, ListingCursor]] = field(default_factory=dict)
    requests: dict[tuple[str, str], int] = field(default_factory=dict)

    def cursors(self, district_id: str, sync_id: str) -> dict[str, ListingCursor]:
        return dict(self.saved.get((district_id, sync_id), {}))

    def save_cursor(self, district_id: str, sync_id: str, listing: str, cursor: ListingCursor) -> None:
        self.saved.setdefault((district_id, sync_id), {})[listing] = cursor

    def add_requests(self, district_id: str, sync_id: str, requests: int) -> int:
        key = (district_id, sync_id)
        self.requests[key] = self.requests.get(key, 0) + requests
        return self.requests[key]

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None:
        self.pages[(district_id, sync_id, listing, number)] = body

    def page(self, district_id: str, sync_id: str, listing: str, number: int) -> bytes:
        return self.pages[(district_id, sync_id, listing, number)]


def _digest(uri: str) -> str:
    return hashlib.blake2b(uri.encode(), digest_size=8).hexdigest()


def start_cursors(client: CleverClient, saved: Mapping[str, ListingCursor]) -> dict[str, ListingCursor]:
    """Every listing's cursor: as saved, or at its first page."""
    cursors = {}
    for name, (path, params) in LISTINGS.items():
        first = client.first_page_uri(path, params)
        cursors[name] = saved.get(name) or ListingCursor(next_uri=first, requested=[_digest(first)])
    return cursors


@dataclass
class _Paging:
    client: CleverClient
    store: PullStore
    district_id: str
    sync_id: str
    limits: PagingLimits
    stop_at: float  # no page is started at or after this clock reading
    clock: Callable[[], float]
    cursors: dict[str, ListingCursor]
    lock: threading.Lock = field(default_factory=threading.Lock)
    fetched: int = 0  # pages this step stored

    def listing(self, name: str) -> None:
        cursor = self.cursors[name]
        while cursor.next_uri is not None:
            fetched = self.client.fetch_page(cursor.next_uri)
            number = cursor.pages + 1
            requested = list(cursor.requested)
            if fetched.next_uri is not None:
                digest = _digest(fetched.next_uri)
                if digest in requested:
                    raise CleverPagingLoop(f"next link repeats an earlier page of {name} (page {number})")
                requested.append(digest)
            moved = ListingCursor(
                next_uri=fetched.next_uri,
                pages=number,
                records=cursor.records + fetched.records,
                requested=requested,
            )
            with self.lock:
                self._within_caps(name, moved)
            # stored before the cursor moves: a crash between the two fetches this page again and
            # writes the same object (same key, same bytes)
            self.store.put_page(
                self.district_id, self.sync_id, name, number, gzip.compress(fetched.body, 6, mtime=0)
            )
            with self.lock:
                self.store.save_cursor(self.district_id, self.sync_id, name, moved)
                self.cursors[name] = cursor = moved
                self.fetched += 1
            if self.clock() >= self.stop_at:
                break
        if cursor.done:
            logger.info("Clever listing stored", listing=name, pages=cursor.pages, records=cursor.records)

    def _within_caps(self, name: str, moved: ListingCursor) -> None:
        """The pull's totals over every listing (and every invocation) stay within the caps."""
        totals = self.cursors | {name: moved}
        pages = sum(c.pages for c in totals.values())
        records = sum(c.records for c in totals.values())
        if self.limits.max_pages is not None and pages > self.limits.max_pages:
            raise CleverLimitExceeded(f"more than {self.limits.max_pages} pages (at {name})")
        if self.limits.max_records is not None and records > self.limits.max_records:
            raise CleverLimitExceeded(f"more than {self.limits.max_records} records (at {name})")


def page_listings(
    client: CleverClient,
    store: PullStore,
    district_id: str,
    sync_id: str,
    *,
    limits: PagingLimits,
    stop_at: float,
    clock: Callable[[], float],
) -> Paged:
    """Page every unfinished listing, concurrently, until each is done or `stop_at` has come (each
    stores at least one page, so a pull always advances); the cursors as they stand (all done: the
    pull is complete). The first listing error is raised (once the others stopped)."""
    cursors = start_cursors(client, store.cursors(district_id, sync_id))
    paging = _Paging(client, store, district_id, sync_id, limits, stop_at, clock, cursors)
    open_listings = [name for name, cursor in cursors.items() if not cursor.done]
    with ThreadPoolExecutor(max_workers=LISTING_THREADS, thread_name_prefix="clever-listing") as pool:
        futures = [pool.submit(paging.listing, name) for name in open_listings]
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error
    return Paged(dict(paging.cursors), paging.fetched)


@dataclass(frozen=True)
class Paged:
    cursors: dict[str, ListingCursor]
    fetched: int  # pages stored by this call

    @property
    def complete(self) -> bool:
        return all(cursor.done for cursor in self.cursors.values())


@dataclass
class StoredPull:
    """A complete pull read back: the schools Clever listed, and every other listing partitioned."""

    schools: list[School]
    partitioner: Partitioner
    rejected: list[Rejection]
    pages: int
    records: int


def _pages(
    store: PullStore, district_id: str, sync_id: str, name: str, cursor: ListingCursor
) -> Iterator[tuple[int, Page]]:
    for number in range(1, cursor.pages + 1):
        body = gzip.decompress(store.page(district_id, sync_id, name, number))
        yield number, Page.model_validate_json(body)


def _records(
    store: PullStore,
    district_id: str,
    sync_id: str,
    name: str,
    cursor: ListingCursor,
    model: Any,
    rejected: list[Rejection],
) -> Iterator[Any]:
    """A listing's records as `model` (failures to `rejected`), one stored page in memory at a time."""
    kind = _ROLE_OF.get(name) or name.removesuffix("s")
    index = 0
    for number, page in _pages(store, district_id, sync_id, name, cursor):
        yield from validated(kind, model, page, number, index, rejected)
        index += len(page.data)


def partition(
    store: PullStore,
    district_id: str,
    sync_id: str,
    cursors: Mapping[str, ListingCursor],
    partitioner: Partitioner,
) -> StoredPull:
    """Read a complete pull back page by page into `partitioner`, in the order it needs."""
    schools: list[School] = []
    rejected: list[Rejection] = []
    term_ids: list[str] = []
    models: dict[str, Any] = {"schools": School, "terms": Term, "sections": Section}
    for name in LISTINGS:
        role = _ROLE_OF.get(name)
        model = models.get(name, User)
        for item in _records(store, district_id, sync_id, name, cursors[name], model, rejected):
            if name == "schools":
                schools.append(item)
            elif name == "terms":
                term_ids.append(item.id)
            elif name == "sections":
                partitioner.add_section(item)
            else:
                partitioner.add_user(item, listed_as=role)
        if name == "schools":
            partitioner.add_schools(school.id for school in schools)
        if name == "terms":
            partitioner.add_terms(term_ids)
    return StoredPull(
        schools=schools,
        partitioner=partitioner,
        rejected=rejected,
        pages=sum(c.pages for c in cursors.values()),
        records=sum(c.records for c in cursors.values()),
    )
