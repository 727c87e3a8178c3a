"""The page a browser shows for an e-mail link that opens nothing (expired, tampered, or its hold is
over). `GET /v1/links/{token}` stays an API: only a client that prefers HTML (a browser following
the link from its mail) gets this page; JSON and CSV clients keep the `{"error": ...}` answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

LINKS_PREFIX: Final = "/v1/links/"
# The page is served at <dashboard>/v1/links/<token>: the dashboard is two levels up, whatever
# stage prefix or domain the API has.
DASHBOARD_FROM_LINK: Final = "../../"
PAGE_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_API_TYPES: Final = ("application/json", "text/csv")


@dataclass(frozen=True)
class LinkProblem:
    title: str
    explanation: str
    next_step: str


SIGN_IN_INSTEAD: Final = (
    "Open the SIS sync dashboard and sign in: the school's SIS sync report has the current "
    "changes and their CSV."
)
PROBLEMS: Final[dict[str, LinkProblem]] = {
    "link_expired": LinkProblem(
        title="This link has expired",
        explanation="Links in sis-sync e-mails work for 72 hours after the e-mail was sent.",
        next_step=SIGN_IN_INSTEAD,
    ),
    "link_invalid": LinkProblem(
        title="This link is not valid",
        explanation=(
            "The link was changed or cut short, perhaps when it was copied from the e-mail. "
            "Nothing was opened."
        ),
        next_step=SIGN_IN_INSTEAD,
    ),
    "change_set_not_pending": LinkProblem(
        title="This hold is over",
        explanation=(
            "The changes this link was sent for are no longer pending: the hold was cleared, or "
            "newer changes from Clever replaced them."
        ),
        next_step="Open the SIS sync dashboard and sign in to see where the school stands now.",
    ),
    "not_found": LinkProblem(
        title="This link opens nothing any more",
        explanation=(
            "The changes this link was sent for are no longer pending, or the school is no longer "
            "in sis-sync."
        ),
        next_step="Open the SIS sync dashboard and sign in to see where the school stands now.",
    ),
}
FALLBACK: Final = LinkProblem(
    title="This link cannot be opened",
    explanation="Something went wrong opening this link.",
    next_step=SIGN_IN_INSTEAD,
)

_templates = Environment(
    loader=PackageLoader("sis_sync", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
)


def wants_page(path: str, accept: str) -> bool:
    """Whether a refusal of `path` goes to a browser as a page: a link, asked for by a client that
    names text/html and prefers it at least as much as JSON and CSV (so `*/*`, JSON or CSV clients
    keep the JSON error)."""
    if not path.startswith(LINKS_PREFIX):
        return False
    weights = _accepted(accept)
    html = weights.get("text/html", 0.0)
    return html > 0 and all(html >= weights.get(kind, 0.0) for kind in _API_TYPES)


def problem_page(code: str) -> str:
    """The page for a link refused with the API error `code`."""
    problem = PROBLEMS.get(code, FALLBACK)
    return _templates.get_template("link_problem.html").render(
        code=code,
        title=problem.title,
        explanation=problem.explanation,
        next_step=problem.next_step,
        dashboard=DASHBOARD_FROM_LINK,
    )


def _accepted(accept: str) -> dict[str, float]:
    """Media type -> quality from an Accept header (RFC 9110 §12.5.1; parameters other than q ignored)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type:
            weights[media_type.lower()] = max(quality, weights.get(media_type.lower(), 0.0))
    return weights
