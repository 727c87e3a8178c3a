"""A deterministic 5 % change of a school's records: the "new" side the diff benchmark reads."""

from __future__ import annotations

import random
from typing import Any

from sis_sync.snapshot import RECORD_TYPES, Records


def mutate(records: Records, share: float, seed: int) -> Records:
    """Remove, update and add `share` of each record type in equal parts (about a third each)."""
    rng = random.Random(seed)
    result: Records = {}
    for record_type in RECORD_TYPES:
        rows: list[dict[str, Any]] = list(records.get(record_type, []))
        touched = int(len(rows) * share / 3)
        picks = rng.sample(range(len(rows)), min(len(rows), 2 * touched))
        removed, updated = set(picks[:touched]), picks[touched:]
        for index in updated:
            rows[index] = rows[index] | {"sis_id": rows[index]["sis_id"] + "-x"}
        added = [
            rows[index] | {"id": f"ffff{index:020x}", "sis_id": f"new-{index}"} for index in picks[:touched]
        ]
        kept = [row for index, row in enumerate(rows) if index not in removed]
        result[record_type] = sorted(kept + added, key=lambda row: row["id"])
    return result


def rekey(records: Records) -> Records:
    """Every id re-issued, references included (a district's SIS migration): the same people and
    classes under new ids, which sort in another order than the old ones."""

    def new(old: str) -> str:
        return old[::-1]

    result: Records = {}
    for record_type in RECORD_TYPES:
        rows = []
        for row in records.get(record_type, []):
            changed = row | {"id": new(row["id"])}
            if record_type == "contact":
                changed["relationships"] = sorted(
                    (rel | {"student": new(rel["student"])} for rel in row["relationships"]),
                    key=lambda rel: (rel["student"], rel["type"], rel["relationship"]),
                )
            if record_type == "section":
                changed["teacher"] = new(row["teacher"]) if row["teacher"] else ""
                changed["teachers"] = sorted(map(new, row["teachers"]))
                changed["students"] = sorted(map(new, row["students"]))
            rows.append(changed)
        result[record_type] = sorted(rows, key=lambda row: row["id"])
    return result
