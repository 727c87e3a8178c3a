"""Truncation is an error (DESIGN §7): a full page without a next link, a listing past the caps, a
response that drips in past its budget and a poll past its deadline all fail the listing.

CleverClient against an in-process fake Clever (httpx.MockTransport) and a fake clock: no network,
no sleeping."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from sis_sync.clever.client import RetryPolicy
from sis_sync.clever.errors import (
    CleverDeadlineExceeded,
    CleverLimitExceeded,
    CleverTruncated,
    CleverUnavailable,
)
from tests.unit.test_clever_client import FakeClever, FakeClock, make_client, page, paged, user

PATH = "/v3.0/users"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def endless(request: httpx.Request) -> httpx.Response:
    """Every page links to a new, distinct next page (up to 1,000: an unbounded client then ends)."""
    lap = int(request.url.params.get("lap", "0"))
    next_uri = f"{PATH}?limit=10000&lap={lap + 1}" if lap < 1_000 else None
    return httpx.Response(200, json=page([user(lap)], next_uri))


class Drip(httpx.SyncByteStream):
    """A body that arrives `chunk` bytes at a time, `seconds` apart on the fake clock: every read
    is quick, the response as a whole is not."""

    def __init__(self, body: bytes, clock: FakeClock, seconds: float, chunk: int = 16) -> None:
        self.body, self.clock, self.seconds, self.chunk = body, clock, seconds, chunk

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.chunk):
            if start:
                self.clock.now += self.seconds
            yield self.body[start : start + self.chunk]


def test_a_full_page_without_a_next_link_fails_the_listing(clock: FakeClock) -> None:
    # Given a page of 50 students, asked for with limit 50, that carries no next link
    records = [user(n) for n in range(50)]
    client = make_client(FakeClever(lambda _: httpx.Response(200, json=page(records))), clock, page_limit=50)
    # When the students are listed; Then the listing is refused as truncated, not taken as complete
    with pytest.raises(CleverTruncated, match="full but has no next link") as raised:
        client.list_all(client.users, "student")
    assert raised.value.code == "truncated"


def test_a_short_last_page_without_a_next_link_ends_the_listing(clock: FakeClock) -> None:
    # Given 49 students on a page asked for with limit 50 (a last page)
    records = [user(n) for n in range(49)]
    client = make_client(FakeClever(lambda _: httpx.Response(200, json=page(records))), clock, page_limit=50)
    # When listed; Then all arrive
    assert len(client.list_all(client.users, "student")) == 49


def test_endless_distinct_next_links_stop_at_the_page_cap(clock: FakeClock) -> None:
    from sis_sync.clever.client import PagingLimits

    # Given a listing whose every page links to a new page, and a cap of 20 pages
    server = FakeClever(endless)
    client = make_client(server, clock).bound(PagingLimits(max_pages=20))
    # When listed; Then it fails on the 21st page instead of following links for ever
    with pytest.raises(CleverLimitExceeded, match="more than 20 pages"):
        client.list_all(client.users, "student")
    assert len(server.requests) <= 22  # the page after the cap may be on its way already


def test_a_listing_over_the_record_cap_fails(clock: FakeClock) -> None:
    from sis_sync.clever.client import PagingLimits

    # Given 3 pages of 10 students and a cap of 25 records
    records = [user(n) for n in range(30)]
    chunks = [records[:10], records[10:20], records[20:]]
    client = make_client(FakeClever(paged(chunks)), clock).bound(PagingLimits(max_records=25))
    # When listed; Then the third page breaks the cap
    with pytest.raises(CleverLimitExceeded, match="more than 25 records"):
        client.list_all(client.users, "student")


def test_a_response_that_drips_in_fails_within_its_request_budget(clock: FakeClock) -> None:
    # Given Clever sends every response 16 bytes at a time, 5 s apart (no read ever times out)
    body = json.dumps(page([user(n) for n in range(7)])).encode()

    def drip(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=Drip(body, clock, 5.0)
        )

    server = FakeClever(drip)
    client = make_client(server, clock, retry=RetryPolicy(max_attempts=3, max_elapsed_s=10_000))
    # When the students are listed
    with pytest.raises(CleverUnavailable, match="ReadTimeout") as raised:
        client.list_all(client.users, "student")
    # Then each attempt was cut off at the 120 s budget (5 s chunks: at most one over), and retried
    assert len(server.requests) == 3
    assert raised.value.code == "unavailable"
    assert clock.now - 1_700_000_000.0 - sum(clock.sleeps) == pytest.approx(3 * 125)


def test_a_poll_past_its_deadline_fails_with_the_deadline_error(clock: FakeClock) -> None:
    from sis_sync.clever.client import PagingLimits

    # Given Clever answers 503 with a 30 s rate-limit reset, and a poll budget of 60 s
    def unavailable(_: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"retry-after": "30"}, json={"message": "busy"})

    server = FakeClever(unavailable)
    client = make_client(server, clock, retry=RetryPolicy(max_attempts=50, max_elapsed_s=10_000))
    client.bound(PagingLimits(budget_s=60))
    # When listed; Then it gives up at the deadline (not after 50 attempts) with the deadline's code
    with pytest.raises(CleverDeadlineExceeded) as raised:
        client.list_all(client.users, "student")
    assert raised.value.code == "deadline_exceeded"
    assert clock.now - 1_700_000_000.0 <= 60
    assert len(server.requests) < 10


def test_a_dripping_response_stops_at_the_poll_deadline(clock: FakeClock) -> None:
    from sis_sync.clever.client import PagingLimits

    # Given a poll with 30 s left and a response that drips for minutes
    body = json.dumps(page([user(n) for n in range(7)])).encode()
    stream = Drip(body, clock, 5.0)
    client = make_client(
        FakeClever(
            lambda _: httpx.Response(200, headers={"content-type": "application/json"}, stream=stream)
        ),
        clock,
    ).bound(PagingLimits(budget_s=30))
    # When listed; Then the poll fails at its deadline
    with pytest.raises(CleverDeadlineExceeded, match="deadline"):
        client.list_all(client.users, "student")
    assert clock.now - 1_700_000_000.0 <= 35


def test_limits_must_be_positive() -> None:
    from sis_sync.clever.client import PagingLimits

    with pytest.raises(ValueError, match="positive"):
        PagingLimits(max_pages=0)
