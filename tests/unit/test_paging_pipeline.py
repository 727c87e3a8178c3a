"""A poll's listings paged one page ahead (sis_sync.pulling.page_listings): a listing's next page is
requested while its page is stored, the longest listings get a thread first, `stop_at` stores the
page already on its way and requests none, and a crash mid-pipeline resumes to exactly the pages
and cursors of an uninterrupted pull (the page fetched ahead is requested again, never skipped)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import pytest

from sis_sync.clever.client import CleverClient, FetchedPage, PagingLimits
from sis_sync.clever.models import Page
from sis_sync.pulling import LISTING_THREADS, LISTINGS, ListingCursor, MemoryPullStore, Paged, page_listings

PER_PAGE = 2
WAIT_S = 5.0  # how long a test waits for an event that only the old, unpipelined paging never sends

Event = tuple[str, str, int]  # ("requested" | "stored", listing, page number)


def record(name: str, number: int, index: int) -> dict[str, Any]:
    uid = f"{name}-{number}-{index}"
    if name == "sections":
        return {"id": uid, "school": "A", "term_id": "t-1", "students": []}
    if name in ("schools", "terms"):
        return {"id": uid}
    role = {"students": "student", "teachers": "teacher", "staff": "staff", "contacts": "contact"}[name]
    roles: dict[str, Any] = {role: {"student_relationships": []} if role == "contact" else {"school": "A"}}
    return {"id": uid, "name": {"first": "A", "last": uid}, "roles": roles}


@dataclass
class FakeClever:
    """Clever's seven listings, `pages[name]` pages each of PER_PAGE records (the last one short),
    recording every page requested; `on_request` runs as a request starts (before it is answered)."""

    pages: dict[str, int]
    events: list[Event]
    on_request: Callable[[str, int], None] = lambda name, number: None
    clock: float = 0.0  # advances a second per page answered
    lock: threading.Condition = field(default_factory=threading.Condition)

    def first_page_uri(self, path: str, params: dict[str, str] | None = None) -> str:
        [name] = [name for name, listing in LISTINGS.items() if listing == (path, params)]
        return f"/{name}/1"

    def fetch_page(self, uri: str) -> FetchedPage:
        _, name, number_text = uri.split("/")
        number = int(number_text)
        with self.lock:
            self.events.append(("requested", name, number))
            self.lock.notify_all()
        self.on_request(name, number)
        last = number == self.pages[name]
        records = [record(name, number, i) for i in range(PER_PAGE - 1 if last else PER_PAGE)]
        with self.lock:
            self.clock += 1.0
        body = orjson.dumps({"data": [{"data": r} for r in records], "links": []})
        return FetchedPage(
            body=body,
            records=len(records),
            next_uri=None if last else f"/{name}/{number + 1}",
            page=Page.model_validate_json(body),
        )

    def requested(self, name: str, number: int) -> bool:
        """Whether page `number` of `name` is requested, waiting for it WAIT_S at most."""
        with self.lock:
            return self.lock.wait_for(lambda: ("requested", name, number) in self.events, timeout=WAIT_S)


@dataclass
class RecordingStore(MemoryPullStore):
    """A pull store recording every raw page stored; `before_storing` runs first."""

    events: list[Event] = field(default_factory=list)
    before_storing: Callable[[str, int], None] = lambda name, number: None

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None:
        if listing in LISTINGS:
            self.before_storing(listing, number)
            self.events.append(("stored", listing, number))
        super().put_page(district_id, sync_id, listing, number, body)


def page(clever: FakeClever, store: MemoryPullStore, stop_at: float = float("inf")) -> Paged:
    client = cast(CleverClient, clever)
    return page_listings(
        client, store, "d", "s", limits=PagingLimits(), stop_at=stop_at, clock=lambda: clever.clock
    )


def only_open(store: MemoryPullStore, name: str) -> None:
    """Every listing but `name` already stored (done): the pull pages that one alone."""
    for other in LISTINGS:
        if other != name:
            store.save_cursor("d", "s", other, ListingCursor(next_uri=None, pages=1, records=1))


def test_a_listing_requests_its_next_page_before_it_stores_the_page_it_has() -> None:
    # Given a contacts listing of four pages whose store waits (a while at most) until the page after
    # the one it stores has been requested
    events: list[Event] = []
    store = RecordingStore(events=events)
    only_open(store, "contacts")
    clever = FakeClever(dict.fromkeys(LISTINGS, 1) | {"contacts": 4}, events)
    waited: list[bool] = []
    store.before_storing = lambda name, number: waited.append(
        number == 4 or clever.requested(name, number + 1)
    )
    # When the listing is paged
    paged = page(clever, store)
    # Then each page's successor was already requested when it was stored: Clever's latency for the
    # next page is spent while this one is validated, converted and stored
    assert waited == [True] * 4
    order = [event for event in events if event[1] == "contacts"]
    for number in (1, 2, 3):
        assert order.index(("requested", "contacts", number + 1)) < order.index(
            ("stored", "contacts", number)
        )
    # and every page was requested once and stored once, its cursor moved past the last
    assert [e for e in order if e[0] == "requested"] == [("requested", "contacts", n) for n in (1, 2, 3, 4)]
    assert [e for e in order if e[0] == "stored"] == [("stored", "contacts", n) for n in (1, 2, 3, 4)]
    assert paged.cursors["contacts"] == store.cursors("d", "s")["contacts"]
    assert (paged.cursors["contacts"].pages, paged.cursors["contacts"].done, paged.fetched) == (4, True, 4)


def test_the_longest_listings_get_a_thread_first() -> None:
    # Given seven listings of one page each, and a Clever that answers the first requests only once
    # there are as many of them as listing threads (what runs first, runs together)
    events: list[Event] = []
    first = threading.Barrier(LISTING_THREADS, timeout=WAIT_S)

    def together(name: str, number: int) -> None:
        if len(events) <= LISTING_THREADS:
            first.wait()

    clever = FakeClever(dict.fromkeys(LISTINGS, 1), events, on_request=together)
    # When the pull is paged
    paged = page(clever, MemoryPullStore())
    # Then contacts, students, sections and teachers were requested first, the others after
    assert {name for _, name, _ in events[:LISTING_THREADS]} == {
        "contacts",
        "students",
        "sections",
        "teachers",
    }
    assert {name for _, name, _ in events[LISTING_THREADS:]} == {"staff", "schools", "terms"}
    assert paged.complete
    # and the listings keep the order the partitioner reads them in
    assert list(paged.cursors) == list(LISTINGS)


@pytest.mark.parametrize(("stop_at", "stored"), [(0.0, 1), (2.0, 2), (3.0, 3)])
def test_at_stop_at_the_page_on_its_way_is_stored_and_no_other_is_requested(
    stop_at: float, stored: int
) -> None:
    # Given a contacts listing of six pages, on a clock that moves a second per page answered
    events: list[Event] = []
    store = RecordingStore(events=events)
    only_open(store, "contacts")
    clever = FakeClever(dict.fromkeys(LISTINGS, 1) | {"contacts": 6}, events)
    # When the step stops at `stop_at`
    paged = page(clever, store, stop_at)
    # Then every page requested was stored (none paid for and dropped), at least one, and the
    # cursor is at the first page not requested
    requested = [number for kind, _, number in events if kind == "requested"]
    assert (
        requested == [number for kind, _, number in events if kind == "stored"] == list(range(1, stored + 1))
    )
    assert paged.cursors["contacts"].pages == stored
    assert paged.cursors["contacts"].next_uri == f"/contacts/{stored + 1}"
    assert not paged.complete


class Killed(BaseException):
    """An invocation killed mid-listing (nothing in the poll catches it)."""


def test_a_pull_killed_while_its_next_page_is_on_the_way_resumes_to_the_uninterrupted_pull() -> None:
    # Given an uninterrupted pull of every listing (contacts and students of four pages)
    sizes = dict.fromkeys(LISTINGS, 1) | {"contacts": 4, "students": 4, "sections": 2}
    reference = MemoryPullStore()
    assert page(FakeClever(sizes, []), reference).complete
    # When an invocation dies after storing contacts' second page, before its cursor moves, with
    # the third page already requested
    killed_events: list[Event] = []
    killed = RecordingStore(events=killed_events)
    dying = FakeClever(sizes, killed_events)
    third_on_its_way: list[bool] = []

    def die_at_second(name: str, number: int) -> None:
        if (name, number) == ("contacts", 2):
            third_on_its_way.append(dying.requested("contacts", 3))
            raise Killed

    killed.before_storing = die_at_second
    with pytest.raises(Killed):
        page(dying, killed)
    assert third_on_its_way == [True]
    assert killed.cursors("d", "s")["contacts"].pages == 1
    # and the next invocation resumes from the stored cursors
    killed.before_storing = lambda name, number: None
    resumed_events: list[Event] = []
    resumed = page(FakeClever(sizes, resumed_events), killed)
    # Then it requested contacts from the page whose cursor did not move: the page lost and the one
    # fetched ahead again, none skipped, none twice
    assert [n for kind, name, n in resumed_events if (kind, name) == ("requested", "contacts")] == [2, 3, 4]
    # and the pull's pages and cursors are exactly the uninterrupted pull's
    assert resumed.complete
    assert killed.pages == reference.pages
    assert killed.cursors("d", "s") == reference.cursors("d", "s")
