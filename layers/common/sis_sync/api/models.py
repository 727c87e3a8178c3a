"""Request and response bodies of the admin API (DESIGN §4); the OpenAPI document is built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from sis_sync.model import AuditEntry, Connection, SchoolStatus, SyncStatus
from sis_sync.settings import Count, DistrictSettings

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MAX_SCHOOLS_PER_REQUEST = 2000  # NYC has ~1,800 schools: one request can name every school


class Body(BaseModel):
    """Request bodies refuse unknown fields: a typo must not pass silently as "not given"."""

    model_config = ConfigDict(extra="forbid")


# --- errors and small things --------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Me(BaseModel):
    email: str
    role: str
    district_ids: list[str]


class AuthConfig(BaseModel):
    """Where the dashboard signs in: OAuth 2.0 authorization code + PKCE with a public client."""

    authorize_url: str
    token_url: str
    logout_url: str
    client_id: str
    scopes: list[str]
    clever_client_id: str | None = Field(
        default=None,
        description="App client for Log in with Clever: the same flow with this client id and"
        " `identity_provider=Clever` on the authorize URL. Null when the deployment has no Clever sign-in.",
    )


# --- districts ------------------------------------------------------------------------------------


class LastError(BaseModel):
    code: str
    message: str
    at: datetime


class DistrictView(BaseModel):
    district_id: str
    name: str
    connection: Connection
    last_error: LastError | None
    last_sync_at: datetime | None
    settings: DistrictSettings


# A share DynamoDB can store (its numbers underflow below 1e-130) and an admin can mean: 0.01 % steps.
Percent = Annotated[float, Field(ge=0.01, le=100), AfterValidator(lambda value: round(value, 2))]


class ThresholdsPatch(Body):
    """Any subset of the thresholds (settings.Thresholds / ThresholdOverride, with the API's bounds):
    for the district, fields left out keep their value; for a school override, unset fields inherit."""

    removal_min_count: Count | None = None
    removal_pct: Percent | None = None
    removal_max_count: Count | None = None
    max_guardians: Annotated[int, Field(ge=2, le=100)] | None = None
    blocked_contact_types: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=20)] | None
    ) = None


class SettingsPatch(Body):
    """A partial update: thresholds merge field by field; a school override set to null is removed."""

    thresholds: ThresholdsPatch | None = None
    school_overrides: (
        Annotated[dict[Id, ThresholdsPatch | None], Field(max_length=MAX_SCHOOLS_PER_REQUEST)] | None
    ) = None
    disconnect_after_failures: Annotated[int, Field(ge=1, le=50)] | None = None
    sync_interval_minutes: Annotated[int, Field(ge=5, le=7 * 24 * 60)] | None = None


# --- schools ----------------------------------------------------------------------------------------


class HoldView(BaseModel):
    reason: str
    detail: dict[str, Any]


class ChangeTotals(BaseModel):
    added: int = 0
    updated: int = 0
    removed: int = 0
    source_id_changed: int = 0


class SchoolView(BaseModel):
    school_id: str
    name: str
    clever_school_id: str | None
    status: SchoolStatus
    holds: list[HoldView]
    pending_sync_id: str | None
    last_synced_at: datetime | None
    changes: ChangeTotals


class SchoolList(BaseModel):
    schools: list[SchoolView]


class QuarantinedView(BaseModel):
    reason: str  # duplicate_ids | dangling_references | without_school | no_role
    record_type: str
    clever_id: str
    name: str
    detail: str  # what could not be placed: "student:<id>", "school:<id>", "term:<id>", a role


class QuarantineReport(BaseModel):
    """What a sync set aside instead of applying, so that a record Clever sent but that could not
    be placed (no school, a dangling reference, a user in a role's listing without that role) is
    never a silent drop. These are not changes, so the changes CSV does not list them; a removal
    they cause is in the CSV as the removal it is, and named here."""

    sync_id: str
    counts: dict[str, int]  # per reason, the whole district
    multi_role: int  # people with more than one role (one person each, not duplicate ids)
    records: list[QuarantinedView]  # the first few per reason: this school's, and those with none


class LinkedReport(SchoolView):
    """The report a signed e-mail link opens: the list item plus per-type counts and examples (no
    history: it names the admins who acted)."""

    by_type: dict[str, ChangeTotals]
    examples: list[dict[str, Any]]
    csv_url: str | None
    quarantine: QuarantineReport | None = None  # of the district's latest sync


class SchoolReport(LinkedReport):
    """The school's SIS sync report: the list item plus per-type counts, examples and history."""

    history: list[AuditEntry]


class CsvDownload(BaseModel):
    """A change CSV too large to return inline: fetch it from `url` (no sign-in) within `expires_in` s."""

    url: str
    expires_in: int


class RosterCounts(BaseModel):
    students: int
    teachers: int
    staff: int
    contacts: int
    sections: int


class RosterView(BaseModel):
    counts: RosterCounts
    archived: RosterCounts


# --- actions ------------------------------------------------------------------------------------------


class ClearItem(Body):
    school_id: Id
    sync_id: Id


class ClearRequest(Body):
    schools: Annotated[list[ClearItem], Field(min_length=1, max_length=MAX_SCHOOLS_PER_REQUEST)]


# released: its release started; stale: a newer change set is pending (review it, clear again);
# not_on_hold: nothing to clear; disconnected: the district's Clever connection fails, nothing is
# released until it works again ("I fixed it")
ClearOutcome = Literal["released", "stale", "not_on_hold", "disconnected"]


class ClearResult(BaseModel):
    school_id: str
    result: ClearOutcome
    sync_id: str


class ClearResponse(BaseModel):
    results: list[ClearResult]


class SyncRequest(Body):
    """ "Check for new Clever data": `confirm` must be true (the dashboard's "Yes, Continue")."""

    confirm: bool = False
    school_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_SCHOOLS_PER_REQUEST)] | None = None


class SyncStarted(BaseModel):
    sync_id: str
    already_running: bool = False  # a poll of the district was running: this is its sync id


class ReconnectResponse(BaseModel):
    connection: Connection
    sync_id: str | None = None
    already_running: bool = False
    error: ErrorDetail | None = None


class SyncSchools(BaseModel):
    """What a sync did to each school, by school id (a school still being processed is in none)."""

    held: list[str] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)
    released: list[str] = Field(default_factory=list)  # on hold before; this sync's data released it
    unchanged: list[str] = Field(default_factory=list)


class SyncStatusView(BaseModel):
    """`GET /v1/districts/{d}/syncs/{sync_id}` (DESIGN §7): what a check actually did. `running`
    until the poll and the evaluation of every changed school are done."""

    sync_id: str
    status: SyncStatus
    error: ErrorDetail | None = None
    schools: SyncSchools


class PollRequest(BaseModel):
    """What the API asks poll_clever to do (the handler's own PollRequest reads the same shape)."""

    district_id: str
    sync_id: str
    trigger: str
    school_ids: list[str] | None = None


# --- matching -------------------------------------------------------------------------------------


class Suggestion(BaseModel):
    school_id: str
    name: str
    match: Literal["nces_id", "state_id", "name"]
    score: float


class CleverSchoolView(BaseModel):
    clever_school_id: str
    name: str
    nces_id: str
    state_id: str
    first_seen_sync_id: str
    suggestions: list[Suggestion]


class CleverSchoolList(BaseModel):
    clever_schools: list[CleverSchoolView]


class MatchItem(Body):
    clever_school_id: Id
    school_id: Id | None = None  # None: add the Clever school as a new school


class MatchRequest(Body):
    matches: Annotated[list[MatchItem], Field(min_length=1, max_length=MAX_SCHOOLS_PER_REQUEST)]


class MatchResult(BaseModel):
    clever_school_id: str
    school_id: str
    result: Literal["linked", "added"]


class MatchResponse(BaseModel):
    results: list[MatchResult]


# --- audit ----------------------------------------------------------------------------------------


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None
