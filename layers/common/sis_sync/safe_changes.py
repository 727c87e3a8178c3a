"""Apply safe changes (DESIGN §7): split a held change set into what can be applied now and what waits.

Safe: additions and updates of people, contacts and sections that no hold rule can fire on, alone or
together (`rules.triggers`: the rules answer for themselves). Everything else waits for an admin:
removals and re-issued ids, contacts that add a blocked relationship type or could bring a student to
`max_guardians`, and any change that links a record whose own change waits (a contact or a section
naming a re-issued student's new id), so the applied roster never points at a record it lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from sis_sync.changes import Change, ChangeSet, apply_change_set
from sis_sync.rules import ChangeKey, change_key, triggers
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType

_SAFE_KINDS: Final = frozenset({"added", "updated"})
# The record types each type refers to, and in which fields (ids, or lists of ids).
_REFERENCES: Final[dict[RecordType, tuple[tuple[str, RecordType], ...]]] = {
    "contact": (("relationships", "student"),),
    "section": (("students", "student"), ("teachers", "teacher")),
}


@dataclass(frozen=True)
class Split:
    """The change set in two parts: `safe` to apply now, `held` to keep pending (a partition)."""

    safe: ChangeSet
    held: ChangeSet


def split(change_set: ChangeSet, previous: Records | None, thresholds: HoldThresholds) -> Split:
    """Split `change_set` (from the applied records `previous`) into its safe part and the rest."""
    applied = previous or {}
    waiting = triggers(change_set, applied, thresholds)
    first_pass = [
        change for change in change_set if change.kind in _SAFE_KINDS and change_key(change) not in waiting
    ]
    present = _present_after(applied, first_pass)
    safe_keys = {change_key(change) for change in first_pass if _references_present(change, present)}
    return Split(
        safe=_part(change_set, lambda key: key in safe_keys),
        held=_part(change_set, lambda key: key not in safe_keys),
    )


def safe_records(previous: Records | None, parts: Split) -> Records:
    """The applied records with the safe part applied: the roster an apply-safe leaves."""
    return apply_change_set(previous, parts.safe)


def _part(change_set: ChangeSet, keep: Callable[[ChangeKey], bool]) -> ChangeSet:
    # previous_counts stay those of the whole: the held part is still measured against the roster
    # its removals were counted against
    return ChangeSet(
        changes={
            record_type: [change for change in change_set.of_type(record_type) if keep(change_key(change))]
            for record_type in RECORD_TYPES
        },
        previous_counts=dict(change_set.previous_counts),
    )


def _present_after(applied: Records, safe: list[Change]) -> dict[RecordType, set[str]]:
    """Ids of each referenced type once the safe part is applied (a safe change never removes)."""
    referenced: tuple[RecordType, ...] = ("student", "teacher")
    present = {
        record_type: {record["id"] for record in applied.get(record_type, [])} for record_type in referenced
    }
    for change in safe:
        if change.record_type in present:
            present[change.record_type].add(change.clever_id)
    return present


def _references_present(change: Change, present: dict[RecordType, set[str]]) -> bool:
    """Every record the change newly refers to exists once the safe part is applied."""
    return all(
        referenced in present[record_type]
        for field, record_type in _REFERENCES.get(change.record_type, ())
        for referenced in _new_references(change, field)
    )


def _new_references(change: Change, field: str) -> Iterator[str]:
    old = set(_references(change.previous, field))
    return (referenced for referenced in _references(change.record, field) if referenced not in old)


def _references(record: Record | None, field: str) -> Iterator[str]:
    if record is None:
        return
    for value in record.get(field, ()):
        yield value["student"] if isinstance(value, dict) else value


__all__ = ["Split", "safe_records", "split"]
