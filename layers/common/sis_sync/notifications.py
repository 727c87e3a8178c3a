"""The e-mails to district admins: a school went on hold, or the district's Clever connection failed.

Each hold reason is explained in the help article's words (seed/remind-clever-sync-holds.txt) with
its counts, a few example names and the article's remedies, and the mail links to the school's page
and to a signed, 72-hour, read-only download of the changes CSV. Bodies are Jinja2 templates (HTML
autoescaped); mail goes out through SES v2.

Exactly one mail per (school, sync, reason set) and per (district, disconnecting sync), whatever
Lambda or Step Functions retry: `idempotent_delivery` wraps `deliver` in Powertools idempotency keyed
on the notice, and a sent hold mail is recorded on the school (`notified_reasons`), which is what
evaluation compares a later sync's reasons with. Logs carry ids, reasons and a recipient count:
never an address or a body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from sis_sync.evaluation import EvaluationResult
from sis_sync.links import (
    LINK_TTL,
    district_page_url,
    link_url,
    school_page_url,
    sign_link,
)
from sis_sync.model import Connection, Decision, District, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.rules import Hold, HoldReason
from sis_sync.store.state_table import StateTable, district_pk

MAIL_EXAMPLES: Final = 5  # example names per reason in a mail; the CSV has every row
IDEMPOTENCY_TTL_SECONDS: Final = 7 * 24 * 3600
ERROR_MESSAGE_CHARS: Final = 500

# ---------------------------------------------------------------------------------- the words


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


# ---------------------------------------------------------------------------------- notices


class HoldNotice(BaseModel):
    """Mail the admins: `school_id` went on hold in `sync_id` for `reasons` (or they grew)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["hold"] = "hold"
    district_id: str
    school_id: str
    sync_id: str
    reasons: tuple[HoldReason, ...] = Field(min_length=1)

    @field_validator("reasons")
    @classmethod
    def _sorted_unique(cls, reasons: tuple[HoldReason, ...]) -> tuple[HoldReason, ...]:
        return tuple(sorted(set(reasons)))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def idempotency_key(self) -> str:
        return "#".join(("hold", self.district_id, self.school_id, self.sync_id, ",".join(self.reasons)))


class DisconnectNotice(BaseModel):
    """Mail the admins: the district's Clever connection failed in `sync_id` (sent once per sync)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["disconnected"]
    district_id: str
    sync_id: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def idempotency_key(self) -> str:
        return "#".join(("disconnected", self.district_id, self.sync_id))


Notice = HoldNotice | DisconnectNotice


def notice_for(event: dict[str, Any]) -> Notice | None:
    """The notice a notify event asks for: `{"kind": "disconnected", ...}` from the poller, or the
    evaluate task's EvaluationResult (a hold), which asks for a mail only when `notify` is true."""
    if event.get("kind", "hold") == "disconnected":
        return DisconnectNotice.model_validate(event)
    result = EvaluationResult.model_validate(event)
    if not result.notify or result.decision is not Decision.HOLD or result.superseded:
        return None
    return HoldNotice.model_validate(
        result.model_dump(include={"district_id", "school_id", "sync_id", "reasons"})
    )


# ---------------------------------------------------------------------------------- rendering


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
    more_examples: int
    remedies: tuple[str, ...]


@dataclass(frozen=True)
class HoldMailLinks:
    school_url: str
    csv_url: str
    expires_at: datetime


_templates = Environment(
    loader=PackageLoader("sis_sync", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _render(name: str, **context: Any) -> str:
    return _templates.get_template(name).render(**context)


def _when(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at:%B} {at.day}, {at:%Y} at {at:%H:%M} UTC"


def _one_line(value: str) -> str:
    """A name as a subject may carry it: no line breaks (header injection), no runs of spaces."""
    return " ".join(value.split())


def hold_subject(school_name: str, reasons: Sequence[HoldReason | str]) -> str:
    titles = ", ".join(reason_title(reason) for reason in reasons)
    return f"Sync on hold for {_one_line(school_name)}: {titles}"


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
        "expires_at": _when(links.expires_at),
        "link_hours": int(LINK_TTL.total_seconds() // 3600),
    }
    return Email(
        subject=hold_subject(school.name, [hold.reason for hold in holds]),
        text=_render("hold.txt", **context),
        html=_render("hold.html", **context),
    )


def render_disconnected_mail(district: District, district_url: str) -> Email:
    error = district.last_error
    context = {
        "district_name": district.name,
        "error_code": error.code if error else "",
        "error_message": error.message[:ERROR_MESSAGE_CHARS] if error else "",
        "error_at": _when(error.at) if error else "",
        "checks": DISCONNECTED_CHECKS,
        "district_url": district_url,
        "remedy": REASON_WORDS[HoldReason.DISCONNECTED],
    }
    return Email(
        subject=f"Clever sync disconnected for {_one_line(district.name)}",
        text=_render("disconnected.txt", **context),
        html=_render("disconnected.html", **context),
    )


def reason_view(hold: Hold) -> ReasonView:
    """The counts, example names and remedies of one hold, from the detail its rule recorded."""
    words = REASON_WORDS[hold.reason]
    detail = hold.detail
    facts: list[str]
    examples: list[str]
    total: int
    summary = words.summary
    if hold.reason is HoldReason.LARGE_REMOVALS:
        facts, examples, total = _removal_facts(detail)
    elif hold.reason is HoldReason.TOO_MANY_PARENT_CONNECTIONS:
        guardians = int(detail.get("max_guardians", 6))
        summary = summary.format(guardians=_number_word(guardians))
        facts, examples, total = _guardian_facts(detail, guardians)
    elif hold.reason is HoldReason.EMERGENCY_CONTACTS:
        blocked = [str(kind).lower() for kind in detail.get("blocked_contact_types", ())] or ["emergency"]
        summary = summary.format(contact_types=" or ".join(f'"{kind}"' for kind in blocked))
        facts, examples, total = _contact_type_facts(detail)
    else:
        facts, examples, total = [], [], 0
    return ReasonView(
        code=hold.reason.value,
        title=words.title,
        summary=summary,
        facts=facts,
        examples=examples,
        more_examples=max(0, total - len(examples)),
        remedies=words.remedies,
    )


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
    examples = [
        f"{example['name']}: {example.get('guardians')} guardians (previously {example.get('previously')})"
        for example in _named(detail)
    ]
    return facts, examples, students


def _contact_type_facts(detail: dict[str, Any]) -> tuple[list[str], list[str], int]:
    relationships = int(detail.get("relationships", 0))
    contacts = int(detail.get("contacts", 0))
    by_type = ", ".join(f"{kind}: {count}" for kind, count in detail.get("by_type", {}).items())
    fact = f"{_plural(relationships, 'new contact relationship')} from {_plural(contacts, 'contact')}"
    facts = [f"{fact} ({by_type})." if by_type else f"{fact}."]
    examples = [f"{example['name']} ({example.get('type', '')} contact)" for example in _named(detail)]
    return facts, examples, relationships


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


# ---------------------------------------------------------------------------------- access


class Mailer(Protocol):
    def send(self, to: Sequence[str], email: Email) -> str:
        """Send `email` to `to`; the provider's message id."""
        ...


class SesMailer:
    """Mail through SES v2 from the verified sender identity."""

    def __init__(self, sesv2: Any, sender: str) -> None:
        """`sesv2` is a boto3 "sesv2" client; `sender` the SES-verified SENDER_EMAIL."""
        self._ses = sesv2
        self._sender = sender

    def send(self, to: Sequence[str], email: Email) -> str:
        if not self._sender:
            raise ValueError("SENDER_EMAIL is not set")
        response = self._ses.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": list(to)},
            Content={
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                }
            },
        )
        message_id: str = response["MessageId"]
        return message_id


class NotifiedReasons:
    """Records on a school item which hold reasons were mailed: one targeted, conditional update of
    `notified_reasons` (nothing else of the item is written), only while the school is still on
    hold for the same sync."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        """`dynamodb` is a boto3 DynamoDB client; `table_name` the state table."""
        self._dynamodb = dynamodb
        self._table_name = table_name

    def record(self, school: School, sync_id: str, reasons: Iterable[str]) -> bool:
        """False when the school has moved on (another sync, or released) and nothing was written."""
        notified = sorted(set(school.notified_reasons) | {str(reason) for reason in reasons})
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={
                    "pk": {"S": district_pk(school.district_id)},
                    "sk": {"S": f"SCHOOL#{school.school_id}"},
                },
                # the version bump makes an evaluation that read the school before this re-read it
                UpdateExpression="SET #notified = :notified ADD version :one",
                ConditionExpression="#pending.#sync_id = :sync_id AND #status = :on_hold",
                ExpressionAttributeNames={
                    "#notified": "notified_reasons",
                    "#pending": "pending",
                    "#sync_id": "sync_id",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":notified": {"L": [{"S": reason} for reason in notified]},
                    ":sync_id": {"S": sync_id},
                    ":on_hold": {"S": SchoolStatus.ON_HOLD.value},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


# ---------------------------------------------------------------------------------- sending


class NotificationTargetMissingError(LookupError):
    """The district or school a notice names does not exist."""


class NotificationConfigError(ValueError):
    """The function's environment cannot make a mail (no absolute DASHBOARD_URL for its links)."""


@dataclass(frozen=True)
class Notifier:
    state: StateTable
    notified: NotifiedReasons
    mailer: Mailer
    link_key: Callable[[], bytes]
    dashboard_url: str
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Delivery:
    sent: bool
    message_id: str | None = None
    skipped: str = ""  # why nothing was sent
    recipients: int = 0

    def result(self) -> dict[str, Any]:
        """What the notify function returns (and the idempotency record keeps)."""
        return {"sent": self.sent, "message_id": self.message_id}


def deliver(notifier: Notifier, notice: Notice) -> Delivery:
    """Send the mail a notice asks for, unless it no longer applies (see the two senders)."""
    if isinstance(notice, DisconnectNotice):
        return send_disconnected_mail(notifier, notice)
    return send_hold_mail(notifier, notice)


def send_hold_mail(notifier: Notifier, notice: HoldNotice) -> Delivery:
    """Mail the district admins about a held school, then record its reasons as notified.

    Nothing is sent when the school has moved on (released, or a newer sync is pending: that sync
    mails for itself if its reasons grew) or when these reasons were mailed already.
    """
    district = notifier.state.get_district(notice.district_id)
    school = notifier.state.get_school(notice.district_id, notice.school_id)
    if district is None or school is None:
        raise NotificationTargetMissingError(f"{notice.district_id}/{notice.school_id}")
    context: dict[str, Any] = {
        "district_id": notice.district_id,
        "school_id": notice.school_id,
        "sync_id": notice.sync_id,
        "reasons": list(notice.reasons),
    }
    if school.pending_sync_id != notice.sync_id:
        return _skipped("stale", **context)  # released, or a newer sync is pending
    if set(notice.reasons) <= set(school.notified_reasons):
        return _skipped("already_notified", **context)
    if not district.admin_emails:
        # nobody to tell: recorded as told, so later polls do not evaluate the hold again for it
        notifier.notified.record(school, notice.sync_id, notice.reasons)
        return _skipped("no_recipients", **context)
    _require_dashboard(notifier)

    held = {hold.reason: hold for hold in school.holds}
    in_rule_order = sorted(notice.reasons, key=list(HoldReason).index)
    holds = [held.get(reason, Hold(reason=reason, detail={})) for reason in in_rule_order]
    now = notifier.now()
    token = sign_link(
        notifier.link_key(),
        district_id=notice.district_id,
        school_id=notice.school_id,
        sync_id=notice.sync_id,
        purpose="changes_csv",
        now=now,
    )
    links = HoldMailLinks(
        school_url=school_page_url(notifier.dashboard_url, notice.district_id, notice.school_id),
        csv_url=link_url(notifier.dashboard_url, token),
        expires_at=now + LINK_TTL,
    )
    email = render_hold_mail(district, school, notice.sync_id, holds, links)
    message_id = notifier.mailer.send(district.admin_emails, email)
    logger.info("hold mail sent", recipients=len(district.admin_emails), message_id=message_id, **context)
    # The mail is out: a failure from here on must not fail the invocation, or a retry would send
    # it again (Powertools forgets the idempotency record of a failed call).
    try:
        recorded = notifier.notified.record(school, notice.sync_id, notice.reasons)
    except (ClientError, BotoCoreError):
        logger.exception("notified reasons not recorded", **context)
        recorded = False
    if not recorded:
        logger.info("school moved on before its notified reasons were recorded", **context)
    return Delivery(sent=True, message_id=message_id, recipients=len(district.admin_emails))


def send_disconnected_mail(notifier: Notifier, notice: DisconnectNotice) -> Delivery:
    """Mail the district admins that Clever refuses or fails the connection (unless it is back)."""
    district = notifier.state.get_district(notice.district_id)
    if district is None:
        raise NotificationTargetMissingError(notice.district_id)
    context: dict[str, Any] = {"district_id": notice.district_id, "sync_id": notice.sync_id}
    if district.connection is not Connection.DISCONNECTED:
        return _skipped("reconnected", **context)
    if not district.admin_emails:
        return _skipped("no_recipients", **context)
    _require_dashboard(notifier)
    email = render_disconnected_mail(
        district, district_page_url(notifier.dashboard_url, district.district_id)
    )
    message_id = notifier.mailer.send(district.admin_emails, email)
    logger.info(
        "disconnection mail sent", recipients=len(district.admin_emails), message_id=message_id, **context
    )
    return Delivery(sent=True, message_id=message_id, recipients=len(district.admin_emails))


def _skipped(why: str, **context: Any) -> Delivery:
    if why == "no_recipients":
        logger.warning("no mail sent: the district has no admin e-mail", **context)
    else:
        logger.info("no mail sent", skipped=why, **context)
    return Delivery(sent=False, skipped=why)


def _require_dashboard(notifier: Notifier) -> None:
    if not notifier.dashboard_url.startswith(("https://", "http://")):
        raise NotificationConfigError("DASHBOARD_URL must be an absolute URL: the mail's links open it")


# ---------------------------------------------------------------------------------- exactly once

IDEMPOTENCY: Final = IdempotencyConfig(
    event_key_jmespath="idempotency_key",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
)


def idempotent_delivery(persistence: BasePersistenceLayer) -> Callable[..., dict[str, Any]]:
    """`deliver` that sends at most one mail per notice key (`HoldNotice.idempotency_key`:
    district, school, sync and sorted reasons; `DisconnectNotice.idempotency_key`: district and
    sync), whatever the retries. Call it as `send(notifier, notice=notice)`; it returns the notify
    function's result. `persistence` is the function's one persistence layer."""

    @idempotent_function(data_keyword_argument="notice", config=IDEMPOTENCY, persistence_store=persistence)
    def deliver_once(notifier: Notifier, *, notice: Notice) -> dict[str, Any]:
        return deliver(notifier, notice).result()

    return deliver_once


__all__ = [
    "IDEMPOTENCY",
    "MAIL_EXAMPLES",
    "REASON_WORDS",
    "Delivery",
    "DisconnectNotice",
    "Email",
    "HoldMailLinks",
    "HoldNotice",
    "Mailer",
    "Notice",
    "NotificationConfigError",
    "NotificationTargetMissingError",
    "NotifiedReasons",
    "Notifier",
    "ReasonView",
    "SesMailer",
    "deliver",
    "hold_subject",
    "idempotent_delivery",
    "notice_for",
    "reason_title",
    "reason_view",
    "render_disconnected_mail",
    "render_hold_mail",
    "send_disconnected_mail",
    "send_hold_mail",
]
