"""CleverClient against an in-process fake Clever (httpx.MockTransport): no network, no sleeping."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis_sync.clever import client as client_module
from sis_sync.clever import models as models_module
from sis_sync.clever.client import CleverClient, ConnectionCheck, Rejection, RetryPolicy
from sis_sync.clever.errors import (
    CleverAuthError,
    CleverBadResponse,
    CleverError,
    CleverPagingLoop,
    CleverRequestError,
    CleverUnavailable,
)
from sis_sync.clever.models import User

BASE = "https://api.clever.test"
TOKEN = "DEMO-TOKEN-do-not-leak-4f9a1c"
NOW = 1_700_000_000.0
POLICY = RetryPolicy()

Handler = Callable[[httpx.Request], httpx.Response]
Reply = httpx.Response | Exception


# Test doubles --------------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when the client sleeps; every sleep is recorded."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class RecordingLogger:
    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def _log(self, level: str) -> Callable[..., None]:
        def log(msg: str, *args: object, **kwargs: Any) -> None:
            self.records.append((level, msg, kwargs))

        return log

    def __getattr__(self, level: str) -> Callable[..., None]:
        return self._log(level)

    def messages(self, level: str | None = None) -> list[str]:
        return [msg for lvl, msg, _ in self.records if level in (None, lvl)]

    def find(self, msg: str) -> dict[str, Any]:
        return next(kwargs for _, m, kwargs in self.records if m == msg)


class FakeClever:
    """Serves scripted replies first, then falls back to `handler`; records every request."""

    def __init__(self, handler: Handler | None = None, script: Sequence[Reply] = ()) -> None:
        self.handler = handler
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            reply = self.script.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply
        if self.handler is None:
            raise AssertionError("unexpected request")
        return self.handler(request)


def user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"u{n:05d}",
        "district": "d1",
        "email": f"student{n}@example.net",
        "name": {"first": "Pat", "last": f"Doe{n}"},
        "roles": {"student": {"sis_id": str(n), "grade": "5", "school": "s1", "schools": ["s1"]}},
        **extra,
    }


def page(records: Sequence[dict[str, Any]], next_uri: str | None = None) -> dict[str, Any]:
    links = [{"rel": "self", "uri": "/v3.0/users"}]
    if next_uri:
        links.append({"rel": "next", "uri": next_uri})
    return {"data": [{"data": r, "uri": f"/v3.0/users/{r.get('id')}"} for r in records], "links": links}


def paged(
    chunks: Sequence[Sequence[dict[str, Any]]], path: str = "/v3.0/users", limit: int = 10_000
) -> Handler:
    """A Clever list split into `chunks`, each page's next link using `starting_after` like Clever."""
    starts = {None: 0} | {str(chunk[-1]["id"]): i + 1 for i, chunk in enumerate(chunks[:-1]) if chunk}

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == path
        index = starts[request.url.params.get("starting_after")]
        last = index == len(chunks) - 1
        next_uri = None if last else f"{path}?limit={limit}&starting_after={chunks[index][-1]['id']}"
        return httpx.Response(200, json=page(chunks[index], next_uri))

    return handle


def html(status: int, body: str) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/html; charset=utf-8"}, text=body)


def make_client(
    server: FakeClever, clock: FakeClock, *, retry: RetryPolicy = POLICY, page_limit: int = 10_000
) -> CleverClient:
    return CleverClient(
        BASE,
        TOKEN,
        http=httpx.Client(transport=httpx.MockTransport(server)),
        page_limit=page_limit,
        retry=retry,
        sleep=clock.sleep,
        clock=clock.time,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(client_module, "logger", recorder)
    monkeypatch.setattr(models_module, "logger", recorder)
    return recorder


def students(client: CleverClient) -> Iterator[User]:
    return client.users("student")


# Paging ---------------------------------------------------------------------------------------------


def test_three_pages_yield_every_record_once_in_order(clock: FakeClock) -> None:
    # Given a student list Clever serves in three pages
    records = [user(n) for n in range(7)]
    server = FakeClever(paged([records[:3], records[3:5], records[5:]]))
    client = make_client(server, clock)

    # When every student is listed
    result = client.list_all(client.users, "student")

    # Then each record arrives once, in Clever's order, after exactly three requests
    assert [u.id for u in result] == [r["id"] for r in records]
    assert len(server.requests) == client.request_count == 3
    assert client.rejected == []
    assert clock.sleeps == []


def test_the_next_page_is_fetched_while_the_caller_works_on_the_current_one(clock: FakeClock) -> None:
    # Given a two-page list whose server signals when the second page is asked for
    records = [user(n) for n in range(4)]
    second_requested = threading.Event()
    serve = paged([records[:2], records[2:]])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("starting_after"):
            second_requested.set()
        return serve(request)

    client = make_client(FakeClever(handler), clock)
    pages = client.pages("/v3.0/users", {"role": "student"})
    # When the caller has the first page and has not asked for the next one yet
    first = next(pages)
    # Then the second page is already on its way, and arrives whole
    assert second_requested.wait(timeout=10)
    assert [e.data["id"] for e in first.data] == ["u00000", "u00001"]
    assert [e.data["id"] for e in next(pages).data] == ["u00002", "u00003"]


def test_first_request_sends_limit_role_and_bearer_token(clock: FakeClock) -> None:
    # Given a one-page list and a client with a small page limit
    server = FakeClever(paged([[user(1)]], limit=250))
    client = make_client(server, clock, page_limit=250)

    # When students are listed
    list(client.users("student"))

    # Then the first request asks for `limit` and the role, with the token as a bearer header
    (request,) = server.requests
    assert request.url.params["limit"] == "250"
    assert request.url.params["role"] == "student"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_next_uri_is_resolved_against_the_base_url(clock: FakeClock) -> None:
    # Given a two-page list whose next link is a bare path, as Clever sends it
    server = FakeClever(paged([[user(1)], [user(2)]]))
    client = make_client(server, clock)

    # When it is listed
    list(client.records("/v3.0/users", {"role": "student"}))

    # Then the second request goes to base URL + that path and query, verbatim
    assert str(server.requests[1].url) == f"{BASE}/v3.0/users?limit=10000&starting_after=u00001"


def test_next_uri_on_another_host_is_refused_without_sending_the_token(clock: FakeClock) -> None:
    # Given a page whose next link points at a different host
    evil = "https://evil.example/v3.0/users?starting_after=u1"
    server = FakeClever(lambda r: httpx.Response(200, json=page([user(1)], evil)))
    client = make_client(server, clock)

    # When it is listed, Then the listing fails and nothing was sent to the other host
    with pytest.raises(CleverBadResponse):
        client.list_all(client.users, "student")
    assert [r.url.host for r in server.requests] == ["api.clever.test"]


def test_absolute_next_uri_on_the_same_origin_is_followed(clock: FakeClock) -> None:
    # Given a next link spelled as an absolute URL on Clever's own host
    server = FakeClever(
        script=[
            httpx.Response(200, json=page([user(1)], f"{BASE}/v3.0/users?starting_after=u00001")),
            httpx.Response(200, json=page([user(2)])),
        ]
    )
    client = make_client(server, clock)

    # When it is listed, Then both pages are read
    assert [u.id for u in client.list_all(client.users, "student")] == ["u00001", "u00002"]


def test_paging_loop_is_detected(clock: FakeClock) -> None:
    # Given a second page whose next link sends us back to itself
    loop = "/v3.0/users?limit=10000&starting_after=u00001"
    server = FakeClever(
        script=[
            httpx.Response(200, json=page([user(1)], loop)),
            httpx.Response(200, json=page([user(2)], loop)),
        ]
    )
    client = make_client(server, clock)

    # When it is listed, Then the client stops with a paging-loop error instead of spinning
    with pytest.raises(CleverPagingLoop) as caught:
        client.list_all(client.users, "student")
    assert caught.value.code == "bad_response"
    assert len(server.requests) == 2


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    count=st.integers(min_value=1, max_value=40),
    cuts=st.sets(st.integers(min_value=1, max_value=39), max_size=8),
)
def test_any_page_split_yields_the_same_records(count: int, cuts: set[int]) -> None:
    # Given the same records split into pages at arbitrary points
    records = [user(n) for n in range(count)]
    bounds = [0, *sorted(c for c in cuts if c < count), count]
    chunks = [records[a:b] for a, b in itertools.pairwise(bounds)]
    server = FakeClever(paged(chunks))
    client = make_client(server, FakeClock())

    # When they are listed
    result = client.list_all(client.users, "student")

    # Then the records are exactly the unsplit list, one request per page
    assert [u.id for u in result] == [r["id"] for r in records]
    assert len(server.requests) == len(chunks)


# Retries --------------------------------------------------------------------------------------------


def test_429_waits_until_the_rate_limit_reset_then_succeeds(clock: FakeClock) -> None:
    # Given Clever rate-limits the first request until 7 seconds from now
    limited = httpx.Response(429, headers={"X-Ratelimit-Reset": str(int(NOW) + 7)}, json={"message": "slow"})
    server = FakeClever(paged([[user(1)]]), script=[limited])
    client = make_client(server, clock)

    # When students are listed
    result = client.list_all(client.users, "student")

    # Then the client slept exactly until the reset and then got the page
    assert clock.sleeps == [pytest.approx(7.0)]
    assert [u.id for u in result] == ["u00001"]
    assert len(server.requests) == client.request_count == 2


def test_429_wait_is_capped(clock: FakeClock) -> None:
    # Given a reset ten minutes away
    limited = httpx.Response(429, headers={"X-Ratelimit-Reset": str(int(NOW) + 600)})
    server = FakeClever(paged([[user(1)]]), script=[limited])
    client = make_client(server, clock)

    # When students are listed
    client.list_all(client.users, "student")

    # Then the wait is capped by max_rate_limit_wait_s
    assert clock.sleeps == [POLICY.max_rate_limit_wait_s]


def test_429_without_reset_falls_back_to_retry_after_or_backoff(clock: FakeClock) -> None:
    # Given one 429 naming only Retry-After, then one naming nothing
    server = FakeClever(
        paged([[user(1)]]),
        script=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(429)],
    )
    client = make_client(server, clock)

    # When students are listed
    client.list_all(client.users, "student")

    # Then the first wait is Retry-After and the second an ordinary backoff
    assert clock.sleeps[0] == pytest.approx(3.0)
    assert 2 * POLICY.base_delay_s <= clock.sleeps[1] <= 3 * POLICY.base_delay_s


def test_503_twice_then_success(clock: FakeClock, log: RecordingLogger) -> None:
    # Given Clever answers 503 twice before recovering
    server = FakeClever(paged([[user(1)]]), script=[httpx.Response(503), httpx.Response(503)])
    client = make_client(server, clock)

    # When students are listed
    result = client.list_all(client.users, "student")

    # Then it retried twice with growing, bounded, jittered waits, and logged each retry
    assert [u.id for u in result] == ["u00001"]
    assert len(server.requests) == 3
    first, second = clock.sleeps
    assert POLICY.base_delay_s <= first <= 2 * POLICY.base_delay_s
    assert 2 * POLICY.base_delay_s <= second <= 3 * POLICY.base_delay_s
    assert log.messages("warning").count("Clever request retrying") == 2


def test_5xx_forever_gives_up_after_bounded_attempts_and_wait(clock: FakeClock) -> None:
    # Given a Clever that only ever answers 502
    server = FakeClever(lambda r: httpx.Response(502, json={"message": "bad gateway"}))
    client = make_client(server, clock)

    # When students are listed
    with pytest.raises(CleverUnavailable) as caught:
        client.list_all(client.users, "student")

    # Then it tried max_attempts times, waited less than the budget, and says so
    assert len(server.requests) == POLICY.max_attempts
    assert sum(clock.sleeps) <= POLICY.max_elapsed_s
    assert caught.value.status == 502
    assert caught.value.code == "unavailable"


def test_total_time_budget_stops_retries_before_attempts_run_out(clock: FakeClock) -> None:
    # Given a generous attempt count but a 100 s budget, and a Clever rate-limited for a minute each time
    def always_limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"X-Ratelimit-Reset": str(clock.now + 60)})

    server = FakeClever(always_limited)
    policy = RetryPolicy(max_attempts=50, max_elapsed_s=100, max_rate_limit_wait_s=65)
    client = make_client(server, clock, retry=policy)

    # When students are listed, Then it gives up within the budget
    with pytest.raises(CleverUnavailable) as caught:
        client.list_all(client.users, "student")
    assert clock.sleeps == [pytest.approx(60.0)]
    assert len(server.requests) == 2
    assert caught.value.status == 429


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    statuses=st.lists(st.sampled_from([429, 500, 502, 503, 504, 0]), min_size=1, max_size=30),
    reset_in=st.floats(min_value=-5, max_value=500),
)
def test_retries_never_exceed_attempts_or_time_budget(statuses: list[int], reset_in: float) -> None:
    # Given any run of transient failures (0 = timeout) before a success
    clock = FakeClock()

    def reply(status: int) -> Reply:
        if status == 0:
            return httpx.ReadTimeout("slow")
        return httpx.Response(status, headers={"X-Ratelimit-Reset": str(clock.now + reset_in)})

    server = FakeClever(paged([[user(1)]]), script=[reply(s) for s in statuses])
    client = make_client(server, clock)

    # When students are listed
    with contextlib.suppress(CleverUnavailable):
        client.list_all(client.users, "student")

    # Then attempts and total waiting stay within the policy, whatever the outcome
    assert len(server.requests) <= POLICY.max_attempts
    assert sum(clock.sleeps) <= POLICY.max_elapsed_s
    assert all(0 <= s <= max(POLICY.max_rate_limit_wait_s, POLICY.max_delay_s) for s in clock.sleeps)


def test_timeout_is_retried(clock: FakeClock) -> None:
    # Given the first request times out
    server = FakeClever(paged([[user(1)]]), script=[httpx.ReadTimeout("timed out")])
    client = make_client(server, clock)

    # When students are listed, Then the second attempt succeeds
    assert [u.id for u in client.list_all(client.users, "student")] == ["u00001"]
    assert len(server.requests) == 2
    assert len(clock.sleeps) == 1


def test_connection_errors_forever_are_unavailable_without_status(clock: FakeClock) -> None:
    # Given Clever cannot be reached at all
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    server = FakeClever(refuse)
    client = make_client(server, clock)

    # When students are listed, Then it is unavailable, with no HTTP status
    with pytest.raises(CleverUnavailable) as caught:
        client.list_all(client.users, "student")
    assert caught.value.status is None
    assert "ConnectError" in caught.value.detail
    assert len(server.requests) == POLICY.max_attempts


# Non-retried failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_never_retried(clock: FakeClock, status: int) -> None:
    # Given Clever refuses the token
    server = FakeClever(lambda r: httpx.Response(status, json={"message": "invalid token"}))
    client = make_client(server, clock)

    # When students are listed
    with pytest.raises(CleverAuthError) as caught:
        client.list_all(client.users, "student")

    # Then exactly one request was made and nothing slept
    assert len(server.requests) == 1
    assert clock.sleeps == []
    assert caught.value.status == status
    assert caught.value.code == "auth"
    # And what the admin reads says it in words, the code not repeated in it
    assert caught.value.message == f"Clever refused sis-sync's access (HTTP {status})"


@pytest.mark.parametrize(("status", "message"), [(404, "Not Found"), (413, "limit must be <= 10000")])
def test_other_4xx_are_request_errors_without_retry(clock: FakeClock, status: int, message: str) -> None:
    # Given Clever rejects the request itself
    server = FakeClever(lambda r: httpx.Response(status, json={"message": message}))
    client = make_client(server, clock)

    # When it is listed, Then a request error carries Clever's message, after one request
    with pytest.raises(CleverRequestError) as caught:
        list(client.sections())
    assert caught.value.status == status
    assert caught.value.code == "request"
    assert message in caught.value.detail
    assert len(server.requests) == 1


def test_html_500_after_retries_is_a_bad_response_with_a_snippet(clock: FakeClock) -> None:
    # Given a load balancer that answers an HTML error page every time
    body = "<html>\n  <head><title>500 Internal Server Error</title></head>\n\n<body>" + "x" * 400
    server = FakeClever(lambda r: html(500, body))
    client = make_client(server, clock)

    # When students are listed
    with pytest.raises(CleverBadResponse) as caught:
        client.list_all(client.users, "student")

    # Then it retried, then reported the status and a short whitespace-collapsed snippet
    error = caught.value
    assert len(server.requests) == POLICY.max_attempts
    assert error.status == 500
    assert error.code == "bad_response"
    assert error.snippet.startswith("<html> <head><title>500 Internal Server Error</title></head> <body>")
    assert len(error.snippet) <= 200
    assert "\n" not in error.snippet


def test_html_200_is_a_bad_response_without_retry(clock: FakeClock) -> None:
    # Given a captive portal answering 200 with HTML
    server = FakeClever(lambda r: html(200, "<!doctype html><p>Please log in</p>"))
    client = make_client(server, clock)

    # When the district is read, Then it is a bad response quoting the page
    with pytest.raises(CleverBadResponse) as caught:
        client.district()
    assert caught.value.status == 200
    assert "Please log in" in caught.value.snippet
    assert len(server.requests) == 1


def test_invalid_json_200_is_a_bad_response_that_quotes_no_record(clock: FakeClock) -> None:
    # Given a page cut off in the middle of a student record
    truncated = b'{"data":[{"data":{"id":"u1","email":"kid@example.net","name":{"first":"Ki'
    server = FakeClever(lambda r: httpx.Response(200, content=truncated))
    client = make_client(server, clock)

    # When students are listed
    with pytest.raises(CleverBadResponse) as caught:
        client.list_all(client.users, "student")

    # Then the error names the parse failure but not the record's contents
    assert caught.value.status == 200
    assert "invalid JSON" in caught.value.detail
    assert "kid@example.net" not in str(caught.value)
    assert caught.value.snippet


def test_non_json_text_200_is_a_bad_response_with_a_snippet(clock: FakeClock) -> None:
    # Given a body that is plain text
    server = FakeClever(lambda r: httpx.Response(200, text="upstream   connect error\nor disconnect"))
    client = make_client(server, clock)

    # When it is listed, Then the snippet is the collapsed text
    with pytest.raises(CleverBadResponse) as caught:
        list(client.terms())
    assert caught.value.snippet == "upstream connect error or disconnect"


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"not": "a list"}},
        {"links": []},
        {"data": [{"uri": "/v3.0/users/1"}]},
        [1, 2, 3],
    ],
)
def test_body_that_is_not_the_list_envelope_is_a_bad_response(clock: FakeClock, body: object) -> None:
    # Given a JSON body of the wrong shape
    server = FakeClever(lambda r: httpx.Response(200, json=body))
    client = make_client(server, clock)

    # When it is listed, Then it is a bad response naming where the shape broke
    with pytest.raises(CleverBadResponse) as caught:
        list(client.courses())
    assert "not a Clever list" in caught.value.detail
    assert caught.value.snippet


# All-or-nothing ------------------------------------------------------------------------------------


def test_third_page_failing_aborts_the_listing(clock: FakeClock) -> None:
    # Given three pages where the third never comes back
    chunks = [[user(1), user(2)], [user(3)], [user(4)]]
    healthy = paged(chunks)

    def third_page_down(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("starting_after") == "u00003":
            return httpx.Response(503)
        return healthy(request)

    server = FakeClever(third_page_down)
    client = make_client(server, clock)

    # When the records are streamed, Then the iterator raises after the first two pages
    seen: list[str] = []

    def stream() -> None:
        for student in client.users("student"):
            seen.append(student.id)

    with pytest.raises(CleverUnavailable):
        stream()
    assert seen == ["u00001", "u00002", "u00003"]

    # And list_all (and its typed forms) never hand back the partial roster
    result: list[User] | None = None
    with pytest.raises(CleverUnavailable):
        result = client.list_all(client.users, "student")
    with pytest.raises(CleverUnavailable):
        result = client.list_all_users("student")
    assert result is None


def test_typed_list_all_helpers_hit_their_paths(clock: FakeClock) -> None:
    # Given a Clever serving one record on every list
    def one(request: httpx.Request) -> httpx.Response:
        record = {"id": "x1", "school": "s1"}
        return httpx.Response(200, json={"data": [{"data": record}], "links": []})

    server = FakeClever(one)
    client = make_client(server, clock)

    # When every typed list is read
    lists: list[list[Any]] = [
        client.list_all_schools(),
        client.list_all_users("teacher"),
        client.list_all_sections(),
        client.list_all_terms(),
        client.list_all_courses(),
    ]

    # Then each hit its own path with its model
    assert [r.url.path for r in server.requests] == [
        "/v3.0/schools",
        "/v3.0/users",
        "/v3.0/sections",
        "/v3.0/terms",
        "/v3.0/courses",
    ]
    assert [type(found[0]).__name__ for found in lists] == ["School", "User", "Section", "Term", "Course"]


# Lenient models, strict reporting -----------------------------------------------------------------


def test_unknown_fields_and_enum_values_are_kept_and_logged(clock: FakeClock, log: RecordingLogger) -> None:
    # Given a student with a field and a grade this code has never heard of
    record = user(1, pronouns="they/them")
    record["roles"]["student"]["grade"] = "Grade13Plus"
    server = FakeClever(paged([[record]]))
    client = make_client(server, clock)

    # When it is listed
    (student,) = client.list_all(client.users, "student")

    # Then it is kept whole, and both novelties are logged by name (not value for the field)
    assert student.model_extra == {"pronouns": "they/them"}
    assert student.roles.student is not None
    assert student.roles.student.grade == "Grade13Plus"
    assert log.find("unknown Clever fields kept") == {"kind": "student", "fields": ["pronouns"]}
    assert log.find("unknown Clever enum value kept") == {"field": "student.grade", "value": "Grade13Plus"}
    assert client.rejected == []


def test_record_with_a_bad_id_is_rejected_and_reported(clock: FakeClock, log: RecordingLogger) -> None:
    # Given a page where one student has an id Clever could never issue and another has none
    bad = user(2) | {"id": "../../etc/passwd"}
    missing = {k: v for k, v in user(3).items() if k != "id"}
    server = FakeClever(paged([[user(1), bad], [missing, user(4)]]))
    client = make_client(server, clock)

    # When students are listed
    result = client.list_all(client.users, "student")

    # Then the good ones arrive, the bad ones are on `rejected`, and a warning counts them
    assert [u.id for u in result] == ["u00001", "u00004"]
    assert [(r.kind, r.index, r.page) for r in client.rejected] == [("student", 1, 1), ("student", 2, 2)]
    assert all(isinstance(r, Rejection) and r.errors.startswith("id:") for r in client.rejected)
    assert log.find("Clever records rejected") == {"kind": "student", "rejected": 2, "seen": 4}
    # And nothing of the records' contents is in the report
    report = repr(client.rejected)
    assert "passwd" not in report
    assert "example.net" not in report


# District and connection check ---------------------------------------------------------------------


def district_page(*ids: str) -> dict[str, Any]:
    return {"data": [{"data": {"id": i, "name": "#DEMO", "state": "running"}, "uri": f"/d/{i}"} for i in ids]}


def test_district_returns_the_only_district(clock: FakeClock) -> None:
    # Given the token's district
    server = FakeClever(lambda r: httpx.Response(200, json=district_page("d1")))
    client = make_client(server, clock)

    # When it is read, Then it comes back typed
    district = client.district()
    assert (district.id, district.state) == ("d1", "running")
    assert server.requests[0].url.path == "/v3.0/districts"


@pytest.mark.parametrize("ids", [(), ("d1", "d2")])
def test_district_requires_exactly_one(clock: FakeClock, ids: tuple[str, ...]) -> None:
    server = FakeClever(lambda r: httpx.Response(200, json=district_page(*ids)))
    client = make_client(server, clock)

    with pytest.raises(CleverBadResponse, match="exactly one district"):
        client.district()


def test_check_connection_ok(clock: FakeClock) -> None:
    # Given a healthy Clever
    server = FakeClever(lambda r: httpx.Response(200, json=district_page("d1")))
    client = make_client(server, clock)

    # When the connection is checked, Then it is ok and names the district
    assert client.check_connection() == ConnectionCheck(ok=True, district_id="d1")


def test_check_connection_reports_a_revoked_token(clock: FakeClock) -> None:
    server = FakeClever(lambda r: httpx.Response(401, json={"message": "invalid token"}))
    client = make_client(server, clock)

    check = client.check_connection()

    assert (check.ok, check.code, check.status) == (False, "auth", 401)
    assert check.detail == "Clever refused sis-sync's access (HTTP 401)"
    assert len(server.requests) == 1


def test_check_connection_is_quick_when_clever_is_down(clock: FakeClock) -> None:
    # Given Clever is down
    server = FakeClever(lambda r: httpx.Response(503))
    client = make_client(server, clock)

    # When the connection is checked
    check = client.check_connection()

    # Then it gives up after a couple of attempts and a few seconds, with a short timeout
    assert (check.ok, check.code) == (False, "unavailable")
    assert len(server.requests) == 2
    assert sum(clock.sleeps) <= 10
    assert server.requests[0].extensions["timeout"]["read"] == 5.0


# Secrets and lifecycle -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401),
        httpx.Response(404, json={"message": "nope"}),
        httpx.Response(503),
        httpx.Response(200, text="<html>err</html>"),
        httpx.Response(200, content=b"{broken"),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["auth", "request", "unavailable", "html", "json", "timeout"],
)
def test_token_never_appears_in_errors_logs_or_repr(
    clock: FakeClock, log: RecordingLogger, reply: Reply
) -> None:
    # Given any failure
    def fail(request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply

    client = make_client(FakeClever(fail), clock)

    # When a listing fails
    with pytest.raises(CleverError) as caught:
        client.list_all(client.users, "student")

    # Then neither the error (nor its causes), the logs, the client nor a check show the token
    texts = [str(caught.value), repr(caught.value), repr(client), str(client), repr(log.records)]
    cause: BaseException | None = caught.value
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    texts.append(repr(client.check_connection()))
    assert not [t for t in texts if TOKEN in t]


def test_context_manager_closes_only_a_client_it_created() -> None:
    # Given one client built by CleverClient and one injected
    injected = httpx.Client(transport=httpx.MockTransport(FakeClever()))
    with CleverClient(BASE, TOKEN) as own, CleverClient(BASE, TOKEN, http=injected):
        created = own._http

    # Then leaving the block closes its own client and leaves the injected one open
    assert created.is_closed
    assert not injected.is_closed
    injected.close()


@pytest.mark.parametrize("limit", [0, 10_001])
def test_page_limit_must_be_within_clevers_bounds(limit: int) -> None:
    with pytest.raises(ValueError, match="page_limit"):
        CleverClient(BASE, TOKEN, page_limit=limit)
