"""What an admin action can refuse with. Each error has a stable `code` (the API's error code);
the API maps the classes to HTTP statuses in one place (functions/api/app.py)."""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """Base of every refusal; `str(error)` is a message safe to show (no token, no roster data)."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticatedError(ApiError):
    """No identity, or claims that do not make one (missing e-mail, unknown role, ...)."""

    code = "unauthenticated"


class NotFoundError(ApiError):
    """Unknown resource, or one of another district (an admin cannot tell the two apart)."""

    code = "not_found"


class BadRequestError(ApiError):
    """Malformed in a way the schema cannot express (a cursor that is not ours, ...)."""

    code = "bad_request"


class ConfirmationRequiredError(BadRequestError):
    """ "Check for new Clever data" without the explicit confirmation."""

    code = "confirmation_required"


class InvalidRequestError(ApiError):
    """Well-formed but not acceptable (settings that contradict each other, a bad cursor, ...)."""

    code = "invalid_request"


class ConflictError(ApiError):
    """The request contradicts the current state (e.g. a school matched already)."""

    code = "conflict"


class GoneError(ApiError):
    """What was asked for existed but is gone for good (a link to a change set no longer pending)."""

    code = "gone"


class ChangeSetNotPendingError(GoneError):
    """A signed CSV link whose change set was released or replaced: it serves nothing any more."""

    code = "change_set_not_pending"


class StaleSyncIdError(ConflictError):
    """Clear holds named change sets that are no longer pending, and released nothing."""

    code = "stale_sync_id"

    def __init__(self, message: str, results: list[dict[str, str | None]]) -> None:
        super().__init__(message)
        self.results = results


class NotLatestError(ConflictError):
    """Undo named a change set that is not the school's most recently applied one."""

    code = "not_latest"


class TooOldError(ConflictError):
    """Undo named a change set applied more than 30 days ago."""

    code = "too_old"
