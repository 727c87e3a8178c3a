"""Scenario switches: deterministic changes to the served district, one per hold rule."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from clever_simulator.roster import RosterSource

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class ScenarioEffect:
    """Which ids a scenario touched, for tests and the devstack to assert on."""

    scenario: str
    scenario_id: int = 0
    """Its number among the scenarios applied (what ``undo`` takes); 0 for undo and reset."""
    school_id: str | None = None
    """The school it happened at, when it is about one."""
    removed_ids: tuple[str, ...] = ()
    added_ids: tuple[str, ...] = ()
    reissued_ids: Mapping[str, str] = field(default_factory=dict)
    """Old id -> new id."""
    student_ids: tuple[str, ...] = ()
    """Students the scenario is about (their contacts changed, or they were removed/re-keyed)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "scenario_id": self.scenario_id,
            "school_id": self.school_id,
            "removed_ids": list(self.removed_ids),
            "added_ids": list(self.added_ids),
            "reissued_ids": dict(self.reissued_ids),
            "student_ids": list(self.student_ids),
        }


def _exclusive(method: Callable[Concatenate[Scenarios, P], R]) -> Callable[Concatenate[Scenarios, P], R]:
    """Runs a scenario while no page is being read."""

    @functools.wraps(method)
    def locked(self: Scenarios, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return locked


class Scenarios:
    """Applies scenarios to a district; they combine, ``undo(n)`` takes back scenario n alone and
    ``reset()`` undoes them all."""

    def __init__(
        self,
        district: RosterSource,
        lock: threading.RLock | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._district = district
        self._now = now  # the pause scenario's dates
        self.lock = lock if lock is not None else threading.RLock()
        self.applied: list[ScenarioEffect] = []
        self._numbered = 0

    def _record(self, effect: ScenarioEffect) -> ScenarioEffect:
        self._numbered += 1
        numbered = replace(effect, scenario_id=self._numbered)
        self.applied.append(numbered)
        return numbered

    def _school(self, school_id: str | None) -> str:
        return school_id if school_id is not None else self._district.school_ids()[0]

    def _first_student(self, school_id: str | None) -> str:
        students = self._district.student_ids_of_school(self._school(school_id))
        if not students:
            raise LookupError(f"school {school_id} has no students")
        return students[0]

    @_exclusive
    def semester_end(self, school_id: str | None = None, share: float = 0.3) -> ScenarioEffect:
        """Drops ``share`` of one school's students, with their enrolments and contact links."""
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        school = self._school(school_id)
        students = self._district.student_ids_of_school(school)
        # Evenly spread picks: student n goes when floor((n + 1) * share) > floor(n * share).
        dropped = [s for n, s in enumerate(students) if int((n + 1) * share) > int(n * share)]
        orphaned = self._district.remove_students(dropped)
        return self._record(
            ScenarioEffect(
                "semester_end",
                school_id=school,
                removed_ids=(*dropped, *orphaned),
                student_ids=tuple(dropped),
            )
        )

    @_exclusive
    def many_guardians(self, student_id: str | None = None, count: int = 6) -> ScenarioEffect:
        """Gives one student ``count`` linked contacts (adding at least one)."""
        student = student_id if student_id is not None else self._first_student(None)
        existing = len(self._district.contact_ids_of_student(student))
        added = tuple(
            self._district.add_contact(student, "Parent/Guardian", "Other", with_sis_id=True)
            for _ in range(max(1, count - existing))
        )
        return self._record(ScenarioEffect("many_guardians", added_ids=added, student_ids=(student,)))

    @_exclusive
    def emergency_contact(
        self, school_id: str | None = None, contact_type: str = "Emergency"
    ) -> ScenarioEffect:
        """Adds one contact of a blocked type (``Emergency``; ``secondary`` for the lower-case variant)."""
        school = self._school(school_id)
        student = self._first_student(school)
        added = self._district.add_contact(student, contact_type, "Other", with_sis_id=True)
        return self._record(
            ScenarioEffect("emergency_contact", school_id=school, added_ids=(added,), student_ids=(student,))
        )

    def secondary_contact(self, school_id: str | None = None) -> ScenarioEffect:
        """The lower-case ``secondary`` variant of :meth:`emergency_contact` (rules are case-insensitive)."""
        return self.emergency_contact(school_id, contact_type="secondary")

    @_exclusive
    def new_parents(self, school_id: str | None = None, count: int = 10) -> ScenarioEffect:
        """Links a new Parent/Guardian contact to ``count`` students of one school, evenly spread:
        additions no rule holds (with :meth:`semester_end`, the part Apply safe changes applies)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        school = self._school(school_id)
        students = self._district.student_ids_of_school(school)
        if not students:
            raise LookupError(f"school {school} has no students")
        picked = [students[n * len(students) // count] for n in range(min(count, len(students)))]
        added = tuple(
            self._district.add_contact(student, "Parent/Guardian", "Parent", with_sis_id=True)
            for student in picked
        )
        return self._record(
            ScenarioEffect("new_parents", school_id=school, added_ids=added, student_ids=tuple(picked))
        )

    @_exclusive
    def rekey(self, school_id: str | None = None) -> ScenarioEffect:
        """Re-keyed SIS: every student of the school gets a new Clever id, keeping its sis_id."""
        school = self._school(school_id)
        students = self._district.student_ids_of_school(school)
        reissued = {old: self._district.reissue_student_id(old) for old in students}
        return self._record(
            ScenarioEffect("rekey", school_id=school, reissued_ids=reissued, student_ids=tuple(students))
        )

    @_exclusive
    def contact_reid(self, contact_id: str | None = None) -> ScenarioEffect:
        """Clever re-issues the id of a contact without sis_id (as it does on every change)."""
        if contact_id is None:
            candidates = self._district.contact_ids_without_sis_id(1)
            if not candidates:
                raise LookupError("no contact without sis_id")
            contact_id = candidates[0]
        new_id = self._district.reissue_contact_id(contact_id)
        return self._record(ScenarioEffect("contact_reid", reissued_ids={contact_id: new_id}))

    @_exclusive
    def share_school(self, school_id: str | None = None) -> ScenarioEffect:
        """Clever starts sharing a school it did not share (the first one unless named)."""
        unshared = self._district.unshared_school_ids()
        if school_id is None and not unshared:
            raise LookupError("every school of the district is shared already")
        school = school_id if school_id is not None else unshared[0]
        if school not in unshared:
            raise LookupError(f"school {school} is not an unshared school of the district")
        self._district.share_school(school)
        return self._record(ScenarioEffect("share_school", school_id=school))

    @_exclusive
    def pause(self, pause_start: str | None = None, pause_end: str | None = None) -> ScenarioEffect:
        """Clever pauses the district's sync (its summer pause): state `paused`, from now (or
        ``pause_start``) until ``pause_end`` (ISO 8601; ten weeks from now unless given)."""
        now = self._now().replace(microsecond=0)
        start = pause_start or now.isoformat()
        end = pause_end or (now + timedelta(weeks=10)).isoformat()
        self._district.set_pause("paused", start, end)
        return self._record(ScenarioEffect("pause"))

    @_exclusive
    def resume(self) -> ScenarioEffect:
        """Clever resumes the district's sync: state `running`, the pause ending now (the same as
        undoing :meth:`pause`; the scenarios applied meanwhile stay)."""
        self._resume()
        self.applied[:] = [effect for effect in self.applied if effect.scenario != "pause"]
        return ScenarioEffect("resume")

    def _resume(self) -> None:
        record = self._district.district_record()
        end = self._now().replace(microsecond=0).isoformat()
        self._district.set_pause("running", record.get("pause_start"), end)

    @_exclusive
    def undo(self, scenario_id: int) -> ScenarioEffect:
        """Takes back one applied scenario, leaving the others as they are; returns it."""
        effect = next((e for e in self.applied if e.scenario_id == scenario_id), None)
        if effect is None:
            raise LookupError(f"no applied scenario {scenario_id}")
        district = self._district
        undoers: dict[str, Callable[[], None]] = {
            "semester_end": lambda: district.restore_students(effect.student_ids),
            "rekey": lambda: district.restore_ids(effect.reissued_ids),
            "contact_reid": lambda: district.restore_ids(effect.reissued_ids),
            "many_guardians": lambda: district.withdraw_contacts(effect.added_ids),
            "emergency_contact": lambda: district.withdraw_contacts(effect.added_ids),
            "new_parents": lambda: district.withdraw_contacts(effect.added_ids),
            "share_school": lambda: district.unshare_school(effect.school_id or ""),
            "pause": self._resume,
        }
        undoers[effect.scenario]()
        self.applied.remove(effect)
        return effect

    @_exclusive
    def reset(self) -> ScenarioEffect:
        self._district.reset()
        self.applied.clear()
        self._numbered = 0  # numbered from 1 again, as when new
        return ScenarioEffect("reset")

    def apply(self, name: str, params: Mapping[str, Any]) -> ScenarioEffect:
        """Runs a scenario by name (the control endpoint's entry point)."""
        handlers: dict[str, Callable[..., ScenarioEffect]] = {
            "semester_end": self.semester_end,
            "many_guardians": self.many_guardians,
            "emergency_contact": self.emergency_contact,
            "secondary_contact": self.secondary_contact,
            "new_parents": self.new_parents,
            "rekey": self.rekey,
            "contact_reid": self.contact_reid,
            "share_school": self.share_school,
            "pause": self.pause,
            "resume": self.resume,
            "undo": self.undo,
            "reset": self.reset,
        }
        if name not in handlers:
            raise KeyError(name)
        return handlers[name](**params)
