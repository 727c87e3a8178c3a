"""Scenario switches: deterministic changes to the served district, one per hold rule."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from clever_simulator.roster import RosterSource

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class ScenarioEffect:
    """Which ids a scenario touched, for tests and the devstack to assert on."""

    scenario: str
    removed_ids: tuple[str, ...] = ()
    added_ids: tuple[str, ...] = ()
    reissued_ids: Mapping[str, str] = field(default_factory=dict)
    """Old id -> new id."""
    student_ids: tuple[str, ...] = ()
    """Students the scenario is about (their contacts changed, or they were removed/re-keyed)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
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
    """Applies scenarios to a district; they combine, and ``reset()`` undoes them all."""

    def __init__(self, district: RosterSource, lock: threading.RLock | None = None) -> None:
        self._district = district
        self.lock = lock if lock is not None else threading.RLock()
        self.applied: list[ScenarioEffect] = []

    def _record(self, effect: ScenarioEffect) -> ScenarioEffect:
        self.applied.append(effect)
        return effect

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
        students = self._district.student_ids_of_school(self._school(school_id))
        # Evenly spread picks: student n goes when floor((n + 1) * share) > floor(n * share).
        dropped = [s for n, s in enumerate(students) if int((n + 1) * share) > int(n * share)]
        orphaned = self._district.remove_students(dropped)
        return self._record(
            ScenarioEffect("semester_end", removed_ids=(*dropped, *orphaned), student_ids=tuple(dropped))
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
        student = self._first_student(school_id)
        added = self._district.add_contact(student, contact_type, "Other", with_sis_id=True)
        return self._record(ScenarioEffect("emergency_contact", added_ids=(added,), student_ids=(student,)))

    def secondary_contact(self, school_id: str | None = None) -> ScenarioEffect:
        """The lower-case ``secondary`` variant of :meth:`emergency_contact` (rules are case-insensitive)."""
        return self.emergency_contact(school_id, contact_type="secondary")

    @_exclusive
    def rekey(self, school_id: str | None = None) -> ScenarioEffect:
        """Re-keyed SIS: every student of the school gets a new Clever id, keeping its sis_id."""
        students = self._district.student_ids_of_school(self._school(school_id))
        reissued = {old: self._district.reissue_student_id(old) for old in students}
        return self._record(ScenarioEffect("rekey", reissued_ids=reissued, student_ids=tuple(students)))

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
    def reset(self) -> ScenarioEffect:
        self._district.reset()
        self.applied.clear()
        return ScenarioEffect("reset")

    def apply(self, name: str, params: Mapping[str, Any]) -> ScenarioEffect:
        """Runs a scenario by name (the control endpoint's entry point)."""
        handlers: dict[str, Callable[..., ScenarioEffect]] = {
            "semester_end": self.semester_end,
            "many_guardians": self.many_guardians,
            "emergency_contact": self.emergency_contact,
            "secondary_contact": self.secondary_contact,
            "rekey": self.rekey,
            "contact_reid": self.contact_reid,
            "reset": self.reset,
        }
        if name not in handlers:
            raise KeyError(name)
        return handlers[name](**params)
