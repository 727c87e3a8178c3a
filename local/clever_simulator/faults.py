"""Fault modes, switchable at run time from Python or through ``POST /__sim/faults``."""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultName = Literal[
    "revoked_token",
    "page_failures",
    "slow",
    "html_error",
    "malformed_json",
    "transient_errors",
    "rate_limit",
    "drip",
    "truncated",
    "endless",
    "rate_limit_storm",
    "html_ok",
    "duplicate_ids",
    "dangling_references",
    "revoked_from_page",
]


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RevokedToken(_Fault):
    token: str | None = None
    """The revoked token; None revokes every token (the district disconnected the app)."""


class PageFailure(_Fault):
    """A listing that fails from page ``from_page`` onward, every time it is asked."""

    path: str
    from_page: int = Field(ge=1)
    role: str | None = None
    status: int = Field(default=502, ge=500, le=599)
    html: bool = True


class SlowResponses(_Fault):
    seconds: float = Field(gt=0)
    path: str | None = None


class HtmlError(_Fault):
    status: Literal[500, 503] = 500
    path: str | None = None


class MalformedJson(_Fault):
    path: str | None = None


class TransientErrors(_Fault):
    count: int = Field(ge=1)
    status: int = Field(default=503, ge=500, le=599)
    path: str | None = None
    html: bool = True


class SlowDrip(_Fault):
    """A 200 body sent `chunk_bytes` at a time with `seconds` between chunks: every read is quick,
    the whole response is not (httpx's per-read timeout never fires)."""

    seconds: float = Field(gt=0)
    chunk_bytes: int = Field(default=64, ge=1)
    path: str | None = None


class TruncatedListing(_Fault):
    """Page ``at_page`` of a listing comes without its ``next`` link (a full page that looks last)."""

    path: str
    at_page: int = Field(default=1, ge=1)
    role: str | None = None


class EndlessListing(_Fault):
    """A listing that never ends: its last page links to a "next" page (the same records again)
    under a new, distinct URL every time."""

    path: str
    role: str | None = None
    token: str | None = None
    """Only this district token's listing never ends (None: every token's)."""


class RateLimitStorm(_Fault):
    """The next ``count`` Data API requests answer 429 without any ``X-Ratelimit-*`` header, with
    ``Retry-After`` when ``retry_after`` is set (the only hint the client gets) and none otherwise."""

    count: int = Field(ge=1)
    retry_after: int | None = Field(default=None, ge=0)


class HtmlOk(_Fault):
    """A 200 whose body is an HTML page (a captive portal or a misrouted proxy)."""

    path: str | None = None


class DuplicateIds(_Fault):
    """Every page of a listing repeats its first record at its end (the same id twice)."""

    path: str
    role: str | None = None


class DanglingReferences(_Fault):
    """Every section of a sections listing also names a student and a teacher Clever never lists."""

    path: str = "/v3.0/sections"


class RevokedFromPage(_Fault):
    """The token is revoked while a listing is read: page ``from_page`` onward answers 401."""

    path: str
    from_page: int = Field(ge=2)
    role: str | None = None


class FaultSettings(_Fault):
    """Everything ``POST /__sim/faults`` may set in its ``set`` object."""

    revoked_token: RevokedToken | None = None
    page_failures: list[PageFailure] | None = None
    slow: SlowResponses | None = None
    html_error: HtmlError | None = None
    malformed_json: MalformedJson | None = None
    transient_errors: TransientErrors | None = None
    rate_limit: int | None = Field(default=None, ge=1)
    drip: SlowDrip | None = None
    truncated: TruncatedListing | None = None
    endless: EndlessListing | None = None
    rate_limit_storm: RateLimitStorm | None = None
    html_ok: HtmlOk | None = None
    duplicate_ids: DuplicateIds | None = None
    dangling_references: DanglingReferences | None = None
    revoked_from_page: RevokedFromPage | None = None


class FaultRequest(_Fault):
    """Body of ``POST /__sim/faults``: clears first, then sets."""

    set: FaultSettings = FaultSettings()
    clear: list[FaultName] | Literal["all"] = []


def _matches(scope: str | None, path: str) -> bool:
    return scope is None or path == scope or path.startswith(scope.rstrip("/") + "/")


class Faults:
    """The active faults; every method is safe to call while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoked: RevokedToken | None = None
        self._page_failures: list[PageFailure] = []
        self._slow: SlowResponses | None = None
        self._html_error: HtmlError | None = None
        self._malformed: MalformedJson | None = None
        self._transient: TransientErrors | None = None
        self._transient_left = 0
        self.rate_limit_per_minute: int | None = None
        self._drip: SlowDrip | None = None
        self._truncated: TruncatedListing | None = None
        self._endless: EndlessListing | None = None
        self._storm: RateLimitStorm | None = None
        self._storm_left = 0
        self._html_ok: HtmlOk | None = None
        self._duplicates: DuplicateIds | None = None
        self._dangling: DanglingReferences | None = None
        self._revoked_from: RevokedFromPage | None = None

    # -- switching on --

    def revoke_token(self, token: str | None = None) -> None:
        """Revokes one token, or every token when None (Clever answers 401 invalid_token)."""
        self._revoked = RevokedToken(token=token)

    def fail_pages(
        self, path: str, from_page: int, *, role: str | None = None, status: int = 502, html: bool = True
    ) -> None:
        """Listing ``path`` (with ``role``) fails from page ``from_page`` onward, by default with HTML."""
        failure = PageFailure(path=path, from_page=from_page, role=role, status=status, html=html)
        with self._lock:
            self._page_failures.append(failure)

    def slow(self, seconds: float, path: str | None = None) -> None:
        self._slow = SlowResponses(seconds=seconds, path=path)

    def html_error(self, status: Literal[500, 503] = 500, path: str | None = None) -> None:
        self._html_error = HtmlError(status=status, path=path)

    def malformed_json(self, path: str | None = None) -> None:
        """Answers 200 with a body that is not valid JSON."""
        self._malformed = MalformedJson(path=path)

    def transient_errors(
        self, count: int, *, status: int = 503, path: str | None = None, html: bool = True
    ) -> None:
        """The next ``count`` matching requests fail with ``status``; later ones succeed."""
        with self._lock:
            self._transient = TransientErrors(count=count, status=status, path=path, html=html)
            self._transient_left = count

    def drip(self, seconds: float, *, chunk_bytes: int = 64, path: str | None = None) -> None:
        self._drip = SlowDrip(seconds=seconds, chunk_bytes=chunk_bytes, path=path)

    def truncate(self, path: str, at_page: int = 1, *, role: str | None = None) -> None:
        """Page ``at_page`` of ``path`` (with ``role``) loses its next link."""
        self._truncated = TruncatedListing(path=path, at_page=at_page, role=role)

    def endless(self, path: str, *, role: str | None = None, token: str | None = None) -> None:
        self._endless = EndlessListing(path=path, role=role, token=token)

    def rate_limit_storm(self, count: int, *, retry_after: int | None = None) -> None:
        with self._lock:
            self._storm, self._storm_left = RateLimitStorm(count=count, retry_after=retry_after), count

    def html_ok(self, path: str | None = None) -> None:
        self._html_ok = HtmlOk(path=path)

    def duplicate_ids(self, path: str, *, role: str | None = None) -> None:
        self._duplicates = DuplicateIds(path=path, role=role)

    def dangling_references(self, path: str = "/v3.0/sections") -> None:
        self._dangling = DanglingReferences(path=path)

    def revoke_from_page(self, path: str, from_page: int, *, role: str | None = None) -> None:
        self._revoked_from = RevokedFromPage(path=path, from_page=from_page, role=role)

    def rate_limit(self, per_minute: int | None) -> None:
        """Enforces a per-token, per-minute limit with real 429s (None: headers only, never 429)."""
        self.rate_limit_per_minute = per_minute

    def clear(self, name: FaultName | None = None) -> None:
        """Clears one fault, or all of them when ``name`` is None."""
        with self._lock:
            if name in (None, "revoked_token"):
                self._revoked = None
            if name in (None, "page_failures"):
                self._page_failures = []
            if name in (None, "slow"):
                self._slow = None
            if name in (None, "html_error"):
                self._html_error = None
            if name in (None, "malformed_json"):
                self._malformed = None
            if name in (None, "transient_errors"):
                self._transient, self._transient_left = None, 0
            if name in (None, "rate_limit"):
                self.rate_limit_per_minute = None
            if name in (None, "drip"):
                self._drip = None
            if name in (None, "truncated"):
                self._truncated = None
            if name in (None, "endless"):
                self._endless = None
            if name in (None, "rate_limit_storm"):
                self._storm, self._storm_left = None, 0
            if name in (None, "html_ok"):
                self._html_ok = None
            if name in (None, "duplicate_ids"):
                self._duplicates = None
            if name in (None, "dangling_references"):
                self._dangling = None
            if name in (None, "revoked_from_page"):
                self._revoked_from = None

    def apply(self, request: FaultRequest) -> None:
        """Applies a control-endpoint request."""
        for name in [None] if request.clear == "all" else request.clear:
            self.clear(name)
        settings = request.set
        if settings.revoked_token is not None:
            self._revoked = settings.revoked_token
        for failure in settings.page_failures or []:
            with self._lock:
                self._page_failures.append(failure)
        if settings.slow is not None:
            self._slow = settings.slow
        if settings.html_error is not None:
            self._html_error = settings.html_error
        if settings.malformed_json is not None:
            self._malformed = settings.malformed_json
        if settings.transient_errors is not None:
            fault = settings.transient_errors
            self.transient_errors(fault.count, status=fault.status, path=fault.path, html=fault.html)
        if settings.rate_limit is not None:
            self.rate_limit_per_minute = settings.rate_limit
        if settings.drip is not None:
            self._drip = settings.drip
        if settings.truncated is not None:
            self._truncated = settings.truncated
        if settings.endless is not None:
            self._endless = settings.endless
        if settings.rate_limit_storm is not None:
            storm = settings.rate_limit_storm
            self.rate_limit_storm(storm.count, retry_after=storm.retry_after)
        if settings.html_ok is not None:
            self._html_ok = settings.html_ok
        if settings.duplicate_ids is not None:
            self._duplicates = settings.duplicate_ids
        if settings.dangling_references is not None:
            self._dangling = settings.dangling_references
        if settings.revoked_from_page is not None:
            self._revoked_from = settings.revoked_from_page

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "revoked_token": self._revoked.model_dump() if self._revoked else None,
                "page_failures": [failure.model_dump() for failure in self._page_failures],
                "slow": self._slow.model_dump() if self._slow else None,
                "html_error": self._html_error.model_dump() if self._html_error else None,
                "malformed_json": self._malformed.model_dump() if self._malformed else None,
                "transient_errors": (
                    {**self._transient.model_dump(), "remaining": self._transient_left}
                    if self._transient
                    else None
                ),
                "rate_limit": self.rate_limit_per_minute,
                "drip": self._drip.model_dump() if self._drip else None,
                "truncated": self._truncated.model_dump() if self._truncated else None,
                "endless": self._endless.model_dump() if self._endless else None,
                "rate_limit_storm": (
                    {**self._storm.model_dump(), "remaining": self._storm_left} if self._storm else None
                ),
                "html_ok": self._html_ok.model_dump() if self._html_ok else None,
                "duplicate_ids": self._duplicates.model_dump() if self._duplicates else None,
                "dangling_references": self._dangling.model_dump() if self._dangling else None,
                "revoked_from_page": self._revoked_from.model_dump() if self._revoked_from else None,
            }

    # -- decisions taken per request --

    def is_revoked(self, token: str) -> bool:
        revoked = self._revoked
        return revoked is not None and revoked.token in (None, token)

    def delay(self, path: str) -> float:
        slow = self._slow
        return slow.seconds if slow is not None and _matches(slow.path, path) else 0.0

    def take_transient(self, path: str) -> TransientErrors | None:
        """The transient fault if this request is one of the failing ones (and counts it)."""
        with self._lock:
            fault = self._transient
            if fault is None or self._transient_left <= 0 or not _matches(fault.path, path):
                return None
            self._transient_left -= 1
            return fault

    def html_error_status(self, path: str) -> int | None:
        fault = self._html_error
        return fault.status if fault is not None and _matches(fault.path, path) else None

    def page_failure(self, path: str, role: str | None, page: int | None) -> PageFailure | None:
        if page is None:
            return None
        with self._lock:
            for failure in self._page_failures:
                if failure.path == path and failure.role == role and page >= failure.from_page:
                    return failure
        return None

    def dripping(self, path: str) -> SlowDrip | None:
        drip = self._drip
        return drip if drip is not None and _matches(drip.path, path) else None

    def cuts_next_link(self, path: str, role: str | None, page: int | None) -> bool:
        cut = self._truncated
        return cut is not None and (cut.path, cut.role, cut.at_page) == (path, role, page)

    def never_ends(self, path: str, role: str | None, token: str | None) -> bool:
        endless = self._endless
        return (
            endless is not None
            and (endless.path, endless.role) == (path, role)
            and endless.token in (None, token)
        )

    def malformed(self, path: str) -> bool:
        fault = self._malformed
        return fault is not None and _matches(fault.path, path)

    def take_storm(self) -> RateLimitStorm | None:
        """The storm if this request is one of its 429s (and counts it)."""
        with self._lock:
            if self._storm is None or self._storm_left <= 0:
                return None
            self._storm_left -= 1
            return self._storm

    def html_with_200(self, path: str) -> bool:
        fault = self._html_ok
        return fault is not None and _matches(fault.path, path)

    def repeats_ids(self, path: str, role: str | None) -> bool:
        fault = self._duplicates
        return fault is not None and (fault.path, fault.role) == (path, role)

    def dangles(self, path: str) -> bool:
        fault = self._dangling
        return fault is not None and fault.path == path

    def revoked_at(self, path: str, role: str | None, page: int | None) -> bool:
        fault = self._revoked_from
        return (
            fault is not None
            and page is not None
            and (fault.path, fault.role) == (path, role)
            and page >= fault.from_page
        )
