"""The dashboard's static files (written by the dashboard's own engineer) at `/` and `/static/...`."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api.errors import NotFoundError
from sis_sync.api.sign_in import dashboard_policy
from sis_sync.config import environment

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX: Final = "/static/"
TEXT_TYPES: Final = frozenset({"application/javascript", "application/json", "image/svg+xml"})

# The page's policy (sign_in.dashboard_policy) lets it post only to its own origin and the token endpoint.
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = Router()


def static_file(relative: str, root: Path = STATIC_DIR) -> tuple[bytes, str]:
    """The file's bytes and content type; anything outside `root` (or missing) is not found."""
    base = root.resolve()
    try:
        target = (base / relative).resolve()
        if not relative or not target.is_relative_to(base) or not target.is_file():
            raise NotFoundError("no such file")
        body = target.read_bytes()
    except (ValueError, OSError) as error:  # a NUL byte, a name too long, unreadable: not a file of ours
        raise NotFoundError("no such file") from error
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in TEXT_TYPES:
        content_type += "; charset=utf-8"
    return body, content_type


def _file_response(relative: str) -> Response:
    body, content_type = static_file(relative)
    return Response(
        status_code=200,
        content_type=content_type,
        body=body,
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": dashboard_policy(environment())}
        | SECURITY_HEADERS,
    )


# The routes below have no return annotation on purpose: with one, the resolver's validation would
# re-serialise the body (bytes included) as JSON.


@router.get("/", include_in_schema=False)
def index():  # type: ignore[no-untyped-def]
    return _file_response("index.html")


@router.get("/static/.+", include_in_schema=False)
def static():  # type: ignore[no-untyped-def]
    return _file_response(router.current_event.path.removeprefix(STATIC_PREFIX))
