"""What can go wrong talking to Clever, as a small closed set a sync run can record.

Every error carries the HTTP `status` (None when no response arrived), a short `detail` and a
stable `code`. None of them ever holds the bearer token or a roster record.
"""

from __future__ import annotations

import re
from typing import ClassVar

SNIPPET_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first `limit` characters of `text` with all whitespace collapsed to single spaces."""
    return _WHITESPACE.sub(" ", text).strip()[:limit]


class CleverError(Exception):
    """Base of every Clever failure; `code` is what a sync run records."""

    code: ClassVar[str] = "clever"

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status

    @property
    def message(self) -> str:
        """What an admin reads (the dashboard, the e-mail): the detail and the status, without the
        `code`, which is recorded beside it (else it would show twice: "auth: auth: ...")."""
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.detail}{where}"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r}, status={self.status!r})"


class CleverAuthError(CleverError):
    """401/403: the token is revoked or lacks scope. Never retried; the district is disconnected."""

    code: ClassVar[str] = "auth"


class CleverUnavailable(CleverError):  # noqa: N818 - the name is the contract
    """429, 5xx, timeouts or connection errors that outlasted every retry."""

    code: ClassVar[str] = "unavailable"


class CleverRequestError(CleverError):
    """Any other 4xx (404, 413, ...): our request is wrong, retrying will not help."""

    code: ClassVar[str] = "request"


class CleverBadResponse(CleverError):  # noqa: N818 - the name is the contract
    """A body that is HTML, not JSON, or not Clever's list envelope.

    `snippet` holds the first ~200 characters (whitespace collapsed) of a body that is not JSON
    (an HTML error page, say). For a JSON-looking body it holds only the parse or shape error, never
    the body itself, because a Clever body is made of student and contact records.
    """

    code: ClassVar[str] = "bad_response"

    def __init__(self, detail: str, *, status: int | None = None, snippet: str = "") -> None:
        super().__init__(detail, status=status)
        self.snippet = snippet

    @property
    def message(self) -> str:
        base = super().message
        return f"{base}: {self.snippet}" if self.snippet else base

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(detail={self.detail!r}, status={self.status!r}, snippet={self.snippet!r})"
        )


class CleverPagingLoop(CleverBadResponse):
    """Clever handed back a `next` link already followed: the listing would never end."""


class CleverTruncated(CleverBadResponse):
    """A full page (as many records as asked for) without a `next` link: the listing was cut short,
    and what is missing would read as removals."""

    code: ClassVar[str] = "truncated"


class CleverLimitExceeded(CleverError):  # noqa: N818 - the name is the contract
    """More pages or records than a poll of this district can sanely have (an endless run of
    `next` links, or a listing far larger than the district's last one)."""

    code: ClassVar[str] = "limit_exceeded"


class CleverDeadlineExceeded(CleverError):  # noqa: N818 - the name is the contract
    """The poll ran out of its time before every listing was complete."""

    code: ClassVar[str] = "deadline_exceeded"
