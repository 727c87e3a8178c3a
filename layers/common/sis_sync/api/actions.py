"""The admin API's reads and actions, each checked against the caller's identity first.

Nothing here waits for long work: clearing holds starts release executions, checking for new
Clever data and reconnecting ask poll_clever for a sync (asynchronously). Every action that
changes something appends an audit entry (who, when, what, which schools and syncs, result).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from pydantic import ValidationError

from sis_sync.api import matching
from sis_sync.api.adapters import CsvReader, PollStarter, StoredCsv
from sis_sync.api.errors import (
    BadRequestError,
    ConfirmationRequiredError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    StaleSyncIdError,
)
from sis_sync.api.identity import Identity, Role
from sis_sync.api.models import (
    AuditPage,
    ChangeTotals,
    ClearOutcome,
    ClearRequest,
    ClearResponse,
    ClearResult,
    CleverSchoolList,
    CleverSchoolView,
    DistrictView,
    ErrorDetail,
    HoldView,
    LastError,
    LinkedReport,
    MatchRequest,
    MatchResponse,
    MatchResult,
    Me,
    PollRequest,
    ReconnectResponse,
    RosterCounts,
    RosterView,
    SchoolList,
    SchoolReport,
    SchoolView,
    SettingsPatch,
    SyncRequest,
    SyncStarted,
)
from sis_sync.clever.client import CleverClient, ConnectionCheck
from sis_sync.discovery import school_id_for
from sis_sync.evaluation import csv_key
from sis_sync.links import LinkClaims, verify_link
from sis_sync.model import AuditEntry, Connection, District, ErrorInfo, School, SchoolStatus
from sis_sync.observability import logger
from sis_sync.polling import status_of, sync_id_for
from sis_sync.settings import DistrictSettings
from sis_sync.snapshot import RecordType
from sis_sync.store.executions import Executions
from sis_sync.store.roster_table import RosterTable
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import MissingTokenError, TokenStore

HISTORY_LIMIT: Final = 20
AUDIT_PAGE_MAX: Final = 100
AUDIT_PREFIX: Final = "AUDIT#"
PLURAL: Final[dict[RecordType, str]] = {
    "student": "students",
    "teacher": "teachers",
    "staff": "staff",
    "contact": "contacts",
    "section": "sections",
}
_EXECUTION_NAME_UNSAFE: Final = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class AdminApi:
    state: StateTable
    roster: RosterTable
    csv: CsvReader
    releases: Executions
    polls: PollStarter
    tokens: TokenStore
    clever: Callable[[str], CleverClient]  # district token -> client
    link_key: Callable[[], bytes]
    now: Callable[[], datetime]

    # --- who / which district ------------------------------------------------------------------

    def me(self, who: Identity) -> Me:
        if who.role is Role.OPERATOR:
            district_ids = self.state.district_ids()
        else:
            district_ids = [who.district_id] if who.district_id else []
        return Me(email=who.email, role=who.role.value, district_ids=district_ids)

    def _district(self, who: Identity, district_id: str) -> District:
        who.require(district_id)
        district = self.state.get_district(district_id)
        if district is None:
            raise NotFoundError(f"district {district_id} not found")
        return district

    def _school(self, district_id: str, school_id: str) -> School:
        school = self.state.get_school(district_id, school_id)
        if school is None:
            raise NotFoundError(f"school {school_id} not found")
        return school

    def district(self, who: Identity, district_id: str) -> DistrictView:
        return _district_view(self._district(who, district_id))

    # --- settings ----------------------------------------------------------------------------------

    def update_settings(self, who: Identity, district_id: str, patch: SettingsPatch) -> DistrictView:
        district = self._district(who, district_id)
        data: dict[str, Any] = district.settings.model_dump()
        if patch.thresholds is not None:
            data["thresholds"] |= patch.thresholds.model_dump(exclude_none=True)
        if patch.school_overrides is not None:
            known = {school.school_id for school in self.state.schools(district_id)}
            unknown = sorted(set(patch.school_overrides) - known)
            if unknown:
                raise InvalidRequestError(f"unknown schools in school_overrides: {', '.join(unknown[:5])}")
            for school_id, override in patch.school_overrides.items():
                if override is None:
                    data["school_overrides"].pop(school_id, None)
                else:
                    data["school_overrides"][school_id] = override.model_dump(exclude_none=True)
        for name in ("disconnect_after_failures", "sync_interval_minutes"):
            if (value := getattr(patch, name)) is not None:
                data[name] = value
        try:
            settings = DistrictSettings.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_input=False)
            )
            raise InvalidRequestError(f"invalid settings: {problems}") from error
        self.state.put_district(district.model_copy(update={"settings": settings}))
        self._audit(
            who,
            district_id,
            "settings_updated",
            result="updated",
            detail={"changed": sorted(patch.model_dump(exclude_none=True))},
        )
        logger.info("settings updated", district_id=district_id)
        return _district_view(district.model_copy(update={"settings": settings}))

    # --- schools -------------------------------------------------------------------------------------

    def schools(self, who: Identity, district_id: str, status: SchoolStatus | None = None) -> SchoolList:
        """One Query for every school of the district, however many (paged by the store)."""
        district = self._district(who, district_id)
        views = (_school_view(school, district) for school in self.state.schools(district_id))
        return SchoolList(schools=[view for view in views if status is None or view.status is status])

    def school_report(self, who: Identity, district_id: str, school_id: str) -> SchoolReport:
        district = self._district(who, district_id)
        return self._report(district, self._school(district_id, school_id))

    def _report(self, district: District, school: School, *, history: bool = True) -> SchoolReport:
        view = _school_view(school, district)
        by_type = {
            record_type: ChangeTotals.model_validate(counts)
            for record_type, counts in (school.changes.get("by_type") or {}).items()
        }
        examples = [
            {"reason": hold.reason.value} | example
            for hold in school.holds
            for example in hold.detail.get("examples", [])
            if isinstance(example, dict)
        ]
        entries = (
            self.state.audit_entries_of_school(district.district_id, school.school_id, limit=HISTORY_LIMIT)
            if history
            else []
        )
        csv_url = None
        if school.pending is not None:
            csv_url = (
                f"/v1/districts/{quote(district.district_id, safe='')}"
                f"/schools/{quote(school.school_id, safe='')}/changes.csv"
            )
        return SchoolReport(
            **view.model_dump(), by_type=by_type, examples=examples, history=entries, csv_url=csv_url
        )

    def changes_csv(self, who: Identity, district_id: str, school_id: str) -> StoredCsv:
        self._district(who, district_id)
        school = self._school(district_id, school_id)
        if school.pending is None:
            raise NotFoundError(f"school {school_id} has no pending change set")
        stored = self.csv.read(school.pending.csv_key)
        if stored is None:
            raise NotFoundError(f"the change set of school {school_id} is no longer available")
        return stored

    def roster_counts(self, who: Identity, district_id: str, school_id: str) -> RosterView:
        self._district(who, district_id)
        self._school(district_id, school_id)
        active, archived = self.roster.counts(district_id, school_id)
        return RosterView(
            counts=RosterCounts.model_validate({PLURAL[t]: n for t, n in active.items()}),
            archived=RosterCounts.model_validate({PLURAL[t]: n for t, n in archived.items()}),
        )

    # --- Clear holds -----------------------------------------------------------------------------

    def clear_holds(self, who: Identity, district_id: str, request: ClearRequest) -> ClearResponse:
        """Start one release execution per school whose named change set is still the held one.

        Every school is looked up before anything starts (an unknown school refuses the whole
        request); nothing is applied here. While the district is disconnected nothing is released:
        every school's result is `disconnected` (DESIGN §1: nothing is applied while disconnected).
        Releasing nothing because every named change set moved on is a conflict (409)."""
        district = self._district(who, district_id)
        named = {item.school_id: item.sync_id for item in request.schools}
        if len(named) != len(request.schools):
            raise InvalidRequestError("a school is named twice")
        schools = {school_id: self._school(district_id, school_id) for school_id in named}
        results: list[ClearResult] = []
        for school_id, sync_id in named.items():
            outcome = _clear_outcome(district, schools[school_id], sync_id)
            if outcome == "released":
                self.releases.start(
                    release_execution_name(school_id, sync_id),
                    {
                        "district_id": district_id,
                        "sync_id": sync_id,
                        "school_id": school_id,
                        "approved_by": who.email,
                    },
                    retry_failed=True,  # a release that failed can be approved again
                )
            results.append(ClearResult(school_id=school_id, result=outcome, sync_id=sync_id))
        released = [r for r in results if r.result == "released"]
        self._audit(
            who,
            district_id,
            "clear_holds",
            school_ids=list(named),
            sync_ids=sorted(set(named.values())),
            result="released" if released else "refused",
            detail={"results": {r.school_id: r.result for r in results}},
        )
        logger.info("holds cleared", district_id=district_id, released=len(released), asked=len(results))
        if not released and any(r.result == "stale" for r in results):
            raise StaleSyncIdError(
                "the change sets named are no longer pending: review the newest one",
                [r.model_dump() for r in results],
            )
        return ClearResponse(results=results)

    # --- Check for new Clever data / I fixed it ------------------------------------------------------

    def check_now(self, who: Identity, district_id: str, request: SyncRequest) -> SyncStarted:
        if not request.confirm:
            raise ConfirmationRequiredError('confirm the sync with {"confirm": true}')
        self._district(who, district_id)
        if request.school_ids:
            known = {school.school_id for school in self.state.schools(district_id)}
            unknown = sorted(set(request.school_ids) - known)
            if unknown:
                raise NotFoundError(f"unknown schools: {', '.join(unknown[:5])}")
        sync_id = self._start_sync(who, district_id, "manual", request.school_ids)
        return SyncStarted(sync_id=sync_id)

    def _start_sync(self, who: Identity, district_id: str, trigger: str, school_ids: list[str] | None) -> str:
        sync_id = sync_id_for(district_id, self.now())
        self.polls.start(
            PollRequest(district_id=district_id, sync_id=sync_id, trigger=trigger, school_ids=school_ids)
        )
        self._audit(
            who,
            district_id,
            "check_now" if trigger == "manual" else "sync_after_reconnect",
            school_ids=school_ids or [],
            sync_ids=[sync_id],
            result="started",
        )
        return sync_id

    def reconnect(self, who: Identity, district_id: str) -> ReconnectResponse:
        """Re-test the Clever connection now (a few seconds at most); on success, sync at once."""
        district = self._district(who, district_id)
        check = self._check_connection(district_id)
        now = self.now()
        if not check.ok:
            code = check.code or "unavailable"
            message = check.detail[:500] or "Clever could not be reached"
            if district.connection is Connection.DISCONNECTED:
                error = ErrorInfo(code=code, message=message, at=now)
                self.state.put_district(district.model_copy(update={"last_error": error}))
            self._audit(who, district_id, "reconnect", result="failed", detail={"code": code})
            return ReconnectResponse(
                connection=Connection.DISCONNECTED, error=ErrorDetail(code=code, message=message)
            )
        self.state.put_district(
            district.model_copy(
                update={"connection": Connection.CONNECTED, "consecutive_failures": 0, "last_error": None}
            )
        )
        self._audit(who, district_id, "reconnect", result="connected")
        sync_id = self._start_sync(who, district_id, "reconnect", None)
        return ReconnectResponse(connection=Connection.CONNECTED, sync_id=sync_id)

    def _check_connection(self, district_id: str) -> ConnectionCheck:
        try:
            token = self.tokens.get(district_id)
        except MissingTokenError:
            return ConnectionCheck(
                ok=False, code="no_token", detail="no Clever token is stored for the district"
            )
        with self.clever(token) as client:
            return client.check_connection()

    # --- Match schools ------------------------------------------------------------------------------

    def clever_schools(self, who: Identity, district_id: str) -> CleverSchoolList:
        self._district(who, district_id)
        candidates = [school for school in self.state.schools(district_id) if not school.clever_school_id]
        return CleverSchoolList(
            clever_schools=[
                CleverSchoolView(
                    **clever_school.model_dump(include={"clever_school_id", "name", "nces_id", "state_id"}),
                    first_seen_sync_id=clever_school.first_seen_sync_id,
                    suggestions=matching.suggestions(clever_school, candidates),
                )
                for clever_school in self.state.clever_schools(district_id)
            ]
        )

    def match(self, who: Identity, district_id: str, request: MatchRequest) -> MatchResponse:
        """Link Clever schools to not-connected schools, or add them as new schools; they sync on the
        next poll. Every match is checked before any is written."""
        self._district(who, district_id)
        clever_ids = [m.clever_school_id for m in request.matches]
        school_ids = [m.school_id for m in request.matches if m.school_id]
        if len(set(clever_ids)) != len(clever_ids) or len(set(school_ids)) != len(school_ids):
            raise InvalidRequestError("a Clever school or a school is named twice")
        unmatched = {c.clever_school_id: c for c in self.state.clever_schools(district_id)}
        schools = {school.school_id: school for school in self.state.schools(district_id)}
        planned: list[School] = []
        results: list[MatchResult] = []
        for item in request.matches:
            clever_school = unmatched.get(item.clever_school_id)
            if clever_school is None:
                raise NotFoundError(f"no unmatched Clever school {item.clever_school_id}")
            if item.school_id is None:
                school_id = school_id_for(clever_school.clever_school_id)
                if school_id in schools:
                    raise ConflictError(f"school {school_id} exists already")
                school = School(
                    district_id=district_id,
                    school_id=school_id,
                    name=clever_school.name,
                    clever_school_id=clever_school.clever_school_id,
                    nces_id=clever_school.nces_id,
                    state_id=clever_school.state_id,
                    status=SchoolStatus.CONNECTED,
                )
                results.append(
                    MatchResult(clever_school_id=item.clever_school_id, school_id=school_id, result="added")
                )
            else:
                existing = schools.get(item.school_id)
                if existing is None:
                    raise NotFoundError(f"school {item.school_id} not found")
                if existing.clever_school_id:
                    raise ConflictError(f"school {item.school_id} is matched already")
                school = existing.model_copy(
                    update={
                        "clever_school_id": clever_school.clever_school_id,
                        "status": SchoolStatus.CONNECTED,
                        "nces_id": existing.nces_id or clever_school.nces_id,
                        "state_id": existing.state_id or clever_school.state_id,
                    }
                )
                results.append(
                    MatchResult(
                        clever_school_id=item.clever_school_id, school_id=item.school_id, result="linked"
                    )
                )
            planned.append(school)
        for school in planned:
            self.state.put_school(school)
            self.state.delete_clever_school(district_id, school.clever_school_id or "")
        self._audit(
            who,
            district_id,
            "schools_matched",
            school_ids=[r.school_id for r in results],
            result="matched",
            detail={
                "matches": {
                    r.school_id: {"clever_school_id": r.clever_school_id, "result": r.result} for r in results
                }
            },
        )
        return MatchResponse(results=results)

    # --- audit ---------------------------------------------------------------------------------------

    def audit(self, who: Identity, district_id: str, limit: int, cursor: str | None) -> AuditPage:
        self._district(who, district_id)
        after = decode_cursor(cursor) if cursor else None
        entries, next_sk = self.state.audit(
            district_id, limit=min(max(limit, 1), AUDIT_PAGE_MAX), after=after
        )
        return AuditPage(entries=entries, next_cursor=encode_cursor(next_sk) if next_sk else None)

    def _audit(
        self,
        who: Identity,
        district_id: str,
        action: str,
        *,
        school_ids: list[str] | None = None,
        sync_ids: list[str] | None = None,
        result: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.state.append_audit(
            AuditEntry(
                district_id=district_id,
                at=self.now(),
                actor=who.email,
                action=action,
                school_ids=school_ids or [],
                sync_ids=sync_ids or [],
                result=result,
                detail=detail or {},
            )
        )

    # --- signed e-mail links (no sign-in; read-only) --------------------------------------------------

    def link_claims(self, token: str) -> LinkClaims:
        """The claims of a valid link (raises links.InvalidLinkError: expired, tampered, ...)."""
        return verify_link(self.link_key(), token, self.now())

    def link_csv(self, claims: LinkClaims) -> StoredCsv:
        stored = self.csv.read(csv_key(claims.district_id, claims.school_id, claims.sync_id))
        if stored is None:
            raise NotFoundError("the change set of this link is no longer available")
        return stored

    def link_report(self, claims: LinkClaims) -> LinkedReport:
        """The report of the change set the link was sent for, while it is still the pending one;
        without the history (it names the admins who acted)."""
        district = self.state.get_district(claims.district_id)
        school = self.state.get_school(claims.district_id, claims.school_id)
        if district is None or school is None:
            raise NotFoundError("the school of this link no longer exists")
        if school.pending_sync_id != claims.sync_id:
            raise NotFoundError("the change set of this link is no longer pending: sign in to see the school")
        return LinkedReport.model_validate(self._report(district, school, history=False).model_dump())


# --- helpers --------------------------------------------------------------------------------------------


def release_execution_name(school_id: str, sync_id: str) -> str:
    """`release-<school>-<sync>`: one execution per approval (a repeated click starts nothing new).
    Step Functions allows 80 characters of [0-9A-Za-z_-]; anything else falls back to a digest."""
    name = f"release-{school_id}-{sync_id}"
    if len(name) <= 80 and not _EXECUTION_NAME_UNSAFE.search(name):
        return name
    digest = hashlib.sha256(f"{school_id}\n{sync_id}".encode()).hexdigest()[:40]
    return f"release-{digest}"


def _clear_outcome(district: District, school: School, sync_id: str) -> ClearOutcome:
    if district.connection is Connection.DISCONNECTED:
        return "disconnected"
    if school.status is not SchoolStatus.ON_HOLD or school.pending_sync_id is None:
        return "not_on_hold"
    return "released" if school.pending_sync_id == sync_id else "stale"


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        sort_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadRequestError("invalid cursor") from error
    if not sort_key.startswith(AUDIT_PREFIX) or len(sort_key) > 200:
        raise BadRequestError("invalid cursor")
    return sort_key


def _district_view(district: District) -> DistrictView:
    last_error = LastError.model_validate(district.last_error.model_dump()) if district.last_error else None
    return DistrictView(
        district_id=district.district_id,
        name=district.name,
        connection=district.connection,
        last_error=last_error,
        last_sync_at=district.last_sync_at,
        settings=district.settings,
    )


def _school_view(school: School, district: District) -> SchoolView:
    totals = {kind: int(school.changes.get(kind, 0)) for kind in ChangeTotals.model_fields}
    return SchoolView(
        school_id=school.school_id,
        name=school.name,
        clever_school_id=school.clever_school_id,
        status=status_of(school, district),
        holds=[HoldView(reason=hold.reason.value, detail=hold.detail) for hold in school.holds],
        pending_sync_id=school.pending_sync_id,
        last_synced_at=school.last_synced_at,
        changes=ChangeTotals.model_validate(totals),
    )
