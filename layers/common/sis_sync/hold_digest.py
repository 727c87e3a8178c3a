"""What the one e-mail about every school a sync put on hold says (a digest), when it held more
than one: one mail per sync, however many schools, instead of one per school.

Readable at any size and far below SES's 10 MB: the schools with the most held changes come first,
the first `DIGEST_DETAILED` in full (each reason's counts and examples, as a one-school mail shows
them), the next up to `DIGEST_LISTED` in a compact table (reasons, CSV rows, what was applied
already, the report and CSV links), and any further ones by name only, with the dashboard's link
that opens the district's school list filtered to the schools on hold. Each reason's explanation and
remedies are given once, not once per school. A sync that held one school sends the one-school
mail (`mail_content.render_hold_mail`) unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sis_sync.links import LINK_TTL
from sis_sync.mail_content import (
    Email,
    HeldSchool,
    ReasonView,
    csv_row_count,
    one_line,
    reason_view,
    render,
    when,
)
from sis_sync.model import District
from sis_sync.rules import HoldReason

DIGEST_DETAILED: Final = 5  # schools shown in full
# Schools with links in the mail (detailed + table); the rest are named only, and the dashboard has
# them. Gmail clips a message whose HTML passes 102 KB: with signed CSV links (~330 characters
# each) about 150 rows fit, so 120 keeps the whole digest readable where most districts read mail.
DIGEST_LISTED: Final = 120
_RULE_ORDER: Final = list(HoldReason)


@dataclass(frozen=True)
class DigestSchool:
    """One held school as the digest shows it."""

    name: str
    reason_titles: list[str]
    reasons: list[ReasonView]
    csv_rows: int | None
    held_rows: int  # rows the hold reasons mark (the sort key: the most held first)
    safe_applied: dict[str, Any] | None
    school_url: str
    csv_url: str


@dataclass(frozen=True)
class ReasonGroup:
    """A hold reason, explained once, and the schools of the table whose first reason it is."""

    code: str
    title: str
    summary: str
    remedies: tuple[str, ...]
    school_count: int  # every held school with this reason, whatever its other reasons
    listed: list[DigestSchool]


@dataclass(frozen=True)
class DigestLinks:
    district_url: str
    on_hold_url: str  # the district's school list filtered to the schools on hold
    expires_at: datetime


def render_hold_digest(
    district: District, sync_id: str, held: Sequence[HeldSchool], links: DigestLinks
) -> Email:
    """The digest of `held` (two schools or more; the first `DIGEST_LISTED` of `ordered(held)`
    with their links)."""
    schools = [_digest_school(entry, sync_id) for entry in ordered(held)]
    detailed, table, unlisted = (
        schools[:DIGEST_DETAILED],
        schools[DIGEST_DETAILED:DIGEST_LISTED],
        schools[DIGEST_LISTED:],
    )
    groups = _groups(held, table)
    safe = [school.safe_applied for school in schools if school.safe_applied]
    context = {
        "district_name": district.name,
        "sync_id": sync_id,
        "school_count": len(schools),
        "groups": groups,
        "detailed": detailed,
        "table_count": len(table),
        "unlisted": [school.name for school in unlisted],
        "safe_schools": len(safe),
        "safe_added": sum(int(changes.get("added", 0)) for changes in safe),
        "safe_updated": sum(int(changes.get("updated", 0)) for changes in safe),
        "district_url": links.district_url,
        "on_hold_url": links.on_hold_url,
        "expires_at": when(links.expires_at),
        "link_hours": int(LINK_TTL.total_seconds() // 3600),
    }
    titles = ", ".join(group.title for group in groups)
    return Email(
        subject=f"Sync on hold for {len(schools)} schools of {one_line(district.name)}: {titles}",
        text=render("hold_digest.txt", **context),
        html=render("hold_digest.html", **context),
    )


def ordered(held: Sequence[HeldSchool]) -> list[HeldSchool]:
    """The most important first: by the first hold reason in rule order (removals before guardians
    before contact types), then the most held rows, then the name."""
    return sorted(
        held,
        key=lambda entry: (
            min(_RULE_ORDER.index(hold.reason) for hold in entry.holds),
            -_held_rows([reason_view(hold) for hold in entry.holds]),
            entry.school.name.casefold(),
            entry.school.school_id,
        ),
    )


def _held_rows(reasons: Sequence[ReasonView]) -> int:
    return sum(reason.marked_rows or 0 for reason in reasons)


def _digest_school(entry: HeldSchool, sync_id: str) -> DigestSchool:
    school = entry.school
    reasons = [reason_view(hold) for hold in entry.holds]
    safe = school.safe_applied
    return DigestSchool(
        name=school.name,
        reason_titles=[reason.title for reason in reasons],
        reasons=reasons,
        csv_rows=csv_row_count(school, sync_id),
        held_rows=_held_rows(reasons),
        safe_applied=safe.changes if safe and safe.sync_id == sync_id else None,
        school_url=entry.links.school_url if entry.links else "",
        csv_url=entry.links.csv_url if entry.links else "",
    )


def _groups(held: Sequence[HeldSchool], table: Sequence[DigestSchool]) -> list[ReasonGroup]:
    """Every reason of the sync in rule order, explained once, with the table's schools whose
    first reason it is (the table is in that order already)."""
    views: dict[HoldReason, ReasonView] = {}
    counts: dict[HoldReason, int] = {}
    for entry in held:
        for hold in entry.holds:
            views.setdefault(hold.reason, reason_view(hold))
            counts[hold.reason] = counts.get(hold.reason, 0) + 1
    return [
        ReasonGroup(
            code=reason.value,
            title=view.title,
            summary=view.summary,
            remedies=view.remedies,
            school_count=counts[reason],
            listed=[school for school in table if school.reason_titles[0] == view.title],
        )
        for reason, view in sorted(views.items(), key=lambda pair: _RULE_ORDER.index(pair[0]))
    ]
