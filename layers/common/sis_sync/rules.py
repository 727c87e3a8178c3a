"""Hold rules (DESIGN §1): decide whether a school's change set waits for a district admin.

Each rule looks at the change set, not the whole snapshot, and returns the hold it raises (with
counts, the threshold that fired and a few examples) plus the changes that made it fire, which the
changes CSV marks in its `hold_reasons` column. Examples carry ids and names only: an admin needs to
recognise the people, not read their contact details.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from operator import attrgetter
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from sis_sync.changes import Change, ChangeSet, collector_paused, diff, display_name
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType, Snapshot

MAX_EXAMPLES: Final = 20


class HoldReason(StrEnum):
    LARGE_REMOVALS = "large_removals"
    TOO_MANY_PARENT_CONNECTIONS = "too_many_parent_connections"
    EMERGENCY_CONTACTS = "emergency_contacts"
    DISCONNECTED = "disconnected"  # raised by the poller when Clever fails, never by a change set
    UNDONE = "undone"  # an admin undid the applied change set (DESIGN §7): an admin decides again
    # the first sync after Clever's pause of the district removes above the thresholds (sis_sync.pause)
    AFTER_PAUSE = "after_pause"


class Hold(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: HoldReason
    detail: dict[str, Any]


ChangeKey = tuple[RecordType, str]  # (record_type, clever_id) is unique within a change set


def change_key(change: Change) -> ChangeKey:
    return change.record_type, change.clever_id


@dataclass(frozen=True)
class Fired:
    """A rule's verdict: the hold, and the changes that made it fire."""

    hold: Hold
    changes: list[Change]


class ReasonsByChange(Mapping[ChangeKey, tuple[HoldReason, ...]]):
    """The hold reasons of each change that has any, by `change_key`, kept per record type by Clever
    id: a re-key gives each of its ~285k changes a reason, and a key tuple for each cost time to
    build, to look up (the CSV's rows) and to free."""

    def __init__(self, by_type: dict[RecordType, dict[str, tuple[HoldReason, ...]]]) -> None:
        self._by_type = by_type

    def of_type(self, record_type: RecordType) -> Mapping[str, tuple[HoldReason, ...]]:
        """One record type's changes' reasons, by Clever id."""
        return self._by_type.get(record_type, {})

    def __getitem__(self, key: ChangeKey) -> tuple[HoldReason, ...]:
        record_type, clever_id = key
        return self._by_type[record_type][clever_id]

    def __iter__(self) -> Iterator[ChangeKey]:
        return (
            (record_type, clever_id) for record_type, by_id in self._by_type.items() for clever_id in by_id
        )

    def __len__(self) -> int:
        return sum(map(len, self._by_type.values()))


@dataclass(frozen=True)
class Evaluation:
    change_set: ChangeSet
    holds: tuple[Hold, ...]
    reasons_by_change: ReasonsByChange

    @property
    def held(self) -> bool:
        return bool(self.holds)

    @property
    def reasons(self) -> tuple[HoldReason, ...]:
        return tuple(hold.reason for hold in self.holds)

    def reasons_for(self, change: Change) -> tuple[HoldReason, ...]:
        return self.reasons_by_change.of_type(change.record_type).get(change.clever_id, ())


def evaluate(
    previous: Snapshot | Records | None,
    current: Snapshot | Records,
    thresholds: HoldThresholds,
    *,
    pause: dict[str, Any] | None = None,
) -> Evaluation:
    """Diff the applied roster (None on a first sync) against the new one and run every rule."""
    previous_records = _records(previous) if previous is not None else None
    current_records = _records(current)
    # one pause for both: a collection in between would only rescan both rosters and the change set
    with collector_paused():
        change_set = diff(previous_records, current_records)
        return judge(change_set, previous_records or {}, current_records, thresholds, pause=pause)


def judge(
    change_set: ChangeSet,
    previous: Records,
    current: Records,
    thresholds: HoldThresholds,
    *,
    pause: dict[str, Any] | None = None,
) -> Evaluation:
    """Run every rule on a change set from `previous` (the applied records) to `current`; `pause`
    (Clever's pause it is the first sync after, `sis_sync.pause`) notes that on large removals."""
    with collector_paused():
        removals = large_removals(change_set, thresholds)
        verdicts = [
            removals,
            after_pause(removals, pause),
            too_many_parent_connections(change_set, previous, current, thresholds),
            emergency_contacts(change_set, thresholds),
        ]
        fired = [verdict for verdict in verdicts if verdict is not None]
        # still paused: a re-key gives every change a reason, and its key tuples would set off
        # collections that rescan both parsed rosters
        reasons_by_change = _reasons_by_change(fired)
    return Evaluation(
        change_set=change_set,
        holds=tuple(verdict.hold for verdict in fired),
        reasons_by_change=reasons_by_change,
    )


def _records(snapshot: Snapshot | Records) -> Records:
    return snapshot.records if isinstance(snapshot, Snapshot) else snapshot


_record_type: Final = attrgetter("record_type")


def _reasons_by_change(fired: list[Fired]) -> ReasonsByChange:
    by_type: dict[RecordType, dict[str, tuple[HoldReason, ...]]] = {}
    if not fired:
        return ReasonsByChange(by_type)
    first, *others = fired
    # the first rule's changes (a re-key gives every change a reason) share one tuple, and take one
    # comprehension per run of a record type (rules list changes type by type)
    first_reason = (first.hold.reason,)
    for record_type, changes in groupby(first.changes, _record_type):
        by_type.setdefault(record_type, {}).update({change.clever_id: first_reason for change in changes})
    for verdict in others:
        reason = verdict.hold.reason
        for change in verdict.changes:
            by_id = by_type.setdefault(change.record_type, {})
            had = by_id.get(change.clever_id, ())
            if reason not in had:
                by_id[change.clever_id] = (*had, reason)
    return ReasonsByChange(by_type)


# --- large_removals ----------------------------------------------------------------------------

_GONE: Final = frozenset({"removed", "source_id_changed"})  # Clever's re-issued ids count as removals


def large_removals(change_set: ChangeSet, thresholds: HoldThresholds) -> Fired | None:
    """Per record type: removed + source-ID-changed is both many and a large share, or simply huge."""
    per_type: dict[str, dict[str, Any]] = {}
    gone_changes: list[Change] = []
    for record_type in RECORD_TYPES:
        gone = [change for change in change_set.of_type(record_type) if change.kind in _GONE]
        previous_count = change_set.previous_counts.get(record_type, 0)
        threshold = _removal_threshold(len(gone), previous_count, thresholds)
        if threshold is None:
            continue
        per_type[record_type] = _removal_counts(gone, previous_count, threshold)
        gone_changes.extend(gone)
    if not per_type:
        return None
    detail = {
        "types": per_type,
        "thresholds": {
            "removal_min_count": thresholds.removal_min_count,
            "removal_pct": thresholds.removal_pct,
            "removal_max_count": thresholds.removal_max_count,
        },
        "examples": [_removal_example(change) for change in gone_changes[:MAX_EXAMPLES]],
    }
    return Fired(Hold(reason=HoldReason.LARGE_REMOVALS, detail=detail), gone_changes)


def _removal_threshold(gone: int, previous_count: int, thresholds: HoldThresholds) -> str | None:
    """The setting that makes `gone` records too many, if any (integer maths: no rounding surprises)."""
    if gone >= thresholds.removal_max_count:
        return "removal_max_count"
    if gone >= thresholds.removal_min_count and gone * 100 >= thresholds.removal_pct * previous_count:
        return "removal_pct"
    return None


def _removal_counts(gone: list[Change], previous_count: int, threshold: str) -> dict[str, Any]:
    removed = sum(1 for change in gone if change.kind == "removed")
    return {
        "removed": removed,
        "source_id_changed": len(gone) - removed,
        "previous": previous_count,
        "pct": round(100 * len(gone) / previous_count, 1) if previous_count else None,
        "threshold": threshold,
    }


def _removal_example(change: Change) -> dict[str, str]:
    example = {"record_type": change.record_type, "change": change.kind, "clever_id": change.clever_id}
    if change.previous_clever_id:
        example["previous_clever_id"] = change.previous_clever_id
    example["name"] = change.name
    return example


def after_pause(removals: Fired | None, pause: dict[str, Any] | None) -> Fired | None:
    """The first sync after Clever's pause of the district, when it removes above the thresholds: a
    whole summer of SIS changes arrives at once, so the admin is told why (the pause's dates) on
    the same removals. It never fires alone: the removals hold the change set, this says why."""
    if removals is None or pause is None:
        return None
    return Fired(Hold(reason=HoldReason.AFTER_PAUSE, detail=dict(pause)), removals.changes)


# --- too_many_parent_connections ---------------------------------------------------------------


def too_many_parent_connections(
    change_set: ChangeSet, previous: Records, current: Records, thresholds: HoldThresholds
) -> Fired | None:
    """Students who reach `max_guardians` linked contacts now and had fewer in the applied roster.

    Only a contact change can add a link. A student's count is its links from the contacts the
    change set leaves alone (counted once, for both rosters) plus those of the changed contacts' new
    versions (now) or applied ones (before, read only if someone reaches the limit now): no contact
    is read twice, so a re-key, which changes every contact, is not also a pass over the roster.
    The changed contacts' applied versions are among `previous` (the change set is from it).
    """
    contact_changes = change_set.of_type("contact")
    applied_id = _applied_student_ids(change_set)
    linked_now = _links([change.record for change in contact_changes])
    touched = set(linked_now).union(applied_id.keys())
    if not touched:
        return None
    unchanged = _unchanged_contacts(previous.get("contact", []), contact_changes)
    # each student under both ids, its applied one too (touched holds every re-keyed student's new id)
    kept = _guardian_counts(unchanged, touched.union(applied_id.values())) if unchanged else Counter[str]()
    now = kept.copy()  # copy and update(): Counter's `+` loops over every student in Python
    now.update(linked_now)
    limit = thresholds.max_guardians
    reaching = sorted(student for student in touched if now[student] >= limit)
    if not reaching:  # the usual case: then the applied versions' links need not be counted
        return None
    before = kept.copy()
    before.update(_links([change.previous for change in contact_changes]))
    flagged = {
        student: (now[student], before[applied_id.get(student, student)])
        for student in reaching
        if limit > before[applied_id.get(student, student)]
    }
    if not flagged:
        return None
    linking = [change for change in contact_changes if _newly_linked(change, applied_id) & flagged.keys()]
    shown = dict(list(flagged.items())[:MAX_EXAMPLES])
    names = _student_names(current.get("student", []), shown.keys())
    guardians = _guardians(current.get("contact", []), linking, shown.keys(), applied_id)
    detail = {
        "max_guardians": limit,
        "students": len(flagged),
        "contacts": len(linking),  # the CSV rows that carry this reason
        "examples": [
            {
                "clever_id": student,
                "name": names.get(student, ""),
                "guardians": count,
                "previously": before_count,
                "contacts": guardians[student],
            }
            for student, (count, before_count) in shown.items()
        ],
    }
    return Fired(Hold(reason=HoldReason.TOO_MANY_PARENT_CONNECTIONS, detail=detail), linking)


def _applied_student_ids(change_set: ChangeSet) -> dict[str, str]:
    """New student id -> the id the applied roster knows the student by, for re-issued ids."""
    return {
        change.clever_id: change.previous_clever_id
        for change in change_set.of_type("student")
        if change.kind == "source_id_changed"
    }


def _linked(contact: Record | None) -> set[str]:
    """The students a contact is linked to; two relationships to one student are one link."""
    if contact is None:
        return set()
    return {relationship["student"] for relationship in contact.get("relationships", ())}


def _links(contacts: list[Record | None]) -> list[str]:
    """The students each contact is linked to (`_linked`), in one list: a student is there once per
    contact linking it. A re-key passes every contact here: no set or call is made per contact,
    unless one has several relationships (two to one student are one link)."""
    relationships = [contact.get("relationships", ()) for contact in contacts if contact is not None]
    if max(map(len, relationships), default=0) <= 1:
        return [relationship["student"] for each in relationships for relationship in each]
    return [student for each in relationships for student in {link["student"] for link in each}]


def _newly_linked(change: Change, applied_id: dict[str, str]) -> set[str]:
    before = _linked(change.previous)
    return {student for student in _linked(change.record) if applied_id.get(student, student) not in before}


def _guardians(
    contacts: Iterable[Record], linking: list[Change], students: Iterable[str], applied_id: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Every contact each of `students` now has, by name, the newly linked ones marked `new`: the
    admin sees whom to unlink. One pass over the new contacts, only when the rule fired."""
    guardians: dict[str, list[dict[str, Any]]] = {student: [] for student in students}
    new = {
        (student, change.clever_id)
        for change in linking
        for student in _newly_linked(change, applied_id) & guardians.keys()
    }
    for contact in contacts:
        for student in _linked(contact) & guardians.keys():
            guardians[student].append(
                {"clever_id": contact["id"], "name": contact["name"], "new": (student, contact["id"]) in new}
            )
    return guardians


def _unchanged_contacts(contacts: list[Record], changes: list[Change]) -> list[Record]:
    """The contacts no change replaces or removes, by the id their applied version has."""
    # That id is on the change (the old id of a re-issued one, else its id): reading it from the
    # applied versions would visit each, in change order, long after they were parsed.
    changed = {
        change.previous_clever_id or change.clever_id for change in changes if change.previous is not None
    }
    if len(changed) == len(contacts):  # each applied one is changed (a re-key): no pass over them
        return []  # (`changed` holds ids of applied contacts only, each once)
    return [contact for contact in contacts if contact["id"] not in changed]


def _guardian_counts(contacts: Iterable[Record], students: set[str]) -> Counter[str]:
    """Contacts linked to each of `students`: one tight pass, as it runs over every applied contact."""
    counts: Counter[str] = Counter()
    for contact in contacts:
        for student in {relationship["student"] for relationship in contact["relationships"]}:
            if student in students:
                counts[student] += 1
    return counts


def _student_names(students: Iterable[Record], wanted: Iterable[str]) -> dict[str, str]:
    wanted = set(wanted)
    return {record["id"]: display_name("student", record) for record in students if record["id"] in wanted}


# --- emergency_contacts ------------------------------------------------------------------------


def emergency_contacts(change_set: ChangeSet, thresholds: HoldThresholds) -> Fired | None:
    """Contact relationships of a blocked type that the applied roster did not have.

    A relationship is (contact, student, type); a contact or student under a re-issued Clever id is
    the same contact or student, and a type differing only in case is the same type.
    """
    blocked = {contact_type.casefold() for contact_type in thresholds.blocked_contact_types}
    if not blocked:
        return None
    contacts = change_set.of_type("contact")
    if not _blocked_types_among(contacts, blocked):  # the usual change set, told without a call per contact
        return None
    applied_id = _applied_student_ids(change_set)
    examples: list[dict[str, str]] = []
    by_type: Counter[str] = Counter()
    contributing: list[Change] = []
    for change in contacts:
        if not _has_blocked_type(change.record, blocked):  # the usual contact, checked cheaply
            continue
        new_relationships = _new_blocked_relationships(change, blocked, applied_id)
        if not new_relationships:
            continue
        contributing.append(change)
        by_type.update(relationship["type"] for relationship in new_relationships)
        examples.extend(
            {
                "clever_id": change.clever_id,
                "name": change.name,
                "student": rel["student"],
                "type": rel["type"],
            }
            for rel in new_relationships
        )
    if not contributing:
        return None
    detail = {
        "blocked_contact_types": list(thresholds.blocked_contact_types),
        "relationships": sum(by_type.values()),
        "contacts": len(contributing),
        "by_type": dict(sorted(by_type.items())),
        "examples": examples[:MAX_EXAMPLES],
    }
    return Fired(Hold(reason=HoldReason.EMERGENCY_CONTACTS, detail=detail), contributing)


def _blocked_types_among(changes: list[Change], blocked: set[str]) -> bool:
    """Whether a new contact has a relationship of a blocked type: the change set's few distinct
    types are looked at, not each relationship (a re-key has every contact)."""
    types = {
        relationship["type"]
        for change in changes
        if change.record is not None
        for relationship in change.record.get("relationships", ())
    }
    return any(contact_type.casefold() in blocked for contact_type in types)


def _has_blocked_type(contact: Record | None, blocked: set[str]) -> bool:
    if contact is None:
        return False
    for relationship in contact.get("relationships", ()):
        if relationship["type"].casefold() in blocked:
            return True
    return False


def _new_blocked_relationships(
    change: Change, blocked: set[str], applied_id: dict[str, str]
) -> list[dict[str, str]]:
    if change.record is None:
        return []
    new_blocked = [rel for rel in change.record.get("relationships", ()) if rel["type"].casefold() in blocked]
    if not new_blocked:  # the usual contact: no need to index what it had before
        return []
    before = {
        (relationship["student"], relationship["type"].casefold())
        for relationship in (change.previous or {}).get("relationships", ())
    }
    return [
        relationship
        for relationship in new_blocked
        if (
            applied_id.get(relationship["student"], relationship["student"]),
            relationship["type"].casefold(),
        )
        not in before
    ]


# --- which changes can make a rule fire (apply safe changes) ------------------------------------


def triggers(change_set: ChangeSet, previous: Records, thresholds: HoldThresholds) -> set[ChangeKey]:
    """Every change that could make a rule fire, alone or with any others of the change set: the
    rest can be applied now without tripping a rule (`sis_sync.safe_changes`). Each rule answers
    for itself, with the code that decides it (`after_pause` fires on large removals' changes only,
    which `removal_triggers` has)."""
    fired_emergency = emergency_contacts(change_set, thresholds)
    return {
        change_key(change)
        for change in (
            *removal_triggers(change_set),
            *guardian_triggers(change_set, previous, thresholds),
            *(fired_emergency.changes if fired_emergency else ()),  # any one new blocked type fires
        )
    }


def removal_triggers(change_set: ChangeSet) -> list[Change]:
    """Every removal and re-issued id, whatever the thresholds: removals wait for an admin."""
    return [change for change in change_set if change.kind in _GONE]


def guardian_triggers(change_set: ChangeSet, previous: Records, thresholds: HoldThresholds) -> list[Change]:
    """The contact changes newly linking a student whom they could bring to `max_guardians`.

    Unlinks may be held too (a removed contact), so a student is at risk when its applied count
    plus every new link reaches the limit, whatever the change set takes away: applying any subset
    of the other changes cannot bring it there. Students are counted under their applied ids.
    """
    contact_changes = change_set.of_type("contact")
    applied_id = _applied_student_ids(change_set)
    newly: dict[int, set[str]] = {}
    links: Counter[str] = Counter()
    for change in contact_changes:
        linked = {applied_id.get(student, student) for student in _newly_linked(change, applied_id)}
        if linked:
            newly[id(change)] = linked
            links.update(linked)
    if not links:
        return []
    before = _guardian_counts(previous.get("contact", []), set(links))
    limit = thresholds.max_guardians
    at_risk = {student for student, new in links.items() if before[student] < limit <= before[student] + new}
    return [change for change in contact_changes if newly.get(id(change), set()) & at_risk]


__all__ = [
    "MAX_EXAMPLES",
    "ChangeKey",
    "Evaluation",
    "Fired",
    "Hold",
    "HoldReason",
    "ReasonsByChange",
    "after_pause",
    "change_key",
    "emergency_contacts",
    "evaluate",
    "guardian_triggers",
    "judge",
    "large_removals",
    "removal_triggers",
    "too_many_parent_connections",
    "triggers",
]
