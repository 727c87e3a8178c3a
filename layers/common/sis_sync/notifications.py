"""The e-mails to district admins: a school went on hold, or the district's Clever connection failed.

Exactly one mail per (school, sync, reason set) and per (district, disconnecting sync), whatever
Lambda or Step Functions retry: `idempotent_delivery` wraps `deliver` in Powertools idempotency keyed
on the notice, and a sent hold mail is recorded on the school (`notified_reasons`), which is what
evaluation compares a later sync's reasons with. What the mails say is `mail_content`; mail goes out
through SES v2 (`store.mailer`). Logs carry ids, reasons and a recipient count: never an address or
a body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from sis_sync.evaluation import EvaluationResult
from sis_sync.links import LINK_TTL, district_page_url, link_url, school_page_url, sign_link
from sis_sync.mail_content import HoldMailLinks, render_disconnected_mail, render_hold_mail
from sis_sync.model import Connection, Decision
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
        notifier.state.record_notified(school, notice.sync_id, notice.reasons)
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
        district_url=district_page_url(notifier.dashboard_url, notice.district_id),
        expires_at=now + LINK_TTL,
    )
    email = render_hold_mail(district, school, notice.sync_id, holds, links)
    message_id = notifier.mailer.send(district.admin_emails, email)
    logger.info("hold mail sent", recipients=len(district.admin_emails), message_id=message_id, **context)
    # The mail is out: a failure from here on must not fail the invocation, or a retry would send
    # it again (Powertools forgets the idempotency record of a failed call).
    try:
        recorded = notifier.state.record_notified(school, notice.sync_id, notice.reasons)
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
