"""Request and response bodies of the admin API (DESIGN §4); the OpenAPI document is built from them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
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


class CleverPauseView(BaseModel):
    """Clever's latest pause of the district's sync (its summer pause, sis_sync.pause)."""

    paused: bool = Field(description="Clever pauses the district now: polls read and apply nothing")
    pause_start: datetime | None
    pause_end: datetime | None = Field(description="when Clever resumes the sync; null: not said")
    first_sync_id: str | None = Field(description="the first sync after the pause; null while paused")


class DistrictView(BaseModel):
    district_id: str
    name: str
    connection: Connection
    last_error: LastError | None
    last_sync_at: datetime | None
    settings: DistrictSettings
    clever_pause: CleverPauseView | None = None  # null: Clever never paused the district (as seen)


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
    apply_safe_changes_automatically: bool | None = None


# --- schools ----------------------------------------------------------------------------------------


class HoldView(BaseModel):
    reason: str
    detail: dict[str, Any]


class ChangeTotals(BaseModel):
    added: int = 0
    updated: int = 0
    removed: int = 0
    source_id_changed: int = 0


# What a school's `changes` (and a report's `by_type`) count: the held change set (`pending`, not
# applied), a clean one being applied (`applying`), the change set applied last (`last_applied`),
# or nothing that still holds (`none`: all zero, e.g. after a hold released itself unapplied).
ChangesKind = Literal["pending", "applying", "last_applied", "none"]


class SchoolView(BaseModel):
    school_id: str
    name: str
    clever_school_id: str | None
    status: SchoolStatus
    holds: list[HoldView]
    pending_sync_id: str | None
    last_synced_at: datetime | None
    changes: ChangeTotals
    changes_kind: ChangesKind = Field(
        description="what `changes` counts: held, being applied, applied last, none"
    )
    changes_at: datetime | None = Field(
        description="when the counted change set was evaluated (pending, applying) or applied (last_applied)"
    )
    safe_changes: int | None = Field(
        default=None,
        description="while held (`changes_kind` pending): how many of the held changes trip no rule, which"
        " Apply safe changes applies now (0: none, or applied already); null when not held or not counted",
    )


SCHOOL_PAGE_DEFAULT = 500  # no `limit`: a district of up to 500 schools still comes in one answer
SCHOOL_PAGE_MAX = 500  # a page of held schools with their hold examples stays well under 6 MB


class SchoolSort(StrEnum):
    """The school list's orders; `-` descending. `status`: on hold first, then disconnected, not
    connected, connected (what needs the admin first). Ties go by name, then school id."""

    STATUS = "status"
    STATUS_DESC = "-status"
    NAME = "name"
    NAME_DESC = "-name"
    LAST_SYNCED_AT = "last_synced_at"  # never synced first, then the longest ago
    LAST_SYNCED_AT_DESC = "-last_synced_at"  # the latest first, never synced last


class SchoolCounts(BaseModel):
    """How many schools of the whole district have each status (whatever the filter and page)."""

    all: int
    on_hold: int
    connected: int
    disconnected: int
    not_connected: int


class SchoolList(BaseModel):
    schools: list[SchoolView]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )
    total: int = Field(description="schools matching `status` (all pages)")
    counts: SchoolCounts


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


class UndoView(BaseModel):
    """The applied change set Undo would take back: offered until `until` (30 days after its apply)."""

    sync_id: str
    applied_at: datetime
    until: datetime
    changes: ChangeTotals | None = Field(description="what it changed, when still known")


class SchoolReport(LinkedReport):
    """The school's SIS sync report: the list item plus per-type counts, examples and history."""

    history: list[AuditEntry]
    undo: UndoView | None = None  # the change set an admin can still undo, if any


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


class ApplySafeRequest(Body):
    """Apply safe changes: the same shape as Clear holds, one pending change set per school."""

    schools: Annotated[list[ClearItem], Field(min_length=1, max_length=MAX_SCHOOLS_PER_REQUEST)]


# applied_safe: its safe part is being applied (in the background), the rest stays on hold;
# nothing_safe: every change of it waits for review (or its safe part was applied already);
# stale, not_on_hold, disconnected: as for Clear holds, and nothing is applied
ApplySafeOutcome = Literal["applied_safe", "stale", "not_on_hold", "nothing_safe", "disconnected"]


class ApplySafeResult(BaseModel):
    school_id: str
    result: ApplySafeOutcome
    sync_id: str
    safe_changes: int | None = None  # how many changes apply now, when known


class ApplySafeResponse(BaseModel):
    results: list[ApplySafeResult]


class UndoRequest(Body):
    """Undo: the school's most recently applied change set, named by its sync id."""

    sync_id: Id


class UndoResponse(BaseModel):
    school_id: str
    sync_id: str
    result: Literal["undoing"] = Field(description="the undo started; it runs in the background")


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


class SyncHistorySchools(BaseModel):
    """A past sync's schools: held, applied and released by id; how many it found unchanged."""

    held: list[str] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)
    released: list[str] = Field(default_factory=list)
    unchanged: int = 0


class SyncHistoryEntry(BaseModel):
    sync_id: str
    trigger: str = Field(
        description="schedule, manual (Check for new Clever data), reconnect (I fixed it), operator"
    )
    started_at: datetime
    finished_at: datetime | None
    status: SyncStatus
    error: ErrorDetail | None = None
    schools: SyncHistorySchools


class SyncHistoryPage(BaseModel):
    """`GET /v1/districts/{d}/syncs`: the district's syncs, newest first, a page at a time."""

    syncs: list[SyncHistoryEntry]
    next_cursor: str | None


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


# --- threshold preview ----------------------------------------------------------------------------

PreviewEffect = Literal["newly_held", "no_longer_held", "reasons_changed", "same", "unknown"]


class VerdictView(BaseModel):
    held: bool
    reasons: list[str]


class ChangeSetPreview(BaseModel):
    sync_id: str
    happened: Literal["on_hold", "applying", "applied", "released"] = Field(
        description="what became of it: still held, being applied, applied as clean, applied by Clear holds"
    )
    current: VerdictView | None = Field(description="under the thresholds in force; null when not stored")
    proposed: VerdictView | None = Field(description="under the proposed thresholds; null when not stored")
    effect: PreviewEffect = Field(description="`unknown`: the change set is no longer stored (90 days)")


class SchoolPreview(BaseModel):
    school_id: str
    name: str
    status: SchoolStatus
    change_sets: list[ChangeSetPreview] = Field(
        description="the pending change set first, then the last three applied, newest first"
    )
    held_now: bool = Field(description="a change set listed is held under the thresholds in force")
    held_proposed: bool = Field(description="a change set listed is held under the proposed thresholds")


class PreviewSummary(BaseModel):
    schools: int
    held_now: int = Field(description="schools with a change set listed held under the thresholds in force")
    held_proposed: int = Field(description="the same under the proposed thresholds")
    newly_held: int = Field(description="schools with a change set held only under the proposed thresholds")
    no_longer_held: int = Field(description="schools with a change set held only under the current ones")
    change_sets: int
    unknown: int = Field(description="change sets no longer stored, left out of the counts")


class SettingsPreview(BaseModel):
    """`POST /v1/districts/{d}/settings/preview`: the change sets already evaluated, judged again."""

    settings: DistrictSettings = Field(description="the settings the patch would make (not saved)")
    summary: PreviewSummary
    schools: list[SchoolPreview]
