"""Clever simulator against Clever's own material: the v3.0 Swagger spec and the demo district.

Both are read from ``../shared/clever`` at run time (never copied into the repository) and the
tests skip when that folder is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in requirements-dev

from clever_simulator import CleverSimulator, GeneratedDistrict, load_demo_district
from clever_simulator.walk import walk_records

CLEVER = Path(__file__).resolve().parents[2].parent / "shared" / "clever"
SPEC = CLEVER / "spec" / "v3.0.yml"
DEMO = CLEVER / "demo-district"

needs_spec = pytest.mark.skipif(not SPEC.is_file(), reason=f"Clever's v3.0 spec not found at {SPEC}")
needs_demo = pytest.mark.skipif(
    not (DEMO / "users.json").is_file(), reason=f"Clever's demo district not found at {DEMO}"
)

Definitions = dict[str, Any]


@pytest.fixture(scope="module")
def definitions() -> Definitions:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    found: Definitions = spec["definitions"]
    return found


def _check_scalar(prop: dict[str, Any], value: Any, where: str) -> list[str]:
    errors: list[str] = []
    kind = prop.get("type")
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: {value!r} is not a string"]
        if "enum" in prop and value not in prop["enum"]:
            errors.append(f"{where}: {value!r} not in {prop['enum']}")
        if "pattern" in prop and value and not re.fullmatch(prop["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {prop['pattern']}")
        if prop.get("format") in ("datetime", "date-time") and value:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        if prop.get("format") == "date" and value:
            date.fromisoformat(value)
    elif kind == "object" and not isinstance(value, dict):
        errors.append(f"{where}: {value!r} is not an object")
    return errors


def violations(
    definitions: Definitions, name: str, value: Any, where: str = "", *, complete: bool = True
) -> list[str]:
    """What in ``value`` breaks definition ``name``.

    Always: types, enum values (``enum`` / ``x-validation``) and patterns of the fields present.
    With ``complete``: also every ``x-validation`` field present (non-null unless ``x-nullable``)
    and no field the spec does not define — the bar the generated district is held to.
    """
    if not isinstance(value, dict):
        return [f"{where or name}: not an object"]
    properties: dict[str, Any] = definitions[name]["properties"]
    errors: list[str] = []
    if complete:
        errors += [f"{where}.{key}: not in {name}" for key in value if key not in properties]
    for key, prop in properties.items():
        here = f"{where}.{key}"
        if key not in value:
            if complete and prop.get("x-validation"):
                errors.append(f"{here}: required by {name} but missing")
            continue
        item = value[key]
        if item is None:
            if not prop.get("x-nullable"):
                errors.append(f"{here}: null but not nullable")
            continue
        if "$ref" in prop:
            errors += violations(definitions, prop["$ref"].split("/")[-1], item, here, complete=complete)
        elif prop.get("type") == "array":
            if not isinstance(item, list):
                errors.append(f"{here}: not an array")
                continue
            items = prop.get("items", {})
            for position, element in enumerate(item):
                if "$ref" in items:
                    ref = items["$ref"].split("/")[-1]
                    errors += violations(definitions, ref, element, f"{here}[{position}]", complete=complete)
                else:
                    errors += _check_scalar(items, element, f"{here}[{position}]")
        else:
            errors += _check_scalar(prop, item, here)
    return errors


def _getter(sim: CleverSimulator) -> Callable[[str], dict[str, Any]]:
    client = sim.app.test_client()

    def get(uri: str) -> dict[str, Any]:
        response = client.get(uri, headers={"Authorization": f"Bearer {sim.token}"})
        assert response.status_code == 200, uri
        body: dict[str, Any] = response.get_json()
        return body

    return get


@needs_spec
@pytest.mark.parametrize(
    ("uri", "definition", "role"),
    [
        ("/v3.0/districts", "District", None),
        ("/v3.0/schools", "School", None),
        ("/v3.0/users?role=student&limit=10000", "User", "student"),
        ("/v3.0/users?role=teacher", "User", "teacher"),
        ("/v3.0/users?role=staff", "User", "staff"),
        ("/v3.0/users?role=district_admin", "User", "district_admin"),
        ("/v3.0/users?role=contact&limit=10000", "User", "contact"),
        ("/v3.0/sections?limit=10000", "Section", None),
        ("/v3.0/terms", "Term", None),
        ("/v3.0/courses", "Course", None),
    ],
)
def test_generated_records_meet_the_v30_spec(
    definitions: Definitions, uri: str, definition: str, role: str | None
) -> None:
    # Given a generated district with every school level and shape
    sim = CleverSimulator(GeneratedDistrict(5, schools=4, students=900, unshared_schools=1))

    # When a listing is read through the API
    records = walk_records(_getter(sim), uri)

    # Then every record has the spec's required fields and only allowed enum values
    assert records
    errors = [
        error for record in records for error in violations(definitions, definition, record, record["id"])
    ]
    assert errors == []
    if role is not None:
        assert all(list(record["roles"]) == [role] for record in records)


@needs_spec
def test_unshared_schools_meet_the_spec_but_are_not_served(definitions: Definitions) -> None:
    district = GeneratedDistrict(5, schools=3, students=90, unshared_schools=2)
    unshared = district.unshared_school_records()
    served = walk_records(_getter(CleverSimulator(district)), "/v3.0/schools")
    assert len(unshared) == 2
    assert len(served) == 3
    assert not {s["id"] for s in unshared} & {s["id"] for s in served}
    assert [e for school in unshared for e in violations(definitions, "School", school)] == []


@pytest.fixture(scope="module")
def demo_sim() -> CleverSimulator:
    return CleverSimulator(load_demo_district(DEMO), tokens={"demo-token": "5a0c91b95c7cc000010d417c"})


@needs_demo
@pytest.mark.demo_district
def test_demo_district_pages_back_every_user_and_section(demo_sim: CleverSimulator) -> None:
    # When the demo district is paged through the simulator 500 at a time
    get = _getter(demo_sim)
    users = walk_records(get, "/v3.0/users?limit=500")
    sections = walk_records(get, "/v3.0/sections?limit=100")

    # Then all 2,098 users and 378 sections come back once each, with Clever's role counts
    assert len(users) == len({u["id"] for u in users}) == 2098
    assert len(sections) == len({s["id"] for s in sections}) == 378
    roles = [next(iter(u["roles"])) for u in users]
    assert (roles.count("student"), roles.count("contact"), roles.count("teacher")) == (1004, 1002, 89)
    assert roles.count("district_admin") == 3
    assert len(walk_records(get, "/v3.0/users?role=student&limit=100")) == 1004


@needs_demo
@needs_spec
@pytest.mark.demo_district
def test_demo_district_schools_are_synthesised_and_everything_fits_the_spec_enums(
    demo_sim: CleverSimulator, definitions: Definitions
) -> None:
    get = _getter(demo_sim)
    schools = walk_records(get, "/v3.0/schools")
    assert len(schools) == 3
    assert all(school["nces_id"] and school["state_id"] and school["name"] for school in schools)
    assert [e for school in schools for e in violations(definitions, "School", school)] == []
    per_school = [len(walk_records(get, f"/v3.0/schools/{s['id']}/sections?limit=1000")) for s in schools]
    assert sum(per_school) == 378
    checks = [
        ("/v3.0/users?limit=10000", "User"),
        ("/v3.0/sections?limit=10000", "Section"),
        ("/v3.0/terms", "Term"),
        ("/v3.0/courses?limit=1000", "Course"),
        ("/v3.0/districts", "District"),
    ]
    for uri, definition in checks:
        records = walk_records(get, uri)
        assert records
        errors = [e for r in records for e in violations(definitions, definition, r, r["id"], complete=False)]
        assert errors == [], uri


@needs_demo
@pytest.mark.demo_district
def test_scenarios_apply_to_the_demo_district(demo_sim: CleverSimulator) -> None:
    get = _getter(demo_sim)
    school_id = demo_sim.district.school_ids()[0]
    try:
        # When a semester ends and the school is re-keyed
        ended = demo_sim.scenarios.semester_end(school_id, share=0.3)
        rekeyed = demo_sim.scenarios.rekey(school_id)
        guardians = demo_sim.scenarios.many_guardians(count=6)
        demo_sim.scenarios.contact_reid()

        # Then the served data shows it
        users = walk_records(get, "/v3.0/users?limit=10000")
        ids = {u["id"] for u in users}
        assert not set(ended.student_ids) & ids
        assert set(rekeyed.reissued_ids.values()) <= ids
        assert not set(rekeyed.reissued_ids) & ids
        mine = walk_records(get, f"/v3.0/users/{guardians.student_ids[0]}/mycontacts")
        assert len(mine) == 6
    finally:
        demo_sim.scenarios.reset()
    assert len(walk_records(get, "/v3.0/users?limit=10000")) == 2098
