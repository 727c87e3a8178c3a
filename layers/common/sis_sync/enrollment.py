"""Districts onboard themselves: the Clever app's district tokens are the list of districts.

Every run lists the app's tokens (`GET /oauth/tokens?owner_type=district`, all pages or nothing)
and compares them with the districts on record:
- a token of a district not on record onboards it (record, token in SSM, admin e-mails from
  Clever's `district_admin` users) as `d-<clever district id>`;
- a district on record whose token changed gets the new token (after checking that the token
  reads that same district);
- a district whose token disappeared is disconnected with `app_disconnected`, audited and its
  admins mailed; it is parked (no poll) until Clever lists a token for it again, which reconnects it;
- an offboarded district stays offboarded, whatever Clever lists.

A failed listing changes nothing (a lost page must never read as "every district left"). Running
the same run again does nothing twice: each step compares with what is stored first, and the
disconnection e-mail is keyed on (district, run id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sis_sync.clever.app_tokens import CleverApp
from sis_sync.clever.client import CleverClient
from sis_sync.clever.errors import CleverError
from sis_sync.clever.models import DistrictToken
from sis_sync.model import AuditEntry, Connection, District, ErrorInfo
from sis_sync.observability import logger
from sis_sync.onboarding import (
    TokenDistrictMismatchError,
    admin_emails,
    district_id_for,
    onboard_district,
)
from sis_sync.polling import APP_DISCONNECTED, OFFBOARDED, SYSTEM, announce_disconnection, parked
from sis_sync.store.app_credentials import AppCredentials, AppCredentialsStore
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import MissingTokenError, TokenStore

APP_DISCONNECTED_MESSAGE = (
    "The district no longer authorizes the app in Clever (its token is no longer listed)."
)


@dataclass(frozen=True)
class Enrollment:
    state: StateTable
    tokens: TokenStore
    credentials: AppCredentialsStore
    app: Callable[[AppCredentials], CleverApp]
    clever: Callable[[str], CleverClient]  # district token -> Data API client
    now: Callable[[], datetime]
    notify_disconnected: Callable[[str, str], None] = lambda district_id, run_id: None


@dataclass
class EnrollmentReport:
    """What a run did, by district id (what the function returns and the devstack shows)."""

    configured: bool = True
    onboarded: list[str] = field(default_factory=list)
    token_replaced: list[str] = field(default_factory=list)
    reconnected: list[str] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # offboarded, yet still authorizing the app
    failed: dict[str, str] = field(default_factory=dict)  # district id -> error code

    def as_dict(self) -> dict[str, object]:
        return {
            "configured": self.configured,
            "onboarded": self.onboarded,
            "token_replaced": self.token_replaced,
            "reconnected": self.reconnected,
            "disconnected": self.disconnected,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def run_id_for(at: datetime) -> str:
    """A run's id from its scheduled time: the same on every redelivery of that schedule."""
    return f"enroll-{at:%Y%m%dT%H%M%S}Z"


def enroll_districts(enrollment: Enrollment, run_id: str) -> EnrollmentReport:
    credentials = enrollment.credentials.get()
    if credentials is None:
        logger.warning(
            "Clever app credentials not configured: no district is onboarded or disconnected",
            hint='put {"client_id": …, "client_secret": …} in the stack\'s CleverAppSecret',
        )
        return EnrollmentReport(configured=False)
    with enrollment.app(credentials) as app:
        listed = _newest_per_district(app.district_tokens())
    report = EnrollmentReport()
    districts = list(enrollment.state.districts())
    known = {district.clever_district_id: district for district in districts}
    for clever_id, token in sorted(listed.items()):
        district = known.get(clever_id)
        try:
            if district is None:
                _onboard(enrollment, token, report)
            else:
                _refresh(enrollment, district, token, report)
        except (CleverError, TokenDistrictMismatchError) as error:
            # one district's trouble must not keep the others from onboarding
            district_id = district.district_id if district else district_id_for(clever_id)
            report.failed[district_id] = error.code
            logger.warning("district enrollment failed", district_id=district_id, code=error.code)
    for district in districts:
        if district.clever_district_id not in listed and not parked(district):
            _disconnect(enrollment, district, run_id)
            report.disconnected.append(district.district_id)
    logger.info(
        "districts enrolled",
        run_id=run_id,
        tokens=len(listed),
        onboarded=len(report.onboarded),
        reconnected=len(report.reconnected),
        disconnected=len(report.disconnected),
        failed=len(report.failed),
    )
    return report


def _newest_per_district(tokens: list[DistrictToken]) -> dict[str, DistrictToken]:
    """Clever id -> its newest district token (Clever lists one per district; be sure of it)."""
    newest: dict[str, DistrictToken] = {}
    for token in sorted(tokens, key=lambda t: t.created):
        if token.owner.type == "district":
            newest[token.district_id] = token
    return newest


def _onboard(enrollment: Enrollment, listed: DistrictToken, report: EnrollmentReport) -> None:
    token = listed.access_token.get_secret_value()
    district_id = district_id_for(listed.district_id)
    with enrollment.clever(token) as client:
        onboard_district(
            enrollment.state,
            enrollment.tokens,
            client,
            district_id=district_id,
            token=token,
            admin_emails=admin_emails(client),
            now=enrollment.now(),
            expected_clever_district_id=listed.district_id,
            source="clever_app",
        )
    logger.info("district onboarded from Clever", district_id=district_id)
    report.onboarded.append(district_id)


def _refresh(
    enrollment: Enrollment, district: District, listed: DistrictToken, report: EnrollmentReport
) -> None:
    district_id = district.district_id
    error = district.last_error
    if parked(district) and error is not None and error.code == OFFBOARDED:
        logger.info("offboarded district still authorizes the app", district_id=district_id)
        report.skipped.append(district_id)
        return
    token = listed.access_token.get_secret_value()
    try:
        stored: str | None = enrollment.tokens.get(district_id)
    except MissingTokenError:
        stored = None
    returning = parked(district)  # app_disconnected, and now Clever lists a token again
    if stored == token and not returning:
        report.unchanged.append(district_id)
        return
    _require_same_district(enrollment, district, token)
    if stored != token:
        enrollment.tokens.put(district_id, token)
        _audit(enrollment, district_id, "clever_token_replaced", "stored")
        report.token_replaced.append(district_id)
    if returning:
        now = enrollment.now()
        enrollment.state.mark_connected(district_id, next_poll_at=now)
        _audit(enrollment, district_id, "district_reconnected", "app_authorized")
        report.reconnected.append(district_id)
    elif district.connection is Connection.DISCONNECTED:
        # a new token after a refused one: poll at the next chance, which reconnects the district
        enrollment.state.update_district(district_id, next_poll_at=enrollment.now())


def _require_same_district(enrollment: Enrollment, district: District, token: str) -> None:
    """A token belongs to one district: the new token must read the district on record."""
    with enrollment.clever(token) as client:
        read = client.district().id
    if read != district.clever_district_id:
        raise TokenDistrictMismatchError(
            f"the new token of {district.district_id} reads Clever district {read}"
        )


def _disconnect(enrollment: Enrollment, district: District, run_id: str) -> None:
    now = enrollment.now()
    error = ErrorInfo(code=APP_DISCONNECTED, message=APP_DISCONNECTED_MESSAGE, at=now)
    before = enrollment.state.update_district(
        district.district_id, connection=Connection.DISCONNECTED, last_error=error
    )
    district = district.model_copy(update={"connection": Connection.DISCONNECTED, "last_error": error})
    logger.warning("district disconnected: app no longer authorized", district_id=district.district_id)
    if before is not None and before.connection is Connection.CONNECTED:
        announce_disconnection(
            enrollment.state, enrollment.notify_disconnected, district, run_id, actor=SYSTEM, at=now
        )
    else:  # its admins already heard it is disconnected; the log still says why it is parked
        _audit(enrollment, district.district_id, "district_disconnected", APP_DISCONNECTED)


def _audit(enrollment: Enrollment, district_id: str, action: str, result: str) -> None:
    enrollment.state.append_audit(
        AuditEntry(district_id=district_id, at=enrollment.now(), actor=SYSTEM, action=action, result=result)
    )
