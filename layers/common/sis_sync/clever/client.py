"""HTTP client for Clever's Data API v3.0: typed records, `rel=next` paging, bounded retries.

**Every listing is all-or-nothing.** The iterators (`users`, `sections`, `pages`, ...) yield
records page by page, and if any page still fails after its retries the iterator raises instead of
ending. A consumer must therefore never act on what it has seen until the iterator finished
normally: a missing page must never read as "everyone on it was removed". Use `list_all` (which
returns only after the last page) unless you stream into something you can throw away on error.

Records that fail their model (a missing or malformed id, say) are neither fatal nor dropped
silently: they go to `CleverClient.rejected` (kind, position and a PII-free error summary) and are
counted in a warning log; the caller decides whether the run may proceed.

Retries are tenacity's: 429 waits until `X-Ratelimit-Reset` (capped), 500/502/503/504, timeouts and
connection errors back off exponentially with jitter, all bounded by attempts and total time.
401/403 and other 4xx are never retried. httpx's timeout bounds each read, not a response: a body
that drips in slowly is cut off at `request_budget_s` for the whole request (and retried).

**Truncation is an error** (DESIGN §7). A full page without a `next` link fails the listing
(`CleverTruncated`); with `PagingLimits` (a poll sets them) more pages or records than the caps
(`CleverLimitExceeded`) or time past the budget (`CleverDeadlineExceeded`) fail it too.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, ParamSpec, Self, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from sis_sync.clever.errors import (
    CleverAuthError,
    CleverBadResponse,
    CleverDeadlineExceeded,
    CleverError,
    CleverLimitExceeded,
    CleverPagingLoop,
    CleverRequestError,
    CleverTruncated,
    CleverUnavailable,
    snippet,
)
from sis_sync.clever.models import CleverModel, Course, District, Page, School, Section, Single, Term, User
from sis_sync.observability import logger

DEFAULT_BASE_URL: Final = "https://api.clever.com"
MAX_PAGE_LIMIT: Final = 10_000
RATE_LIMIT_PER_MINUTE: Final = 1_200  # Clever's limit per district token
RETRYABLE_STATUSES: Final = frozenset({500, 502, 503, 504})
AUTH_STATUSES: Final = frozenset({401, 403})
_CLEVER_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

Role = Literal["student", "teacher", "staff", "district_admin", "contact"]
QueryParams = Mapping[str, str | int]

M = TypeVar("M", bound=CleverModel)
B = TypeVar("B", bound=BaseModel)
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request before giving up; every bound applies at once."""

    max_attempts: int = 5
    max_elapsed_s: float = 120.0
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_rate_limit_wait_s: float = 65.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_elapsed_s, self.base_delay_s, self.max_delay_s, self.max_rate_limit_wait_s) < 0:
            raise ValueError("retry delays must not be negative")


CHECK_RETRY: Final = RetryPolicy(
    max_attempts=2, max_elapsed_s=10.0, base_delay_s=0.5, max_delay_s=2.0, max_rate_limit_wait_s=5.0
)
CHECK_TIMEOUT_S: Final = 5.0
REQUEST_BUDGET_S: Final = 120.0  # one response, all of its reads: a slow drip ends here
_UNDECODED_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class PagingLimits:
    """What one client may read before its listings stop being trustworthy (None: unbounded).

    `budget_s` is counted from `CleverHttp.bound`: every request and every retry wait must end
    within it, so a poll fails with a recorded error before its Lambda is killed."""

    max_pages: int | None = None
    max_records: int | None = None
    budget_s: float | None = None

    def __post_init__(self) -> None:
        caps = [cap for cap in (self.max_pages, self.max_records) if cap is not None]
        if any(cap < 1 for cap in caps) or (self.budget_s is not None and self.budget_s < 0):
            raise ValueError("paging limits must be positive")


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """One page of a listing as Clever sent it (for storing raw) and where its listing goes next."""

    body: bytes
    records: int
    next_uri: str | None  # None: the listing's last page
    page: Page  # the body as validated here, so that storing it converted does not parse it again


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that failed its model: where it was and why, never what it contained."""

    kind: str
    index: int
    page: int
    errors: str


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """Outcome of `check_connection`: when not ok, the `CleverError`'s `code` and its `message`
    (as `detail`, what the admin reads)."""

    ok: bool
    code: str | None = None
    detail: str = ""
    status: int | None = None
    district_id: str | None = None


class _TransientError(Exception):
    """A failure worth retrying (429, 5xx, timeout); turned into a public error once retries end."""

    def __init__(
        self, detail: str, *, status: int | None = None, reset_at: float | None = None, html: str = ""
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.reset_at = reset_at
        self.html = html

    def exhausted(self, attempts: int) -> CleverError:
        if self.html:
            return CleverBadResponse(
                f"HTML error page after {attempts} attempts", status=self.status, snippet=self.html
            )
        return CleverUnavailable(f"{self.detail} after {attempts} attempts", status=self.status)


class _WaitForClever(wait_base):
    """Until `X-Ratelimit-Reset` for a 429 that names it (capped); exponential backoff otherwise."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._backoff = wait_exponential_jitter(
            multiplier=policy.base_delay_s, max=policy.max_delay_s, jitter=policy.base_delay_s
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, _TransientError) and failure.reset_at is not None:
            until_reset = failure.reset_at - self._clock()
            if until_reset > 0:
                return min(until_reset, self._policy.max_rate_limit_wait_s)
        return float(self._backoff(retry_state))


class _StopAtDeadline(stop_base):
    """A wait that would end past the client's deadline fails the request with the deadline's error
    (not "unavailable": the district may be fine, the poll ran out of time)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._clock() + retry_state.upcoming_sleep > self._deadline:
            raise CleverDeadlineExceeded(f"no time left to retry after {retry_state.attempt_number} attempts")
        return False


class _StopWhenOverBudget(stop_base):
    """Stop before a sleep that would take the request past `max_elapsed_s` in total.

    Elapsed time is read from the injected clock, or from the sleeps taken when the clock does not
    move (tests inject a recording `sleep`), whichever is larger.
    """

    def __init__(self, max_elapsed_s: float, clock: Callable[[], float]) -> None:
        self._max = max_elapsed_s
        self._clock = clock
        self._started = clock()

    def __call__(self, retry_state: RetryCallState) -> bool:
        elapsed = max(self._clock() - self._started, retry_state.idle_for)
        return elapsed + retry_state.upcoming_sleep > self._max


class CleverHttp:
    """What every Clever caller shares: one `Authorization` header, bounded retries, `rel=next`
    paging and the closed set of errors. `CleverClient` (a district's bearer token) and
    `CleverApp` (the app's own client id and secret) differ only in what they ask Clever."""

    def __init__(
        self,
        base_url: str,
        authorization: str,
        *,
        http: httpx.Client | None = None,
        page_limit: int = MAX_PAGE_LIMIT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
        request_budget_s: float = REQUEST_BUDGET_S,
    ) -> None:
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError("page_limit must be between 1 and 10000")
        self._base = httpx.URL(base_url.rstrip("/"))
        self._headers = {"Authorization": authorization, "Accept": "application/json"}
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)))
        self._page_limit = page_limit
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._timeout_s = timeout_s
        self._request_budget_s = request_budget_s
        self._limits = PagingLimits()
        self._deadline: float | None = None
        self._fields_reported: dict[str, set[str]] = {}
        self.rejected: list[Rejection] = []
        self.request_count = 0
        self._counting = threading.Lock()  # listings fetched from several threads share the counts
        self._next_request_at = 0.0
        self.pages_read = 0
        self.records_read = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._base)!r}, page_limit={self._page_limit})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this object created it; an injected one is the caller's."""
        if self._owns_http:
            self._http.close()

    def bound(self, limits: PagingLimits) -> Self:
        """Apply `limits` to everything read from now on (its budget starts now); returns self."""
        self._limits = limits
        self._deadline = None if limits.budget_s is None else self._clock() + limits.budget_s
        return self

    # Internals shared by every Clever caller --------------------------------------------------------

    def _typed(
        self,
        kind: str,
        model: type[M],
        path: str,
        params: QueryParams | None,
        *,
        policy: RetryPolicy | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[M]:
        index = rejected = 0
        try:
            for number, page in enumerate(self._pages(path, params, policy or self._retry, timeout_s), 1):
                for envelope in page.data:
                    try:
                        record = model.model_validate(envelope.data)
                    except ValidationError as exc:
                        self.rejected.append(Rejection(kind, index, number, _summary(exc)))
                        rejected += 1
                    else:
                        self._report_unknown_fields(kind, record)
                        yield record
                    index += 1
        finally:
            if rejected:
                logger.warning("Clever records rejected", kind=kind, rejected=rejected, seen=index)

    def _pages(
        self, path: str, params: QueryParams | None, policy: RetryPolicy, timeout_s: float | None
    ) -> Iterator[Page]:
        url = httpx.URL(f"{self._base}{path}", params={"limit": self._page_limit, **(params or {})})
        requested: set[str] = {str(url)}
        number = records = 0
        # One page is fetched ahead while the caller works through the current one, so waiting
        # for Clever overlaps parsing and partitioning. A failure surfaces when the caller reaches
        # that page, still before the listing could look complete.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clever-page") as ahead:
            fetching = ahead.submit(self._fetch_page, url, policy, timeout_s)
            while True:
                page = fetching.result()
                number += 1
                records += len(page.data)
                logger.debug("Clever page fetched", path=url.path, page=number, records=len(page.data))
                self._count_page(url, len(page.data))
                next_uri = page.next_uri
                if next_uri is None and len(page.data) >= _asked_limit(url, self._page_limit):
                    raise CleverTruncated(f"page {number} of {url.path} is full but has no next link")
                if next_uri is None:
                    logger.info("Clever listing complete", path=url.path, pages=number, records=records)
                    yield page
                    return
                url = self._resolve(next_uri)
                if str(url) in requested:
                    raise CleverPagingLoop(f"next link repeats an earlier page of {url.path} (page {number})")
                requested.add(str(url))
                fetching = ahead.submit(self._fetch_page, url, policy, timeout_s)
                yield page

    def first_page_uri(self, path: str, params: QueryParams | None = None) -> str:
        """Where a listing starts: the cursor a resumable listing keeps before its first page."""
        url = httpx.URL(path, params={"limit": self._page_limit, **(params or {})})
        return str(url)

    def fetch_page(self, uri: str) -> FetchedPage:
        """One page at `uri` (a listing's first page or a `next` link), retried like any page, with
        the truncation check of `pages`: a full page without a `next` link fails the listing.

        The caller keeps the cursor (the returned `next_uri`), so a listing can stop after any page
        and resume in another process; it also counts pages against its own caps."""
        url = self._resolve(uri)
        self._pace()
        response = self._get(url, self._retry, None)
        page = self._parse_page(response, url)
        with self._counting:
            self.pages_read += 1
            self.records_read += len(page.data)
        if page.next_uri is None and len(page.data) >= _asked_limit(url, self._page_limit):
            raise CleverTruncated(f"page at {url.path} is full but has no next link")
        return FetchedPage(body=response.content, records=len(page.data), next_uri=page.next_uri, page=page)

    def _pace(self) -> None:
        """Space page requests from every thread to Clever's rate limit (1,200 a minute per
        token), so listings fetched concurrently never provoke a 429 storm."""
        with self._counting:
            now = self._clock()
            start = max(now, self._next_request_at)
            self._next_request_at = start + 60.0 / RATE_LIMIT_PER_MINUTE
        if start > now:
            self._sleep(start - now)

    def _count_page(self, url: httpx.URL, records: int) -> None:
        """Count a page against the limits: past a cap, the listing is not one to trust."""
        self.pages_read += 1
        self.records_read += records
        limits = self._limits
        if limits.max_pages is not None and self.pages_read > limits.max_pages:
            raise CleverLimitExceeded(f"more than {limits.max_pages} pages (at {url.path})")
        if limits.max_records is not None and self.records_read > limits.max_records:
            raise CleverLimitExceeded(f"more than {limits.max_records} records (at {url.path})")

    def _fetch_page(self, url: httpx.URL, policy: RetryPolicy, timeout_s: float | None) -> Page:
        return self._parse_page(self._get(url, policy, timeout_s), url)

    def _resolve(self, uri: str) -> httpx.URL:
        """A `next` link against the base URL; one that leaves it would carry our token elsewhere."""
        target = httpx.URL(uri)
        if target.is_relative_url and uri.startswith("/"):
            return httpx.URL(f"{self._base}{uri}")
        same_origin = (target.scheme, target.host, target.port) == (
            self._base.scheme,
            self._base.host,
            self._base.port,
        )
        if target.is_absolute_url and same_origin:
            return target
        raise CleverBadResponse("next link points outside the Clever base URL")

    def _get(self, url: httpx.URL, policy: RetryPolicy, timeout_s: float | None) -> httpx.Response:
        def log_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            logger.warning(
                "Clever request retrying",
                path=url.path,
                attempt=state.attempt_number,
                status=getattr(failure, "status", None),
                reason=getattr(failure, "detail", type(failure).__name__),
                wait_s=round(state.upcoming_sleep, 3),
            )

        stop = stop_after_attempt(policy.max_attempts) | _StopWhenOverBudget(
            policy.max_elapsed_s, self._clock
        )
        if self._deadline is not None:
            stop = _StopAtDeadline(self._deadline, self._clock) | stop
        retrying = Retrying(
            stop=stop,
            wait=_WaitForClever(policy, self._clock),
            retry=retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            before_sleep=log_retry,
        )
        try:
            return retrying(self._attempt, url, timeout_s)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            if not isinstance(failure, _TransientError):  # pragma: no cover - only _TransientError is retried
                raise
            error = failure.exhausted(exc.last_attempt.attempt_number)
            logger.error("Clever request gave up", path=url.path, code=error.code, status=error.status)
            raise error from failure

    def _attempt(self, url: httpx.URL, timeout_s: float | None) -> httpx.Response:
        started = self._clock()
        ends = started + self._request_budget_s
        if self._deadline is not None:
            if started >= self._deadline:
                raise CleverDeadlineExceeded(f"no time left for {url.path}")
            ends = min(ends, self._deadline)
        per_read = min(self._timeout_s if timeout_s is None else timeout_s, ends - started)
        try:
            with self._counting:
                self.request_count += 1
            with self._http.stream(
                "GET", url, headers=self._headers, timeout=httpx.Timeout(per_read, connect=min(per_read, 5.0))
            ) as streamed:
                response = self._read_by(streamed, ends, url)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if self._deadline is not None and self._clock() >= self._deadline:
                raise CleverDeadlineExceeded(f"{type(exc).__name__} on {url.path} at the deadline") from exc
            raise _TransientError(f"{type(exc).__name__} on {url.path}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status in AUTH_STATUSES:  # the admin's words; the path is for the logs
            logger.warning("Clever refused the token", path=url.path, status=status)
            raise CleverAuthError("Clever refused sis-sync's access", status=status)
        if status == 429:
            raise _TransientError(
                f"rate limited on {url.path}", status=status, reset_at=_reset_at(response, self._clock)
            )
        if status in RETRYABLE_STATUSES:
            html = snippet(response.text) if _is_html(response) else ""
            raise _TransientError(f"HTTP {status} on {url.path}", status=status, html=html)
        if status >= 500:
            raise CleverUnavailable(f"HTTP {status} on {url.path}", status=status)
        message = _error_message(response)
        detail = f"HTTP {status} on {url.path}" + (f": {message}" if message else "")
        raise CleverRequestError(detail, status=status)

    def _read_by(self, streamed: httpx.Response, ends: float, url: httpx.URL) -> httpx.Response:
        """The whole body, read by `ends` (the clock is checked after every chunk)."""
        chunks = []
        for chunk in streamed.iter_bytes():
            chunks.append(chunk)
            if self._clock() > ends:
                if self._deadline is not None and ends >= self._deadline:
                    raise CleverDeadlineExceeded(f"response of {url.path} still arriving at the deadline")
                raise httpx.ReadTimeout(f"response of {url.path} took over {self._request_budget_s:g} s")
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _UNDECODED_HEADERS]
        return httpx.Response(
            streamed.status_code, headers=headers, content=b"".join(chunks), request=streamed.request
        )

    def _parse_page(self, response: httpx.Response, url: httpx.URL) -> Page:
        return self._parse_body(response, url, Page)

    def _parse_body(self, response: httpx.Response, url: httpx.URL, model: type[B]) -> B:
        """The JSON body as `model`, or a `CleverBadResponse` that never quotes a JSON body."""
        status = response.status_code
        if _is_html(response):
            raise CleverBadResponse(
                f"HTML instead of JSON on {url.path}", status=status, snippet=snippet(response.text)
            )
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise CleverBadResponse(
                f"invalid JSON on {url.path}", status=status, snippet=_unparsable(response, exc)
            ) from None
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise CleverBadResponse(
                f"body is not a Clever list on {url.path}", status=status, snippet=_summary(exc)
            ) from None

    def _report_unknown_fields(self, kind: str, record: CleverModel) -> None:
        """Fields Clever sends that the model does not name are kept; say which, once per kind.

        Runs for every record of a listing, so the common case (nothing new) is one set comparison.
        """
        extra = record.__pydantic_extra__
        if not extra:
            return
        reported = self._fields_reported.setdefault(kind, set())
        if extra.keys() <= reported:
            return
        new = sorted(extra.keys() - reported)
        reported.update(new)
        logger.info("unknown Clever fields kept", kind=kind, fields=new)


class CleverClient(CleverHttp):
    """Synchronous Clever Data API v3.0 client for one district token.

    Listings are all-or-nothing (see the module docstring): a page that fails after its retries
    makes the iterator raise, so only an iterator that ended normally is a complete roster.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.Client | None = None,
        page_limit: int = MAX_PAGE_LIMIT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
    ) -> None:
        if not token:
            raise ValueError("a Clever token is required")
        super().__init__(
            base_url,
            f"Bearer {token}",
            http=http,
            page_limit=page_limit,
            retry=retry,
            sleep=sleep,
            clock=clock,
            timeout_s=timeout_s,
        )

    # Typed listings ------------------------------------------------------------------------------

    def district(self) -> District:
        """The token's district (`GET /v3.0/districts` must list exactly one)."""
        return self._district(self._retry, None)

    def schools(self) -> Iterator[School]:
        return self._typed("school", School, "/v3.0/schools", None)

    def users(self, role: Role) -> Iterator[User]:
        return self._typed(role, User, "/v3.0/users", {"role": role})

    def sections(self) -> Iterator[Section]:
        return self._typed("section", Section, "/v3.0/sections", None)

    def terms(self) -> Iterator[Term]:
        return self._typed("term", Term, "/v3.0/terms", None)

    def courses(self) -> Iterator[Course]:
        return self._typed("course", Course, "/v3.0/courses", None)

    def list_all(self, listing: Callable[P, Iterator[T]], /, *args: P.args, **kwargs: P.kwargs) -> list[T]:
        """Every record of a listing, returned only once its last page arrived.

        `client.list_all(client.users, "student")`; raises the listing's `CleverError` otherwise,
        so a partial roster can never be mistaken for a complete one.
        """
        return list(listing(*args, **kwargs))

    def list_all_schools(self) -> list[School]:
        return self.list_all(self.schools)

    def list_all_users(self, role: Role) -> list[User]:
        return self.list_all(self.users, role)

    def list_all_sections(self) -> list[Section]:
        return self.list_all(self.sections)

    def list_all_terms(self) -> list[Term]:
        return self.list_all(self.terms)

    def list_all_courses(self) -> list[Course]:
        return self.list_all(self.courses)

    def user(
        self, user_id: str, *, policy: RetryPolicy | None = None, timeout_s: float | None = None
    ) -> User:
        """One user of the token's district (`GET /v3.0/users/{id}`); a user the district does not
        share answers 404 (`CleverRequestError`)."""
        if not _CLEVER_ID.fullmatch(user_id):  # it becomes a path segment
            raise ValueError("not a Clever id")
        url = httpx.URL(f"{self._base}/v3.0/users/{user_id}")
        single = self._parse_body(self._get(url, policy or self._retry, timeout_s), url, Single)
        try:
            return User.model_validate(single.data)
        except ValidationError as exc:
            raise CleverBadResponse(
                f"malformed user on {url.path}", status=200, snippet=_summary(exc)
            ) from None

    # Generic listings ----------------------------------------------------------------------------

    def pages(self, path: str, params: QueryParams | None = None) -> Iterator[Page]:
        """Each page of `path`, following `rel=next` links until there is none (all-or-nothing)."""
        return self._pages(path, params, self._retry, None)

    def records(self, path: str, params: QueryParams | None = None) -> Iterator[dict[str, Any]]:
        """Each raw record (the inner `data` object) of `path`, unvalidated (all-or-nothing)."""
        for page in self.pages(path, params):
            for envelope in page.data:
                yield envelope.data

    # Connection check ----------------------------------------------------------------------------

    def check_connection(self, *, policy: RetryPolicy = CHECK_RETRY) -> ConnectionCheck:
        """One quick `GET /v3.0/districts` (short timeout, few retries) behind "I fixed it"."""
        try:
            district = self._district(policy, CHECK_TIMEOUT_S)
        except CleverError as exc:
            logger.warning("Clever connection check failed", code=exc.code, status=exc.status)
            return ConnectionCheck(ok=False, code=exc.code, detail=exc.message, status=exc.status)
        logger.info("Clever connection check passed", district_id=district.id)
        return ConnectionCheck(ok=True, district_id=district.id)

    # Internals ---------------------------------------------------------------------------------------

    def _district(self, policy: RetryPolicy, timeout_s: float | None) -> District:
        path = "/v3.0/districts"
        found = list(self._typed("district", District, path, None, policy=policy, timeout_s=timeout_s))
        if len(found) != 1:
            raise CleverBadResponse(f"expected exactly one district, got {len(found)}")
        return found[0]


def validated(
    kind: str, model: type[M], page: Page, number: int, first_index: int, rejected: list[Rejection]
) -> Iterator[M]:
    """The records of a stored page as `model`; one that fails it goes to `rejected` (as a listing
    read live would put it in `CleverClient.rejected`), never silently dropped."""
    for index, envelope in enumerate(page.data, first_index):
        try:
            yield model.model_validate(envelope.data)
        except ValidationError as exc:
            rejected.append(Rejection(kind, index, number, _summary(exc)))


def _asked_limit(url: httpx.URL, default: int) -> int:
    """The `limit` a page was asked with (a `next` link carries its own)."""
    raw = url.params.get("limit", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def _reset_at(response: httpx.Response, clock: Callable[[], float]) -> float | None:
    """`X-Ratelimit-Reset` (unix seconds), else `Retry-After` seconds from now, else unknown."""
    for header, relative in (("x-ratelimit-reset", False), ("retry-after", True)):
        raw = response.headers.get(header)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        return value + clock() if relative else value
    return None


def _error_message(response: httpx.Response) -> str:
    """Clever's `{"message": ...}` of an error response, or a snippet of a non-JSON body."""
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return snippet(response.text)
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return snippet(payload["message"])
    return ""


def _unparsable(response: httpx.Response, exc: orjson.JSONDecodeError) -> str:
    """What to show of a body that is not JSON: its start, unless it looks like (broken) records."""
    if response.content.lstrip()[:1] in (b"{", b"["):
        return snippet(f"{exc.msg} at char {exc.pos}")
    return snippet(response.text) or "empty body"


def _summary(exc: ValidationError, limit: int = 5) -> str:
    """Where and why validation failed, without the offending values (they may be PII)."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in error['loc']) or '<root>'}: {error['msg']}" for error in errors]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more
