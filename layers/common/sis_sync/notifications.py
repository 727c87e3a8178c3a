"""The e-mails to district admins: schools went on hold, or the district's Clever connection failed.

One hold mail per sync (`HoldDigestNotice`, sent by the evaluate flow once its Map is done): every
school the sync newly put on hold, or whose reasons grew, in one message; a sync that held one school
sends the one-school mail. Exactly one mail per (district, sync), per (school, sync, reason set) for
the one-school notice older executions send, and per (district, disconnecting sync), whatever Lambda
or Step Functions retry: `idempotent_delivery` wraps `deliver` in Powertools idempotency keyed on the
notice, and a sent hold mail is recorded on each school it names (`notified_reasons`), which is what
evaluation compares a later sync's reasons with, and what keeps a digest sent again from naming a
school twice. What the mails say is `mail_content`; mail goes out
through SES v2 (`store.mailer`). Logs carry ids, reasons and a recipient count: never an address or
a body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from sis_sync.evaluation import EvaluationResult
from sis_sync.hold_digest import DIGEST_LISTED, DigestLinks, ordered, render_hold_digest
from sis_sync.links import (
    LINK_TTL,
    district_page_url,
    link_url,
    on_hold_page_url,
    school_page_url,
    sign_link,
)
from sis_sync.mail_content import (
    Email,
    HeldSchool,
    HoldMailLinks,
    render_disconnected_mail,
    render_hold_mail,
)
from sis_sync.model import Connection, Decision, District, School, SchoolOutcome, SchoolStatus
from sis_sync.observability import logger
from sis_sync.rules import Hold, HoldReason
from sis_sync.store.mailer import Mailer
from sis_sync.store.state_table import StateTable

IDEMPOTENCY_TTL_SECONDS: Final = 7 * 24 * 3600


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


class _SyncNotice(BaseModel):
    """A mail about a district's sync as a whole: one per (kind, district, sync)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    district_id: str
    sync_id: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def idempotency_key(self) -> str:
        return "#".join((self.kind, self.district_id, self.sync_id))


class DisconnectNotice(_SyncNotice):
    """Mail the admins: the district's Clever connection failed in `sync_id` (sent once per sync)."""

    kind: Literal["disconnected"]


class HoldDigestNotice(_SyncNotice):
    """Mail the admins once about every school `sync_id` newly put on hold or whose reasons grew
    (the evaluate flow sends it after its Map, also when the Map failed partway)."""

    kind: Literal["holds"]


Notice = HoldNotice | DisconnectNotice | HoldDigestNotice


def notice_for(event: dict[str, Any]) -> Notice | None:
    """The notice a notify event asks for: `{"kind": "disconnected", ...}` from the poller,
    `{"kind": "holds", ...}` from the evaluate flow, or (from executions started before the digest)
    the evaluate task's EvaluationResult, which asks for a mail only when `notify` is true."""
    kind = event.get("kind", "hold")
    if kind == "disconnected":
        return DisconnectNotice.model_validate(event)
    if kind == "holds":
        return HoldDigestNotice.model_validate(event)
    result = EvaluationResult.model_validate(event)
    if not result.notify or result.decision is not Decision.HOLD or result.superseded:
        return None
    return HoldNotice.model_validate(
        result.model_dump(include={"district_id", "school_id", "sync_id", "reasons"})
    )


class NotificationTargetMissingError(LookupError):
    """The district or school a notice names does not exist."""


class NotificationConfigError(ValueError):
    """The function's environment cannot make a mail (no absolute DASHBOARD_URL for its links)."""


@dataclass(frozen=True)
class Notifier:
    state: StateTable
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
    """Send the mail a notice asks for, unless it no longer applies (see the senders)."""
    if isinstance(notice, DisconnectNotice):
        return send_disconnected_mail(notifier, notice)
    if isinstance(notice, HoldDigestNotice):
        return send_hold_digest(notifier, notice)
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
        notifier.state.record_notified(school, notice.sync_id, notice.reasons)
        return _skipped("no_recipients", **context)
    return _mail_holds(notifier, district, [_held(school, notice.reasons)], notice.sync_id, context)


def send_hold_digest(notifier: Notifier, notice: HoldDigestNotice) -> Delivery:
    """One mail about every school the sync newly put on hold or whose reasons grew, then record
    each one's reasons as notified; a sync that held one school sends the one-school mail.

    The schools come from the sync's outcomes (held) read with their items: a school that moved on
    since (released, or a newer sync is pending) or whose reasons were all mailed already is left
    out, as `send_hold_mail` would leave it; nothing is sent when none is left.
    """
    district = notifier.state.get_district(notice.district_id)
    if district is None:
        raise NotificationTargetMissingError(notice.district_id)
    context: dict[str, Any] = {"district_id": notice.district_id, "sync_id": notice.sync_id}
    held_ids = sorted(
        outcome.school_id
        for outcome in notifier.state.outcomes(notice.district_id, notice.sync_id)
        if outcome.outcome is SchoolOutcome.HELD
    )
    schools = notifier.state.get_schools(notice.district_id, held_ids)
    news = [
        _held(school, _reasons(school))
        for school in (schools[school_id] for school_id in held_ids if school_id in schools)
        if _news_for(school, notice.sync_id)
    ]
    context["schools"] = len(news)
    if not news:
        return _skipped("nothing_new", **context)
    if not district.admin_emails:
        _record_notified(notifier, news, notice.sync_id, context)  # see send_hold_mail
        return _skipped("no_recipients", **context)
    return _mail_holds(notifier, district, news, notice.sync_id, context)


def _mail_holds(
    notifier: Notifier, district: District, news: list[HeldSchool], sync_id: str, context: dict[str, Any]
) -> Delivery:
    """Send the hold mail about `news` (one school or many) to the admins, then record each
    school's reasons as notified."""
    _require_dashboard(notifier)
    email = _hold_mail(notifier, district, news, sync_id, notifier.now())
    message_id = notifier.mailer.send(district.admin_emails, email)
    logger.info("hold mail sent", recipients=len(district.admin_emails), message_id=message_id, **context)
    _record_notified(notifier, news, sync_id, context)
    return Delivery(sent=True, message_id=message_id, recipients=len(district.admin_emails))


def _hold_mail(
    notifier: Notifier, district: District, news: list[HeldSchool], sync_id: str, now: datetime
) -> Email:
    """The one hold mail of `sync_id` about the schools of `news`, with their links: for one school
    the one-school mail (`render_hold_mail`), for more the digest."""
    if len(news) == 1:
        [held] = news
        held = _with_links(notifier, held, sync_id, now)
        return render_hold_mail(district, held.school, sync_id, held.holds, _links(held))
    # links (one signature each) only for the schools the mail lists; the rest are on the dashboard
    listed = ordered(news)
    with_links = [
        _with_links(notifier, held, sync_id, now) if rank < DIGEST_LISTED else held
        for rank, held in enumerate(listed)
    ]
    links = DigestLinks(
        district_url=district_page_url(notifier.dashboard_url, district.district_id),
        on_hold_url=on_hold_page_url(notifier.dashboard_url, district.district_id),
        expires_at=now + LINK_TTL,
    )
    return render_hold_digest(district, sync_id, with_links, links)


def _news_for(school: School, sync_id: str) -> bool:
    """The school is still held by this sync and not every reason of it was mailed (what
    evaluation's `notify` says, read from the school as it is now)."""
    return (
        school.status is SchoolStatus.ON_HOLD
        and school.pending_sync_id == sync_id
        and bool(school.holds)
        and not _reasons(school) <= set(school.notified_reasons)
    )


def _reasons(school: School) -> set[str]:
    return {hold.reason.value for hold in school.holds}


def _held(school: School, reasons: Iterable[str]) -> HeldSchool:
    """The school's holds for `reasons`, in rule order (a reason without a recorded hold is still
    named), without links yet."""
    recorded = {hold.reason: hold for hold in school.holds}
    in_rule_order = sorted({HoldReason(reason) for reason in reasons}, key=list(HoldReason).index)
    holds = [recorded.get(reason, Hold(reason=reason, detail={})) for reason in in_rule_order]
    return HeldSchool(school=school, holds=holds, links=None)


def _with_links(notifier: Notifier, held: HeldSchool, sync_id: str, now: datetime) -> HeldSchool:
    """The school with its report link and a signed link to this sync's CSV of changes."""
    school = held.school
    token = sign_link(
        notifier.link_key(),
        district_id=school.district_id,
        school_id=school.school_id,
        sync_id=sync_id,
        purpose="changes_csv",
        now=now,
    )
    links = HoldMailLinks(
        school_url=school_page_url(notifier.dashboard_url, school.district_id, school.school_id),
        csv_url=link_url(notifier.dashboard_url, token),
        district_url=district_page_url(notifier.dashboard_url, school.district_id),
        expires_at=now + LINK_TTL,
    )
    return HeldSchool(school=school, holds=held.holds, links=links)


def _links(held: HeldSchool) -> HoldMailLinks:
    assert held.links is not None  # made by _with_links
    return held.links


def _record_notified(
    notifier: Notifier, mailed: list[HeldSchool], sync_id: str, context: dict[str, Any]
) -> None:
    """Record each mailed school's reasons as notified. The mail is out: a failure from here on must
    not fail the invocation, or a retry would send it again (Powertools forgets the idempotency
    record of a failed call); a school left unrecorded is at worst named again by a later mail."""
    recorded = notifier.state.record_notified_each(
        sync_id, [(held.school, [hold.reason.value for hold in held.holds]) for held in mailed]
    )
    moved_on = failed = 0
    for held, result in zip(mailed, recorded, strict=True):
        if isinstance(result, Exception):
            logger.error(
                "notified reasons not recorded",
                exc_info=result,
                **(context | {"school_id": held.school.school_id}),
            )
            failed += 1
        else:
            moved_on += not result
    # (not `schools=`: a digest's context counts the schools it mailed under that name)
    if moved_on:
        logger.info("school moved on before its notified reasons were recorded", moved_on=moved_on, **context)
    if failed:
        logger.warning("notified reasons not recorded", unrecorded=failed, **context)


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
