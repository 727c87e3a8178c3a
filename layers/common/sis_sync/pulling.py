"""Resumable paging of a district's Clever listings, and reading the stored pages back.

A poll reads seven listings. Each pages from a cursor (the URI of its next page) kept with the sync
run; a page is stored (raw, gzip) before its listing's cursor moves past it, so a poll cut off at
any point resumes from the last stored page, never from zero and never with a gap, and a page
stored twice (a retried invocation) is the same object. Independent listings page concurrently,
the longest first, each one page ahead: its next page is on its way while it stores one.

Partitioning is split the same way: each page of a roster listing is also stored converted (its
records validated and reduced to what the partitioner reads, plain JSON) before its cursor moves, by
the invocation that fetched it, while the other listings wait on Clever. Validating the records was
~70 % of partitioning; the step after the last page only joins the converted pages (`partition`,
one page at a time into a `Partitioner`, which spills to disk, so memory does not grow with the
district) and writes the snapshots.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypedDict

import orjson
from pydantic import BaseModel, Field

from sis_sync.clever.client import CleverClient, FetchedPage, PagingLimits, Rejection, validated
from sis_sync.clever.errors import CleverLimitExceeded, CleverPagingLoop
from sis_sync.clever.models import Page, School, Section, Term, User
from sis_sync.observability import logger
from sis_sync.snapshot import Partitioner, PendingSection, Person, pending_section, person_of

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
LISTING_THREADS: Final = 4  # listings paged at once; far below Clever's rate at 10,000 a page
# the listings by the size a district's usually are (1.5 contacts a student, then the students)
LONGEST_FIRST: Final = ("contacts", "students", "sections", "teachers", "staff", "schools", "terms")
_ROLE_OF: Final = {"students": "student", "teachers": "teacher", "staff": "staff", "contacts": "contact"}
# the listings stored converted as well as raw: every one but the two small ones (schools, terms),
# which are read raw (discovery needs the School models)
CONVERTED: Final = frozenset({"students", "teachers", "staff", "contacts", "sections"})


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
    stop_at: float  # no page is requested at or after this clock reading
    clock: Callable[[], float]
    cursors: dict[str, ListingCursor]
    fetches: Executor  # where pages are requested: a listing's next page arrives while it stores one
    lock: threading.Lock = field(default_factory=threading.Lock)
    fetched: int = 0  # pages this step stored

    def listing(self, name: str) -> None:
        """Page listing `name` one page ahead: its next page is requested as soon as a page's `next`
        link is read, so it is on its way while this page is validated, converted and stored. The
        cursor still moves only once its page is stored: a crash loses the page fetched ahead (the
        next invocation requests it again), never one whose cursor moved. At `stop_at` no page is
        requested; the one already on its way is stored (it was paid for, and is a page's latency
        away at most)."""
        cursor = self.cursors[name]
        if cursor.next_uri is None:
            return
        arriving: Future[FetchedPage] | None = self.fetches.submit(self.client.fetch_page, cursor.next_uri)
        while arriving is not None:
            fetched = arriving.result()
            moved = self._moved(name, cursor, fetched)
            arriving = None
            if moved.next_uri is not None and self.clock() < self.stop_at:
                arriving = self.fetches.submit(self.client.fetch_page, moved.next_uri)
            self._store(name, cursor, moved, fetched)
            cursor = moved
        if cursor.done:
            logger.info("Clever listing stored", listing=name, pages=cursor.pages, records=cursor.records)

    def _moved(self, name: str, cursor: ListingCursor, fetched: FetchedPage) -> ListingCursor:
        """Where listing `name` stands once `fetched` (its next page) is stored: checked for a
        paging loop and against the caps before the page it links to is requested."""
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
        return moved

    def _store(self, name: str, cursor: ListingCursor, moved: ListingCursor, fetched: FetchedPage) -> None:
        # stored (raw, then converted) before the cursor moves: a crash in between fetches this
        # page again and writes the same objects (same keys, same bytes)
        number = moved.pages
        self.store.put_page(
            self.district_id, self.sync_id, name, number, gzip.compress(fetched.body, 6, mtime=0)
        )
        if name in CONVERTED:
            self.store.put_page(
                self.district_id,
                self.sync_id,
                converted_listing(name),
                number,
                convert_page(name, fetched.page, number, cursor.records),
            )
        with self.lock:
            self.store.save_cursor(self.district_id, self.sync_id, name, moved)
            self.cursors[name] = moved
            self.fetched += 1

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
    pull is complete). The first listing error is raised (once the others stopped).

    The longest listings get a thread first (`LONGEST_FIRST`): the poll lasts as long as its
    longest listing, which must not wait for a short one to finish."""
    cursors = start_cursors(client, store.cursors(district_id, sync_id))
    open_listings = sorted((name for name, c in cursors.items() if not c.done), key=LONGEST_FIRST.index)
    # one page in flight per listing being stored: as many fetching threads as listing threads
    with (
        ThreadPoolExecutor(max_workers=LISTING_THREADS, thread_name_prefix="clever-page") as fetches,
        ThreadPoolExecutor(max_workers=LISTING_THREADS, thread_name_prefix="clever-listing") as pool,
    ):
        paging = _Paging(client, store, district_id, sync_id, limits, stop_at, clock, cursors, fetches)
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


class ConvertedPage(TypedDict):
    """A roster listing's page as the partitioner reads it (`converted_listing`)."""

    items: list[Any]  # Person (users) or PendingSection (sections), in the page's order
    rejected: list[list[Any]]  # Rejection fields of the records that failed their model


def converted_listing(name: str) -> str:
    """Where a listing's converted pages are stored: beside its raw ones, as a listing of its own."""
    return f"{name}.converted"


def convert_page(name: str, page: Page, number: int, first_index: int) -> bytes:
    """Page `number` of roster listing `name`, its records validated and converted (`first_index`:
    how many records its listing had before it); gzip of its `ConvertedPage`."""
    kind = _ROLE_OF.get(name) or name.removesuffix("s")
    rejected: list[Rejection] = []
    items: list[Person] | list[PendingSection]
    if name == "sections":
        items = [pending_section(s) for s in validated(kind, Section, page, number, first_index, rejected)]
    else:
        role = _ROLE_OF[name]
        items = [person_of(u, role) for u in validated(kind, User, page, number, first_index, rejected)]
    converted = ConvertedPage(items=items, rejected=[list(dataclasses.astuple(r)) for r in rejected])
    # level 1: a scratch object read once; deterministic (mtime 0), so a page stored twice is one object
    return gzip.compress(orjson.dumps(converted), 1, mtime=0)


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


def _converted(
    store: PullStore,
    district_id: str,
    sync_id: str,
    name: str,
    cursor: ListingCursor,
    rejected: list[Rejection],
) -> Iterator[Any]:
    """A roster listing's converted records (failures to `rejected`), one stored page at a time."""
    for number in range(1, cursor.pages + 1):
        body = store.page(district_id, sync_id, converted_listing(name), number)
        page: ConvertedPage = orjson.loads(gzip.decompress(body))
        rejected.extend(Rejection(*fields) for fields in page["rejected"])
        yield from page["items"]


def partition(
    store: PullStore,
    district_id: str,
    sync_id: str,
    cursors: Mapping[str, ListingCursor],
    partitioner: Partitioner,
) -> StoredPull:
    """Read a complete pull back page by page into `partitioner`, in the order it needs: the raw
    pages of schools and terms, the converted pages of every other listing."""
    schools: list[School] = []
    rejected: list[Rejection] = []
    for name in LISTINGS:
        if name == "schools":
            schools = list(_records(store, district_id, sync_id, name, cursors[name], School, rejected))
            partitioner.add_schools(school.id for school in schools)
        elif name == "terms":
            terms = _records(store, district_id, sync_id, name, cursors[name], Term, rejected)
            partitioner.add_terms([term.id for term in terms])
        elif name == "sections":
            for pending in _converted(store, district_id, sync_id, name, cursors[name], rejected):
                partitioner.add_pending_section(pending)
        else:
            role = _ROLE_OF[name]
            for person in _converted(store, district_id, sync_id, name, cursors[name], rejected):
                partitioner.add_person(person, listed_as=role)
    return StoredPull(
        schools=schools,
        partitioner=partitioner,
        rejected=rejected,
        pages=sum(c.pages for c in cursors.values()),
        records=sum(c.records for c in cursors.values()),
    )
