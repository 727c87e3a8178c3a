"""The invariants every fault row asserts, counted from the roster table, the schools' applied
snapshots and the simulator's truth (what Clever lists now)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from clever_simulator import Resource, Role
from sis_sync import services
from tests.onboarded import DISTRICT

Key = tuple[str, str]  # (record type, Clever id)


@dataclass(frozen=True)
class Counts:
    """What one row left behind; every field must be 0."""

    lost: int = 0
    """Records of a school's applied snapshot that are not active in its roster."""
    duplicated: int = 0
    """Active roster records that share a record type and SIS id with another active one."""
    spurious_removals: int = 0
    """Archived students that Clever still lists at that school."""
    unapproved: int = 0
    """Active roster records that no applied snapshot holds: written without a clean evaluation
    or an admin's approval (a held change set leaking into the roster)."""

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.lost + other.lost,
            self.duplicated + other.duplicated,
            self.spurious_removals + other.spurious_removals,
            self.unapproved + other.unapproved,
        )


def students_at(sim: Any, clever_school_id: str) -> set[str]:
    """The students Clever places at a school: its own and those listing it among their schools."""
    placed = set()
    for user in sim.district.listing(Resource.USERS, Role.STUDENT).page(None, 10_000).records:
        student = user["roles"]["student"]
        if clever_school_id in {student.get("school"), *student.get("schools", [])}:
            placed.add(str(user["id"]))
    return placed


def measure(sim: Any) -> Counts:
    """The invariants over every matched school of the district."""
    total = Counts()
    for school in services.state_table().schools(DISTRICT):
        if school.clever_school_id is None or school.applied is None:
            continue
        items = list(services.roster_table().items(DISTRICT, school.school_id))
        active = [item for item in items if not item.get("archived_at")]
        active_keys = {(str(item["record_type"]), str(item["clever_id"])) for item in active}
        records = services.snapshot_bucket().get(school.applied.key).records
        applied = {(kind, str(record["id"])) for kind, listed in records.items() for record in listed}
        by_sis_id = Counter(
            (str(item["record_type"]), str(item["sis_id"])) for item in active if item.get("sis_id")
        )
        listed = students_at(sim, school.clever_school_id)
        archived_students = {
            str(item["clever_id"])
            for item in items
            if item.get("archived_at") and item["record_type"] == "student"
        }
        total += Counts(
            lost=len(applied - active_keys),
            duplicated=sum(n - 1 for n in by_sis_id.values()),
            spurious_removals=len(archived_students & listed),
            unapproved=len(active_keys - applied),
        )
    return total


def roster_matches_clever(sim: Any) -> bool:
    """Every matched school's active students are exactly the ones Clever lists there, and every
    school's roster is its applied snapshot."""
    schools = [s for s in services.state_table().schools(DISTRICT) if s.clever_school_id]
    if not schools:
        return False
    for school in schools:
        assert school.clever_school_id is not None
        active = {
            str(item["clever_id"])
            for item in services.roster_table().items(DISTRICT, school.school_id)
            if item["record_type"] == "student" and not item.get("archived_at")
        }
        if active != students_at(sim, school.clever_school_id):
            return False
    return measure(sim) == Counts()
