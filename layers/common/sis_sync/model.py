"""The state sis-sync keeps about districts, schools and sync runs (the state table's items)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sis_sync.rules import Hold, HoldReason
from sis_sync.settings import DistrictSettings
from sis_sync.snapshot import RecordType


class SchoolStatus(StrEnum):
    CONNECTED = "connected"
    ON_HOLD = "on_hold"
    NOT_CONNECTED = "not_connected"
    DISCONNECTED = "disconnected"


class Connection(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ErrorInfo(Item):
    code: str
    message: str
    at: datetime


class CleverPause(Item):
    """Clever's pause of the district's sync (its summer pause), as the last poll during it read it.
    Kept after the pause so that the first sync after it is known (`sis_sync.pause`)."""

    start: datetime | None = None
    end: datetime | None = None  # None: Clever named no end
    # the first sync whose pull completed after the pause: None while the district is paused
    first_sync_id: str | None = None

    @property
    def active(self) -> bool:
        return self.first_sync_id is None


class District(Item):
    district_id: str
    name: str
    clever_district_id: str
    admin_emails: list[str] = Field(default_factory=list)
    settings: DistrictSettings = DistrictSettings()
    settings_version: int = 0  # bumped by every settings change; a change is saved only over the one read
    connection: Connection = Connection.CONNECTED
    last_error: ErrorInfo | None = None
    consecutive_failures: int = 0
    onboarded: bool = False  # set by the first successful sync, which matches every shared school
    last_sync_at: datetime | None = None
    last_sync_id: str | None = None
    next_poll_at: datetime | None = None
    clever_pause: CleverPause | None = None  # Clever's latest pause of the district (sis_sync.pause)


class SnapshotRef(Item):
    sync_id: str
    key: str
    sha256: str


class Decision(StrEnum):
    """What evaluation decided for a school's new snapshot (drives the state machine's Choice)."""

    HOLD = "hold"
    APPLY = "apply"
    UNCHANGED = "unchanged"


class PendingChange(SnapshotRef):
    """A change set evaluated and waiting: for an admin (hold) or for apply_changes (apply)."""

    decision: Decision
    evaluated_at: datetime
    csv_key: str
    # how many of its changes trip no rule (apply safe changes, DESIGN §7); None: not counted
    # (a change set evaluated before apply-safe existed; apply_changes finds out)
    safe_changes: int | None = None


class SafeApplied(Item):
    """The safe part of the pending change set `sync_id`, applied while the rest waits."""

    sync_id: str
    at: datetime
    actor: str
    changes: dict[str, Any]  # ChangeSet.summary() of what was applied


class AppliedChange(Item):
    """The school's most recently applied change set, as Undo (DESIGN §7) needs it: when it was first
    applied (an applied safe part counts) and the applied snapshot it replaced (None: the first sync)."""

    sync_id: str
    at: datetime
    before: SnapshotRef | None = None


class School(Item):
    district_id: str
    school_id: str
    name: str
    clever_school_id: str | None = None
    nces_id: str = ""
    state_id: str = ""
    status: SchoolStatus = SchoolStatus.NOT_CONNECTED
    applied: SnapshotRef | None = None
    pending: PendingChange | None = None
    latest_sync_id: str | None = None  # the newest sync evaluated; an older one finishing late loses
    holds: list[Hold] = Field(default_factory=list)
    notified_reasons: list[str] = Field(default_factory=list)  # the hold reasons already e-mailed
    changes: dict[str, Any] = Field(default_factory=dict)  # the latest change set's summary
    last_synced_at: datetime | None = None
    # Change sets whose roster writes began but whose commit never happened (a lost race, a
    # crash): the roster may hold some of their items, which the next apply puts right.
    dirty: dict[str, SnapshotRef] = Field(default_factory=dict)
    safe_applied: SafeApplied | None = None  # meaningful while its sync_id is the pending one
    last_applied: AppliedChange | None = None  # what Undo reverts; None once undone
    version: int = 0  # bumped by every write; evaluation writes only over the version it read

    @property
    def pending_sync_id(self) -> str | None:
        """The sync id an admin approves with Clear holds (only while on hold)."""
        return self.pending.sync_id if self.pending and self.status is SchoolStatus.ON_HOLD else None

    @property
    def undone_applied_at(self) -> str | None:
        """When the change set an admin undid had been applied (its `undone` hold's detail), None when
        no undone change set waits. Stored beside the holds (StateTable), so that Clear holds reads
        this, not every school's holds with their details."""
        undone = next((hold for hold in self.holds if hold.reason is HoldReason.UNDONE), None)
        return None if undone is None else str(undone.detail.get("applied_at", ""))

    def latest_sha256(self) -> str | None:
        """The content this school was last judged on, when that judgement is settled: its held
        change set (once its admins were told), else what is applied. A poll that finds this same
        content again has nothing to do; anything else is evaluated again."""
        held = self.pending if self.pending and self.pending.decision is Decision.HOLD else None
        if held is not None:
            told = {hold.reason for hold in self.holds} <= set(self.notified_reasons)
            return held.sha256 if told else None  # the hold e-mail failed: evaluate (and mail) again
        return self.applied.sha256 if self.applied else None


class CleverSchool(Item):
    """A school Clever shares with us that no school of the district is matched to yet."""

    district_id: str
    clever_school_id: str
    name: str
    nces_id: str = ""
    state_id: str = ""
    first_seen_sync_id: str


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncSchool(Item):
    school_id: str
    clever_school_id: str
    snapshot_key: str
    sha256: str
    counts: dict[RecordType, int]


class QuarantineEntry(Item):
    """One record or reference a poll set aside (`sis_sync.snapshot.QuarantinedRecord`)."""

    reason: str
    record_type: RecordType
    clever_id: str
    name: str = ""
    detail: str = ""
    clever_school_ids: list[str] = Field(default_factory=list)


class SyncRun(Item):
    district_id: str
    sync_id: str
    trigger: str
    status: SyncStatus = SyncStatus.RUNNING
    started_at: datetime
    finished_at: datetime | None = None
    # The changed schools go to the evaluate machine through an S3 manifest (a district of 1,800
    # schools outgrows a DynamoDB item); the stored run keeps their count and the manifest's key.
    changed_schools: list[SyncSchool] = Field(default_factory=list, exclude=True)
    changed_count: int = 0
    manifest_key: str | None = None
    unchanged_school_ids: list[str] = Field(default_factory=list)
    # What the poll set aside (counts per reason: duplicate_ids, dangling_references,
    # without_school, no_role), the first few of each with a name and a school, and how many
    # people hold more than one role: shown by the sync status and the school report.
    quarantine: dict[str, int] = Field(default_factory=dict)
    quarantined: list[QuarantineEntry] = Field(default_factory=list)
    multi_role: int = 0
    requests: int = 0
    # what the pull read: the next poll of the district is capped relative to these
    pages: int = 0
    records: int = 0
    error: ErrorInfo | None = None
    clever_paused: bool = False  # Clever paused the district: the poll read nothing (sis_sync.pause)
    execution_arn: str | None = None
    # written by the evaluate flow itself (statemachine/evaluate.asl.json): read, never put back
    failed_schools: list[str] = Field(default_factory=list, exclude=True)
    last_error: dict[str, str] | None = Field(default=None, exclude=True)


class SchoolOutcome(StrEnum):
    """What one sync did to one of its changed schools (GET …/syncs/{sync_id})."""

    HELD = "held"
    RELEASED = "released"  # the school was on hold; this sync's data released it (clean or unchanged)
    APPLYING = "applying"  # clean changes, applied by the flow (`applied` once committed)
    UNCHANGED = "unchanged"  # nothing differs from the applied roster
    SUPERSEDED = "superseded"  # a newer sync decided for the school first


class SyncSchoolOutcome(Item):
    district_id: str
    sync_id: str
    school_id: str
    outcome: SchoolOutcome
    settled: bool  # nothing more will happen to the school under this sync
    applied: bool = False


class AuditEntry(Item):
    district_id: str
    at: datetime
    actor: str  # an admin's e-mail, or "system" for automatic decisions
    action: str
    school_ids: list[str] = Field(default_factory=list)
    sync_ids: list[str] = Field(default_factory=list)
    result: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)
