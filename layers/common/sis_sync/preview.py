"""Threshold preview (issue 12): what the hold rules would decide for change sets already evaluated,
under thresholds an admin is considering.

Evaluation stores each change set together with the few applied records the rules read beyond it
(the applied contacts of the students its contact changes touch), so a preview judges it again with
`rules.judge` — the code that decides holds — without reading and diffing whole snapshots again.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sis_sync.changes import ChangeSet, from_document, to_document
from sis_sync.rules import HoldReason, judge
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Record, Records

DOCUMENT_FORMAT: Final = 1
COMPRESS_LEVEL: Final = 6  # ~5x smaller than the JSON at a small share of the evaluation's time


@dataclass(frozen=True)
class StoredChangeSet:
    """A change set as the rules judge it: the changes, and the applied records they read besides."""

    change_set: ChangeSet
    applied: Records


@dataclass(frozen=True)
class Verdict:
    held: bool
    reasons: tuple[HoldReason, ...]


def encode_change_set(change_set: ChangeSet, applied: Records | None) -> bytes:
    """The stored form (gzipped JSON) of `change_set` from the applied records `applied`."""
    document = {
        "format": DOCUMENT_FORMAT,
        "change_set": to_document(change_set),
        "applied_contacts": list(_contacts_of(applied.get("contact", ()) if applied else (), change_set)),
    }
    return gzip.compress(orjson.dumps(document), compresslevel=COMPRESS_LEVEL)


def decode_change_set(body: bytes) -> StoredChangeSet:
    document: dict[str, Any] = orjson.loads(gzip.decompress(body))
    if document.get("format") != DOCUMENT_FORMAT:
        raise ValueError(f"unsupported stored change set format {document.get('format')!r}")
    return StoredChangeSet(
        change_set=from_document(document["change_set"]),
        applied={"contact": document["applied_contacts"]},
    )


def judge_stored(stored: StoredChangeSet, thresholds: HoldThresholds) -> Verdict:
    """The rules' decision on a stored change set. The new roster is not stored: the rules read it
    only to name students and guardians in a hold's examples, which a preview does not show."""
    evaluation = judge(stored.change_set, stored.applied, {}, thresholds)
    return Verdict(held=evaluation.held, reasons=evaluation.reasons)


def _contacts_of(contacts: Iterable[Record], change_set: ChangeSet) -> Iterable[Record]:
    """The applied contacts linked to any student a contact change links or unlinks, under either
    of its ids: a superset of those whose guardian counts the parent-connections rule reads, for
    any `max_guardians` (the rule counts only the students it looks at)."""
    students = {
        relationship["student"]
        for change in change_set.of_type("contact")
        for version in (change.record, change.previous)
        if version is not None
        for relationship in version.get("relationships", ())
    }
    students |= {
        clever_id
        for change in change_set.of_type("student")
        if change.kind == "source_id_changed"
        for clever_id in (change.clever_id, change.previous_clever_id)
    }
    if not students:
        return
    for contact in contacts:
        if any(relationship["student"] in students for relationship in contact["relationships"]):
            yield contact


Reader = Callable[[str], StoredChangeSet | None]  # sync id -> the stored change set, if kept


@dataclass(frozen=True)
class Compared:
    """One change set judged under the thresholds in force and under the proposed ones (None: not
    stored, e.g. evaluated before previews existed, or expired)."""

    sync_id: str
    current: Verdict | None
    proposed: Verdict | None


def compare(
    sync_ids: Iterable[str], read: Reader, current: HoldThresholds, proposed: HoldThresholds
) -> list[Compared]:
    """Each change set read once and judged twice, in the order given."""
    compared = []
    for sync_id in sync_ids:
        stored = read(sync_id)
        if stored is None:
            compared.append(Compared(sync_id, None, None))
            continue
        compared.append(Compared(sync_id, judge_stored(stored, current), judge_stored(stored, proposed)))
    return compared


__all__ = [
    "Compared",
    "StoredChangeSet",
    "Verdict",
    "compare",
    "decode_change_set",
    "encode_change_set",
    "judge_stored",
]
