"""What the demo panel's scenarios do (`GET`/`POST /dev/scenario`): the simulated district
misbehaves at a named school, each scenario can be undone on its own, and "Fix everything at the
source" takes back only what sis-sync has not accepted yet."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.roster import Resource
from clever_simulator.scenarios import ScenarioEffect
from sis_sync.scheduling import sync_id_for

# What each school scenario is called on the panel (and in its answers).
TITLES: Final = {
    "semester_end": "Semester end: 30 % of the school's students removed",
    "many_guardians": "A student gets six guardians",
    "emergency_contact": "An Emergency contact is added",
    "secondary_contact": "A secondary contact is added",
    "new_parents": "Ten students get a new parent or guardian",
    "rekey": "The SIS re-keys the school (new source ids)",
    "revoke_token": "Clever revokes the district's token",
    "share_school": "Clever shares {school}",
    "pause": "Clever pauses the district (summer)",
}
SCHOOL_SCENARIOS: Final = (
    "semester_end",
    "many_guardians",
    "emergency_contact",
    "secondary_contact",
    "rekey",
    "new_parents",
)


class ScenarioRequest(BaseModel):
    """Body of `POST /dev/scenario`. A school by `school_id`, or by `school_index` (its place in
    the panel's list, from 0); neither means the first school."""

    model_config = ConfigDict(extra="forbid")

    name: str
    school_id: str | None = None
    school_index: int | None = None
    scenario_id: int | None = None  # for "undo"
    clever_district_id: str | None = None  # for add_district / remove_district


class ScenarioRefusedError(Exception):
    """A request the panel cannot carry out; answered 400 with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Applied:
    """A scenario the panel ran and has not undone."""

    scenario_id: int
    name: str
    school_id: str | None
    ran_at: str
    """When the scenario ran, as a sync id's time prefix: once sis-sync has applied a sync that
    started later (sync ids sort by their start), it has accepted the scenario's changes (cleared
    the hold, or applied them). A sync already running when the scenario ran read Clever before
    it, so applying that one accepts nothing."""
    effect: ScenarioEffect | None  # None for the token revocation (a fault, not a roster change)


class DemoScenarios:
    """The panel's scenarios on the simulator's first district."""

    def __init__(
        self,
        sim: CleverSimulator,
        applied_sync_id: Callable[[str], str | None],
        district_actions: dict[str, Callable[[str], dict[str, Any]]],
    ) -> None:
        """`applied_sync_id(clever_school_id)`: the sync whose snapshot sis-sync last applied for
        the school (None before its first apply); `district_actions`: add_district /
        remove_district by Clever district id."""
        self._sim = sim
        self._applied_sync_id = applied_sync_id
        self._district_actions = district_actions
        self._applied: list[Applied] = []
        self._revocations = 0

    # -- what the panel shows --

    def _name_of(self, school_id: str) -> str:
        record = self._sim.district.get(Resource.SCHOOLS, school_id)
        district = self._sim.district
        if record is None and isinstance(district, GeneratedDistrict):  # unshared: not served
            record = next((r for r in district.unshared_school_records() if r["id"] == school_id), None)
        if record is None:
            return school_id
        return str(record["name"])

    def view(self) -> dict[str, Any]:
        district = self._sim.district
        return {
            "schools": [
                {"school_id": school_id, "name": self._name_of(school_id)}
                for school_id in district.school_ids()
            ],
            "unshared_schools": [
                {"school_id": school_id, "name": self._name_of(school_id)}
                for school_id in district.unshared_school_ids()
            ],
            "applied": [self._describe(entry) for entry in self._applied],
        }

    def _describe(self, entry: Applied) -> dict[str, Any]:
        school = self._name_of(entry.school_id) if entry.school_id else None
        return {
            "scenario_id": entry.scenario_id,
            "name": entry.name,
            "title": TITLES[entry.name].format(school=school),
            "school_id": entry.school_id,
            "school": school,
            "accepted": self._accepted(entry),
        }

    # -- what the panel does --

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            request = ScenarioRequest.model_validate(body)
        except ValidationError as error:
            raise ScenarioRefusedError("invalid_request", _first_problem(error)) from error
        actions: dict[str, Callable[[], dict[str, Any]]] = {
            "undo": lambda: {"undone": self.undo(request.scenario_id)},
            "fix_everything": self.fix_everything,
            "revoke_token": lambda: {"effect": self._revoke()},
            "share_school": lambda: {"effect": self._share(request.school_id)},
            "pause": lambda: {"effect": self._pause()},
            **{
                name: functools.partial(self._district_action, name, request)
                for name in self._district_actions
            },
            **{name: functools.partial(self._at_school, name, request) for name in SCHOOL_SCENARIOS},
        }
        if request.name not in actions:
            choices = ", ".join(sorted(actions))
            raise ScenarioRefusedError(
                "unknown_scenario", f"Unknown scenario {request.name!r}: choose one of {choices}."
            )
        return {"applied": request.name, **actions[request.name]()}

    def _district_action(self, name: str, request: ScenarioRequest) -> dict[str, Any]:
        effect = self._district_actions[name](request.clever_district_id or "")
        if "error" in effect:
            raise ScenarioRefusedError(effect["error"]["code"], effect["error"]["message"])
        return {"effect": effect}

    def _school(self, request: ScenarioRequest) -> str:
        schools = self._sim.district.school_ids()
        names = ", ".join(f"{n} {self._name_of(s)} ({s})" for n, s in enumerate(schools))
        if request.school_id is not None:
            if request.school_id not in schools:
                raise ScenarioRefusedError(
                    "unknown_school",
                    f"No school {request.school_id!r} with students here; choose one of {names}.",
                )
            return request.school_id
        index = request.school_index or 0
        if not 0 <= index < len(schools):
            raise ScenarioRefusedError("unknown_school", f"No school number {index}; choose one of {names}.")
        return schools[index]

    def _at_school(self, name: str, request: ScenarioRequest) -> dict[str, Any]:
        school = self._school(request)
        scenarios = self._sim.scenarios
        ran_at = sync_id_for("", datetime.now(UTC)).split("-", 1)[0]
        effect = {
            "semester_end": lambda: scenarios.semester_end(school_id=school),
            "many_guardians": lambda: scenarios.many_guardians(
                student_id=self._sim.district.student_ids_of_school(school)[0]
            ),
            "emergency_contact": lambda: scenarios.emergency_contact(school_id=school),
            "secondary_contact": lambda: scenarios.secondary_contact(school_id=school),
            "rekey": lambda: scenarios.rekey(school_id=school),
            "new_parents": lambda: scenarios.new_parents(school_id=school),
        }[name]()
        self._applied.append(Applied(effect.scenario_id, name, school, ran_at, effect))
        return {"school_id": school, "school": self._name_of(school), "effect": effect.as_json()}

    def _share(self, school_id: str | None) -> dict[str, Any]:
        try:
            effect = self._sim.scenarios.share_school(school_id)
        except LookupError as error:
            raise ScenarioRefusedError(
                "unknown_school", f"{error.args[0] if error.args else error}."
            ) from error
        self._applied.append(Applied(effect.scenario_id, "share_school", effect.school_id, "", effect))
        return effect.as_json()

    def _pause(self) -> dict[str, Any]:
        """Clever pauses the district until ten weeks from now; undoing it resumes the sync (the
        school scenarios run meanwhile are the summer's changes the first sync after it brings)."""
        if any(entry.name == "pause" for entry in self._applied):
            raise ScenarioRefusedError(
                "already_paused", "Clever pauses the district already: undo that first."
            )
        effect = self._sim.scenarios.pause()
        self._applied.append(Applied(effect.scenario_id, "pause", None, "", effect))
        return effect.as_json()

    def _revoke(self) -> dict[str, Any]:
        self._sim.faults.revoke_token()
        self._revocations += 1
        # numbered apart from the roster scenarios (negative), so undo finds either kind by its id
        self._applied.append(Applied(-self._revocations, "revoke_token", None, "", None))
        return {"scenario_id": -self._revocations}

    def undo(self, scenario_id: int | None) -> dict[str, Any]:
        entry = next((e for e in self._applied if e.scenario_id == scenario_id), None)
        if entry is None:
            raise ScenarioRefusedError(
                "unknown_scenario", f"No scenario {scenario_id} to undo: undo one of those the panel lists."
            )
        described = self._describe(entry)
        if entry.effect is None:
            if not any(e.effect is None for e in self._applied if e is not entry):
                self._sim.faults.clear("revoked_token")
        else:
            self._sim.scenarios.undo(entry.scenario_id)
        self._applied.remove(entry)
        return described

    def fix_everything(self) -> dict[str, Any]:
        """The district fixes at the source what is still wrong: the token, and every roster
        scenario sis-sync has not accepted. Accepted ones are the district's data now (undoing
        them would be a new change, which could put the school on hold again); sharing a school
        is no problem to fix."""
        undone, kept = [], []
        for entry in list(self._applied):
            if entry.name == "share_school" or self._accepted(entry):
                kept.append(self._describe(entry))
            else:
                undone.append(self.undo(entry.scenario_id))
        return {"undone": undone, "kept": kept}

    def reset(self) -> None:
        """Nothing run yet (the simulator's own reset takes the scenarios back)."""
        self._applied.clear()
        self._revocations = 0

    def _accepted(self, entry: Applied) -> bool:
        if entry.effect is None or entry.school_id is None or entry.name == "share_school":
            return False
        applied = self._applied_sync_id(entry.school_id)
        return applied is not None and applied > entry.ran_at


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"
