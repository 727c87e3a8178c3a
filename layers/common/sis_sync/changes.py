"""Change sets: what differs between a school's last applied snapshot and the new one.

Built for 100k-student schools: records are looked up by id in dicts, compared whole with `==`
(a C-level dict comparison), and only the records that differ get their changed fields listed.
Records are shared with the snapshots, never copied.

A record that left under one Clever id and came back under another is a `source_id_changed`, not a
removal plus an addition: Clever re-issues ids when a `sis_id` changes, when a user returns after 300+
days, and on every change of a contact without `sis_id` (DESIGN §1).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_, is_not, itemgetter, ne, not_
from typing import Any, Final, Literal, TypedDict, cast

from sis_sync.collector import collector_paused
from sis_sync.snapshot import RECORD_TYPES, Record, Records, RecordType

ChangeKind = Literal["added", "updated", "removed", "source_id_changed"]
CHANGE_KINDS: Final[tuple[ChangeKind, ...]] = ("added", "updated", "removed", "source_id_changed")
DOCUMENT_FORMAT: Final = 1


@dataclass(slots=True)  # not frozen: that costs ~1 µs per field, noticeable at 100k changes
class Change:
    """One record's change (treat as read-only). `clever_id` is the new id, or the old one if removed."""

    kind: ChangeKind
    record_type: RecordType
    clever_id: str
    record: Record | None  # the new record; None when removed
    previous: Record | None  # the applied record; None when added
    previous_clever_id: str = ""  # only for source_id_changed
    changed_fields: tuple[str, ...] = ()  # never lists `id`: a new id is what source_id_changed means

    @property
    def shown(self) -> Record:
        """The version of the record a reader is shown: the new one, or the removed one."""
        shown = self.record if self.record is not None else self.previous
        assert shown is not None
        return shown

    @property
    def name(self) -> str:
        return display_name(self.record_type, self.shown)


def display_name(record_type: RecordType, record: Record) -> str:
    """People show as "first last"; contacts and sections have a single name field."""
    if record_type in ("contact", "section"):
        return str(record.get("name", ""))
    return f"{record.get('first_name', '')} {record.get('last_name', '')}".strip()


class KindCounts(TypedDict):
    added: int
    updated: int
    removed: int
    source_id_changed: int


class ChangeSummary(KindCounts):
    """Totals per kind plus the same counts per record type (stored in DynamoDB, shown by the API)."""

    by_type: dict[RecordType, KindCounts]


@dataclass(frozen=True)
class ChangeSet:
    changes: dict[RecordType, list[Change]]
    previous_counts: dict[RecordType, int]  # what the removal percentages are measured against

    def __iter__(self) -> Iterator[Change]:
        for record_type in RECORD_TYPES:
            yield from self.changes.get(record_type, ())

    def __len__(self) -> int:
        return sum(len(changes) for changes in self.changes.values())

    def of_type(self, record_type: RecordType) -> list[Change]:
        return self.changes.get(record_type, [])

    def summary(self) -> ChangeSummary:
        by_type = {record_type: _count_kinds(self.of_type(record_type)) for record_type in RECORD_TYPES}
        totals = _count_kinds(self)
        return ChangeSummary(**totals, by_type=by_type)


def _count_kinds(changes: Iterable[Change]) -> KindCounts:
    counts = KindCounts(added=0, updated=0, removed=0, source_id_changed=0)
    for change in changes:
        counts[change.kind] += 1
    return counts


# --- diff -------------------------------------------------------------------------------------


def diff(previous: Records | None, current: Records) -> ChangeSet:
    """The change set from the applied records (None on a first sync) to the new ones."""
    with collector_paused():
        return _diff(previous or {}, current)


def _diff(previous: Records, current: Records) -> ChangeSet:
    changes = {
        record_type: _diff_type(record_type, previous.get(record_type, []), current.get(record_type, []))
        for record_type in RECORD_TYPES
    }
    _note_remaining_roles(changes, current)
    previous_counts = {record_type: len(previous.get(record_type, [])) for record_type in RECORD_TYPES}
    return ChangeSet(changes=changes, previous_counts=previous_counts)


PERSON_TYPES: Final[tuple[RecordType, ...]] = ("student", "teacher", "staff", "contact")


def _note_remaining_roles(changes: dict[RecordType, list[Change]], current: Records) -> None:
    """A person who loses one role but keeps another in the school (a teacher who is no longer
    staff) is not a person leaving: the removed role's `changed_fields` says `roles=teacher`."""
    removed = [
        change for kind in PERSON_TYPES for change in changes.get(kind, ()) if change.kind == "removed"
    ]
    if not removed:
        return
    # which removed ids each type still has, found in one C-level scan of its ids (a set of every id
    # of the school would be built for a few removals)
    gone = {change.clever_id for change in removed}
    ids = {kind: gone.intersection(map(_record_id, current.get(kind, []))) for kind in PERSON_TYPES}
    for change in removed:
        kept = [kind for kind in PERSON_TYPES if kind != change.record_type and change.clever_id in ids[kind]]
        if kept:
            change.changed_fields = (f"roles={'+'.join(kept)}",)


def _diff_type(record_type: RecordType, previous: list[Record], current: list[Record]) -> list[Change]:
    if not previous:  # a first sync: every record is an addition (the general path, faster)
        added = _additions(record_type, current)
        added.sort(key=_clever_id)
        return added
    # Where it can, per-record work runs in C (map and compress over the lists): a re-key of a
    # 100k-student district pairs ~285k records, and each Python-level step per record shows.
    previous_by_id = {record["id"]: record for record in previous}
    appeared: list[Record] = []
    updated_olds: list[Record] = []
    updated_news: list[Record] = []
    # Here one Python pass that compares each record while at hand: a C-level pass per step (tried)
    # fetched the kept records (95 % of a roster after a 5 % change) from memory twice, slower.
    for record in current:
        old = previous_by_id.pop(record["id"], None)
        if old is None:
            appeared.append(record)
        elif old != record:
            updated_olds.append(old)
            updated_news.append(record)
    updated = _pair_changes("updated", record_type, updated_olds, updated_news)
    # What no current id took is what vanished, in applied order: no second pass over either roster
    # (ids are unique within a record type: the partitioner quarantines duplicates).
    vanished = list(previous_by_id.values())
    reissued: list[Change] = []
    if vanished and appeared:
        reissued_olds, reissued_news, vanished, appeared = _match_reissued_ids(
            record_type, vanished, appeared
        )
        reissued = _pair_changes("source_id_changed", record_type, reissued_olds, reissued_news)
    added = _additions(record_type, appeared)
    removed = _removals(record_type, vanished)
    # Kinds in CHANGE_KINDS order, each by id: one sort per kind needs no per-change key tuple.
    for changes in (added, updated, removed, reissued):
        changes.sort(key=_clever_id)
    return added + updated + removed + reissued


# Changes are built by map over the records' lists, positional arguments: a listcomp's per-item
# bytecode, or keyword arguments, cost a noticeable share of a 100k-record re-key.
def _additions(record_type: RecordType, records: list[Record]) -> list[Change]:
    kind: ChangeKind = "added"
    return list(
        map(Change, repeat(kind), repeat(record_type), map(_record_id, records), records, repeat(None))
    )


def _removals(record_type: RecordType, records: list[Record]) -> list[Change]:
    kind: ChangeKind = "removed"
    return list(
        map(Change, repeat(kind), repeat(record_type), map(_record_id, records), repeat(None), records)
    )


def _pair_changes(
    kind: ChangeKind, record_type: RecordType, olds: list[Record], news: list[Record]
) -> list[Change]:
    """Updated or source_id_changed records, `olds[i]` the applied version of `news[i]`."""
    previous_ids = map(_record_id, olds) if kind == "source_id_changed" else repeat("")
    # The maps advance together, one pair at a time: a re-key's applied records are reached in
    # the new ids' order, all over memory, and a separate pass per step would fetch each again.
    # (An updated record differs from its applied version by definition: no tuple pre-check.)
    fields = _reissued_fields(olds, news) if kind == "source_id_changed" else map(changed_fields, olds, news)
    return list(
        map(
            Change, repeat(kind), repeat(record_type), map(_record_id, news), news, olds, previous_ids, fields
        )
    )


def _reissued_fields(olds: list[Record], news: list[Record]) -> Iterable[tuple[str, ...]]:
    """`changed_fields` of each re-issued pair.

    Records of text fields only (students, teachers, staff), all of one shape, are first compared
    whole in C, as tuples of every field but `id`: in a re-key nearly all differ in nothing else,
    and only those that do are compared field by field. Records holding lists (contacts'
    relationships, sections' rosters) differ in them in a re-key: those are compared a pair at a
    time, in step with building their changes (a second pass over the applied records, scattered
    in memory, cost more than the tuples saved: measured).
    """
    if not news:
        return []
    first = news[0]
    others = [name for name in first if name != "id"]
    text_only = all(type(first[name]) is str for name in others)
    # one shape: every record as long as the first, and (below) none lacks one of its names
    if not text_only or {*map(len, olds), *map(len, news)} != {len(first)}:
        return map(changed_fields, olds, news)
    values = itemgetter(*others)  # a tuple of them (one value when there is one name)
    try:
        differ = list(compress(range(len(news)), map(ne, map(values, olds), map(values, news))))
    except KeyError:
        return map(changed_fields, olds, news)
    fields: list[tuple[str, ...]] = [()] * len(news)
    for index in differ:
        fields[index] = changed_fields(olds[index], news[index])
    return fields


_clever_id: Final = attrgetter("clever_id")
_record_id: Final = itemgetter("id")


_MISSING: Final = object()


def changed_fields(old: Record, new: Record) -> tuple[str, ...]:
    """Names of the fields whose values differ (a field present on one side only counts), minus `id`."""
    if len(old) == len(new):
        # The usual case, same record type and same shape: as long then, and no name of `new`
        # missing from `old` (a KeyError), means the same names, without comparing the key sets.
        try:
            changed = [name for name, value in new.items() if old[name] != value]
        except KeyError:
            pass
        else:
            if "id" in changed:
                changed.remove("id")
            changed.sort()
            return tuple(changed)
    names = old.keys() | new.keys()
    return tuple(
        sorted(name for name in names if name != "id" and old.get(name, _MISSING) != new.get(name, _MISSING))
    )


# --- re-issued Clever ids ----------------------------------------------------------------------

IdentityKey = tuple[str, ...]
_NON_DIGITS: Final = re.compile(r"\D")


def normalise_name(*parts: str) -> str:
    """Case, Unicode composition and spacing do not make a different person."""
    joined = " ".join(parts)
    if not joined.isascii():
        joined = unicodedata.normalize("NFKC", joined)
    return " ".join(joined.split()).casefold()


_ASCII_NON_DIGITS: Final = bytes(code for code in range(128) if not chr(code).isdigit())


def _digits(phone: str) -> str:
    if phone.isascii():  # bytes.translate deletes in C: ~3x faster than the regex (77k calls in a re-key)
        return phone.encode().translate(None, _ASCII_NON_DIGITS).decode()
    return _NON_DIGITS.sub("", phone)


def _sis_key(record: Record) -> list[IdentityKey]:
    sis_id = record.get("sis_id", "")
    return [("sis_id", sis_id)] if sis_id else []


def _contact_keys(record: Record) -> list[IdentityKey]:
    if record.get("sis_id"):
        return []
    name = normalise_name(record.get("name", ""))
    email = record.get("email", "").strip().casefold()
    phone = _digits(record.get("phone", ""))
    keys: list[IdentityKey] = []
    if email:
        keys.append(("name+email", name, email))
    if phone:
        keys.append(("name+phone", name, phone))
    return keys


def _student_keys(record: Record) -> list[IdentityKey]:
    if record.get("sis_id"):
        return []
    name = normalise_name(record.get("first_name", ""), record.get("last_name", ""))
    dob = record.get("dob", "").strip()
    return [("name+dob", name, dob)] if name and dob else []


# Tried in order: a match on an earlier key wins. Records without `sis_id` of the other types have
# no stable identity to match on, so they stay removed + added.
_IDENTITY_KEYS: Final[dict[RecordType, tuple[Callable[[Record], list[IdentityKey]], ...]]] = {
    "student": (_sis_key, _student_keys),
    "teacher": (_sis_key,),
    "staff": (_sis_key,),
    "contact": (_sis_key, _contact_keys),
    "section": (_sis_key,),
}


# the pairs as two aligned lists (applied records, their new selves), then the unpaired old and new
Paired = tuple[list[Record], list[Record], list[Record], list[Record]]


def _match_reissued_ids(record_type: RecordType, vanished: list[Record], appeared: list[Record]) -> Paired:
    """Pair vanished with appeared records that are the same person/class; return the leftovers too."""
    olds: list[Record] = []
    news: list[Record] = []
    for identity_keys in _IDENTITY_KEYS[record_type]:
        if not vanished or not appeared:
            break
        if identity_keys is _sis_key:
            found_olds, found_news, vanished, appeared = _pair_by_sis_id(vanished, appeared)
        else:
            found_olds, found_news, vanished, appeared = _pair_by_key(identity_keys, vanished, appeared)
        olds += found_olds
        news += found_news
    return olds, news, vanished, appeared


def _pair_by_sis_id(vanished: list[Record], appeared: list[Record]) -> Paired:
    """`_pair_by_key` on `sis_id` (how a re-key pairs nearly every record) when no two vanished
    records share one: each new record then has at most one candidate, found by one dict lookup,
    in C-level passes (map, compress) over the records."""
    old_keys = list(map(dict.get, vanished, repeat("sis_id"), repeat("")))
    untaken = dict(zip(old_keys, vanished, strict=True))
    untaken.pop("", None)  # the records without sis_id
    keyless = list(compress(vanished, map(not_, old_keys)))
    if len(untaken) + len(keyless) < len(vanished):  # a shared sis_id: the most similar must be chosen
        return _pair_by_key(_sis_key, vanished, appeared)
    # each new record's vanished self, or None (a new record without sis_id finds none)
    found = list(map(untaken.pop, map(dict.get, appeared, repeat("sis_id"), repeat("")), repeat(None)))
    unpaired = list(compress(appeared, map(is_, found, repeat(None))))
    if unpaired:
        paired = list(map(is_not, found, repeat(None)))
        found, appeared = list(compress(found, paired)), list(compress(appeared, paired))
    olds = cast(list[Record], found)  # no None left
    # The vanished left, without another pass over them: only the keyless ones' order matters,
    # as no later identity key matches a record with sis_id, and removals are sorted by id.
    return olds, appeared, keyless + list(untaken.values()), unpaired


def _pair_by_key(
    identity_keys: Callable[[Record], list[IdentityKey]], vanished: list[Record], appeared: list[Record]
) -> Paired:
    """One-to-one pairs sharing a key; among several candidates the most similar record wins."""
    candidates: defaultdict[IdentityKey, list[Record]] = defaultdict(list)
    for old in vanished:
        for key in identity_keys(old):
            candidates[key].append(old)
    olds: list[Record] = []
    news: list[Record] = []
    unpaired: list[Record] = []
    taken: set[int] = set()
    for new in appeared:
        options = [
            old for key in identity_keys(new) for old in candidates.get(key, ()) if id(old) not in taken
        ]
        if not options:
            unpaired.append(new)
            continue
        found = list({id(option): option for option in options}.values())  # one record under two keys
        old = found[0] if len(found) == 1 else min(found, key=lambda o: len(changed_fields(o, new)))
        taken.add(id(old))
        olds.append(old)
        news.append(new)
    return olds, news, [old for old in vanished if id(old) not in taken], unpaired


# --- applying ----------------------------------------------------------------------------------


def apply_change_set(previous: Records | None, change_set: ChangeSet) -> Records:
    """The records `previous` becomes with `change_set` applied, each type sorted by id."""
    previous = previous or {}
    result: Records = {}
    for record_type in RECORD_TYPES:
        by_id = {record["id"]: record for record in previous.get(record_type, [])}
        for change in change_set.of_type(record_type):
            if change.kind == "removed":
                by_id.pop(change.clever_id, None)
                continue
            if change.kind == "source_id_changed":
                by_id.pop(change.previous_clever_id, None)
            assert change.record is not None
            by_id[change.clever_id] = change.record
        result[record_type] = [by_id[record_id] for record_id in sorted(by_id)]
    return result


# --- storing -----------------------------------------------------------------------------------


def to_document(change_set: ChangeSet) -> dict[str, Any]:
    """An orjson-ready form for S3: an updated record's previous version is kept as its old values only."""
    return {
        "format": DOCUMENT_FORMAT,
        "previous_counts": change_set.previous_counts,
        "changes": [_change_document(change) for change in change_set],
    }


def _change_document(change: Change) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": change.kind, "type": change.record_type, "id": change.clever_id}
    if change.previous_clever_id:
        document["previous_id"] = change.previous_clever_id
    if change.changed_fields:
        document["fields"] = list(change.changed_fields)
    if change.record is not None:
        document["record"] = change.record
    if change.kind == "removed":
        document["previous"] = change.previous
    elif change.previous is not None:
        # A changed field missing here was absent from the previous record.
        document["previous_values"] = {
            name: change.previous[name] for name in change.changed_fields if name in change.previous
        }
    return document


def from_document(document: dict[str, Any]) -> ChangeSet:
    if document.get("format") != DOCUMENT_FORMAT:
        raise ValueError(f"unsupported change set format {document.get('format')!r}")
    changes: dict[RecordType, list[Change]] = {record_type: [] for record_type in RECORD_TYPES}
    for item in document["changes"]:
        change = _change_from_document(item)
        changes[change.record_type].append(change)
    counts = document["previous_counts"]
    previous_counts = {record_type: counts.get(record_type, 0) for record_type in RECORD_TYPES}
    return ChangeSet(changes=changes, previous_counts=previous_counts)


def _change_from_document(item: dict[str, Any]) -> Change:
    kind: ChangeKind = item["kind"]
    fields = tuple(item.get("fields", ()))
    record: Record | None = item.get("record")
    previous: Record | None = item.get("previous")
    if "previous_values" in item and record is not None:
        previous = _previous_from_values(record, fields, item["previous_values"], item.get("previous_id"))
    return Change(
        kind, item["type"], item["id"], record, previous,
        previous_clever_id=item.get("previous_id", ""), changed_fields=fields,
    )  # fmt: skip


def _previous_from_values(
    record: Record, fields: tuple[str, ...], values: dict[str, Any], previous_id: str | None
) -> Record:
    previous = {name: value for name, value in record.items() if name not in fields} | values
    if previous_id:
        previous["id"] = previous_id
    return previous


__all__ = [
    "CHANGE_KINDS",
    "Change",
    "ChangeKind",
    "ChangeSet",
    "ChangeSummary",
    "KindCounts",
    "apply_change_set",
    "changed_fields",
    "collector_paused",
    "diff",
    "display_name",
    "from_document",
    "normalise_name",
    "to_document",
]
