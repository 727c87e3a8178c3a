"""What the e-mails to district admins say: each hold reason in the help article's words
(seed/remind-clever-sync-holds.txt) with its counts, a few example names and the article's
remedies, and the disconnection notice. Bodies are Jinja2 templates (HTML autoescaped); the text
part carries the full URL of every link the HTML part has.

Counts are the CSV's: a mail says how many rows the CSV of changes has and how many of them each
reason marks, so "and 216 more" is never read as the rest of a 245-row file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from sis_sync.changes import CHANGE_KINDS
from sis_sync.links import LINK_TTL
from sis_sync.model import District, School
from sis_sync.rules import Hold, HoldReason

MAIL_EXAMPLES: Final = 5  # example names per reason in a mail; the CSV has every row
ERROR_MESSAGE_CHARS: Final = 500


@dataclass(frozen=True)
class ReasonWords:
    """A hold reason as the help article names, explains and remedies it."""

    title: str
    summary: str  # may use {guardians} and {contact_types}, filled from the hold's detail
    remedies: tuple[str, ...]


CHECK_NEW_DATA: Final = (
    "Once you have addressed the issue, click Check for new Clever data, and confirm the action on "
    "the next screen by clicking Yes, Continue."
)

REASON_WORDS: Final[dict[HoldReason, ReasonWords]] = {
    HoldReason.LARGE_REMOVALS: ReasonWords(
        title="Large number of removals",
        summary=(
            "You'll see this hold when Clever syncs are updated during the semester- and year-end "
            "changes, such as the removal of people and classes, as well as changes to source IDs."
        ),
        remedies=(
            "If data removal changes are unexpected, contact your SIS administrator or Clever Support "
            f"to help undo the removals in Clever. {CHECK_NEW_DATA}",
            "If the data removals are expected for specific schools, select the schools and click "
            "Clear holds.",
        ),
    ),
    HoldReason.TOO_MANY_PARENT_CONNECTIONS: ReasonWords(
        title="Too many parent connections",
        summary="Students have {guardians} or more guardians associated with them.",
        remedies=(
            "If the student shouldn't have that many guardians connected to them, remove the "
            "associations in Clever and click Check for new Clever data to sync again.",
            "If you've confirmed all the guardians and their numbers should be linked to the student, "
            "then select the school and Clear holds.",
        ),
    ),
    HoldReason.EMERGENCY_CONTACTS: ReasonWords(
        title="Emergency contacts included",
        summary=(
            "Some people in your data have the {contact_types} contact type in Clever. We don't "
            "recommend creating accounts for emergency or secondary contacts. We also don't recommend "
            "creating an account for people who should not receive messages about students."
        ),
        remedies=(
            "If you need to filter out emergency and secondary contacts from your data, you can "
            "contact your SIS administrator or Clever Support. Once you've removed them from the data "
            "you share, click Check for new Clever data, and then click Yes, Continue on the school's "
            "SIS sync report. The sync is processed immediately.",
            "If these contacts should receive messages, select the school and click Clear holds.",
        ),
    ),
    HoldReason.DISCONNECTED: ReasonWords(
        title="Disconnected",
        summary="Your Clever sync is placed on hold when sis-sync cannot connect with Clever.",
        remedies=(
            "Check your settings in Clever, then click I fixed it on the SIS sync report. sis-sync "
            "will attempt to reconnect with Clever and process the sync immediately.",
        ),
    ),
    HoldReason.UNDONE: ReasonWords(
        title="Sync undone",
        summary="An administrator undid this sync: the roster is back as it was before it.",
        remedies=(
            "Review the changes again. If they are expected, select the school and click Clear holds "
            "to apply them again.",
            f"If they are not, fix the data in Clever. {CHECK_NEW_DATA}",
        ),
    ),
    HoldReason.AFTER_PAUSE: ReasonWords(
        title="First sync after Clever's pause",
        summary=(
            "This is the first sync after Clever paused your district's sync (its summer pause): the "
            "changes made in your SIS during the pause arrive at once, and this one removes more than "
            "your thresholds allow."
        ),
        remedies=(
            "Check that the removals are the expected year-end changes (graduates, students who "
            "moved), then select the school and click Clear holds.",
            f"If they are not, fix the data in Clever. {CHECK_NEW_DATA}",
        ),
    ),
}

FIRST_STEPS: Final = (
    "Click Download CSV of changes.",
    "Review the sync changes to ensure they are expected.",
)

DISCONNECTED_CHECKS: Final = (
    "The sis-sync application is still connected to your district in Clever and its access has "
    "not been revoked.",
    "Your schools are still shared with the application in Clever's sharing settings.",
    "Your district's Clever sync is not paused or failing.",
)

_RECORD_TYPES: Final = {
    "student": ("student", "students"),
    "teacher": ("teacher", "teachers"),
    "staff": ("staff member", "staff members"),
    "contact": ("contact", "contacts"),
    "section": ("section", "sections"),
}
_NUMBER_WORDS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def reason_title(reason: HoldReason | str) -> str:
    words = REASON_WORDS.get(HoldReason(reason))
    return words.title if words else str(reason)


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class ReasonView:
    """One hold reason as a mail shows it."""

    code: str
    title: str
    summary: str
    facts: list[str]
    examples: list[str]
    more_examples: int  # counted in the examples' unit (removed records, students, contacts)
    marked_rows: int | None  # rows of the CSV whose hold_reasons name this reason, when known
    remedies: tuple[str, ...]


@dataclass(frozen=True)
class HoldMailLinks:
    school_url: str
    csv_url: str
    district_url: str
    expires_at: datetime


@dataclass(frozen=True)
class HeldSchool:
    """A school a sync held, as a hold mail needs it: its holds in rule order, and its links (None
    for a school a digest only counts, beyond the ones it lists)."""

    school: School
    holds: Sequence[Hold]
    links: HoldMailLinks | None


_templates = Environment(
    loader=PackageLoader("sis_sync", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(name: str, **context: Any) -> str:
    """A mail body from its template (`hold.txt`, `hold_digest.html`, …)."""
    return _templates.get_template(name).render(**context)


def when(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at:%B} {at.day}, {at:%Y} at {at:%H:%M} UTC"


def one_line(value: str) -> str:
    """A name as a subject may carry it: no line breaks (header injection), no runs of spaces."""
    return " ".join(value.split())


def hold_subject(school_name: str, reasons: Sequence[HoldReason | str]) -> str:
    titles = ", ".join(reason_title(reason) for reason in reasons)
    return f"Sync on hold for {one_line(school_name)}: {titles}"


def render_hold_mail(
    district: District, school: School, sync_id: str, holds: Sequence[Hold], links: HoldMailLinks
) -> Email:
    reasons = [reason_view(hold) for hold in holds]
    context = {
        "district_name": district.name,
        "school_name": school.name,
        "sync_id": sync_id,
        "reasons": reasons,
        "first_steps": FIRST_STEPS,
        "school_url": links.school_url,
        "csv_url": links.csv_url,
        "district_url": links.district_url,
        "expires_at": when(links.expires_at),
        "link_hours": int(LINK_TTL.total_seconds() // 3600),
        "csv_rows": csv_row_count(school, sync_id),
        # Apply safe changes: what of this sync was applied already (the rest is what the mail lists)
        "safe_applied": (
            school.safe_applied.changes
            if school.safe_applied and school.safe_applied.sync_id == sync_id
            else None
        ),
    }
    return Email(
        subject=hold_subject(school.name, [hold.reason for hold in holds]),
        text=render("hold.txt", **context),
        html=render("hold.html", **context),
    )


def csv_row_count(school: School, sync_id: str) -> int | None:
    """The data rows of the sync's CSV of changes (one per change), from the school's change summary
    when that summary is this sync's (evaluation tags it with its sync)."""
    changes = school.changes
    if changes.get("sync_id", sync_id) != sync_id:
        return None
    counts = [changes[kind] for kind in CHANGE_KINDS if kind in changes]
    return sum(counts) if counts else None


def render_disconnected_mail(district: District, district_url: str) -> Email:
    error = district.last_error
    context = {
        "district_name": district.name,
        "error_code": error.code if error else "",
        "error_message": error.message[:ERROR_MESSAGE_CHARS] if error else "",
        "error_at": when(error.at) if error else "",
        "checks": DISCONNECTED_CHECKS,
        "district_url": district_url,
        "remedy": REASON_WORDS[HoldReason.DISCONNECTED],
    }
    return Email(
        subject=f"Clever sync disconnected for {one_line(district.name)}",
        text=render("disconnected.txt", **context),
        html=render("disconnected.html", **context),
    )


def reason_view(hold: Hold) -> ReasonView:
    """The counts, example names and remedies of one hold, from the detail its rule recorded."""
    words = REASON_WORDS[hold.reason]
    detail = hold.detail
    facts: list[str]
    examples: list[str]
    total: int  # how many things the examples are a few of
    marked: int | None  # the CSV rows this reason marks
    summary = words.summary
    if hold.reason is HoldReason.LARGE_REMOVALS:
        facts, examples, total = _removal_facts(detail)
        marked = total if detail.get("types") else None  # one row per removed or re-issued record
    elif hold.reason is HoldReason.TOO_MANY_PARENT_CONNECTIONS:
        guardians = int(detail.get("max_guardians", 6))
        summary = summary.format(guardians=_number_word(guardians))
        facts, examples, total = _guardian_facts(detail, guardians)
        marked = _count(detail, "contacts")  # the rows of the contacts that newly link the students
    elif hold.reason is HoldReason.EMERGENCY_CONTACTS:
        blocked = [str(kind).lower() for kind in detail.get("blocked_contact_types", ())] or ["emergency"]
        summary = summary.format(contact_types=" or ".join(f'"{kind}"' for kind in blocked))
        facts, examples, total = _contact_type_facts(detail)
        marked = _count(detail, "contacts")  # one row per contact, whatever its relationships
    elif hold.reason is HoldReason.AFTER_PAUSE:
        facts, examples, total, marked = [_pause_fact(detail)], [], 0, None  # rows: large_removals'
    else:
        facts, examples, total, marked = [], [], 0, None
    return ReasonView(
        code=hold.reason.value,
        title=words.title,
        summary=summary,
        facts=facts,
        examples=examples,
        more_examples=max(0, total - len(examples)),
        marked_rows=marked,
        remedies=words.remedies,
    )


def _pause_fact(detail: dict[str, Any]) -> str:
    start, end = (detail.get(key) for key in ("pause_start", "pause_end"))
    since = f" from {when(datetime.fromisoformat(start))}" if start else ""
    until = f" until {when(datetime.fromisoformat(end))}" if end else ""
    return f"Clever paused the district's sync{since}{until}."


def _count(detail: dict[str, Any], key: str) -> int | None:
    return int(detail[key]) if key in detail else None


def _removal_facts(detail: dict[str, Any]) -> tuple[list[str], list[str], int]:
    facts: list[str] = []
    total = 0
    for record_type, counts in detail.get("types", {}).items():
        removed = int(counts.get("removed", 0))
        reissued = int(counts.get("source_id_changed", 0))
        previous = int(counts.get("previous", 0))
        gone = removed + reissued
        total += gone
        fact = (
            f"{_RECORD_TYPES.get(record_type, (record_type, record_type))[1].capitalize()}: {removed} removed"
        )
        if reissued:
            fact += f", {reissued} with a changed source ID"
        if previous:
            fact += f" ({gone} of {previous}, {_percent(counts.get('pct'))}%)"
        facts.append(fact)
    thresholds = detail.get("thresholds")
    if thresholds:
        least, share, most = (
            thresholds["removal_min_count"],
            _percent(thresholds["removal_pct"]),
            thresholds["removal_max_count"],
        )
        facts.append(
            f"A school is held when at least {least} records of one type and {share}% of them are "
            f"removed, or {most} whatever the share."
        )
    examples = [
        f"{example['name']} ({_singular(example.get('record_type', ''))}, "
        f"{'source ID changed' if example.get('change') == 'source_id_changed' else 'removed'})"
        for example in _named(detail)
    ]
    return facts, examples, total


def _guardian_facts(detail: dict[str, Any], guardians: int) -> tuple[list[str], list[str], int]:
    students = int(detail.get("students", 0))
    verb = "has" if students == 1 else "have"
    facts = [f"{_plural(students, 'student')} now {verb} {guardians} or more guardians linked."]
    examples = [_guardian_example(example) for example in _named(detail)]
    return facts, examples, students


def _guardian_example(example: dict[str, Any]) -> str:
    """The student, the counts, and each guardian by name (the newly linked ones said so)."""
    text = f"{example['name']}: {example.get('guardians')} guardians (previously {example.get('previously')})"
    contacts = example.get("contacts", ())
    new = [contact["name"] for contact in contacts if contact.get("new")]
    kept = [contact["name"] for contact in contacts if not contact.get("new")]
    if new:
        text += f"; newly linked: {', '.join(new)}"
    if kept:
        text += f"; already linked: {', '.join(kept)}"
    return text


def _contact_type_facts(detail: dict[str, Any]) -> tuple[list[str], list[str], int]:
    relationships = int(detail.get("relationships", 0))
    contacts = int(detail.get("contacts", 0))
    by_type = ", ".join(f"{kind}: {count}" for kind, count in detail.get("by_type", {}).items())
    fact = f"{_plural(relationships, 'new contact relationship')} from {_plural(contacts, 'contact')}"
    facts = [f"{fact} ({by_type})." if by_type else f"{fact}."]
    # one example per contact, as the CSV has one row per contact (its types joined)
    types: dict[str, dict[str, None]] = {}
    names: dict[str, str] = {}
    for example in detail.get("examples", ()):
        if example.get("name"):
            names.setdefault(example["clever_id"], example["name"])
            types.setdefault(example["clever_id"], {})[str(example.get("type", ""))] = None
    examples = [f"{name} ({', '.join(types[clever_id])} contact)" for clever_id, name in names.items()][
        :MAIL_EXAMPLES
    ]
    return facts, examples, contacts


def _named(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The first examples that have a name (only names reach a mail: no ids, no contact details)."""
    return [example for example in detail.get("examples", ()) if example.get("name")][:MAIL_EXAMPLES]


def _plural(count: int, noun: str) -> str:
    singular, plural = _RECORD_TYPES.get(noun, (noun, f"{noun}s"))
    return f"{count} {singular if count == 1 else plural}"


def _singular(record_type: str) -> str:
    return _RECORD_TYPES.get(record_type, (record_type, record_type))[0]


def _percent(value: Any) -> str:
    return f"{float(value):g}" if value is not None else "?"


def _number_word(number: int) -> str:
    return _NUMBER_WORDS[number] if 0 <= number < len(_NUMBER_WORDS) else str(number)
