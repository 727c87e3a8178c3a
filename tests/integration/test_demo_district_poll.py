"""Clever's own demo district (1,004 students) polled through the simulator into moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from clever_simulator import CleverSimulator, load_demo_district
from sis_sync.snapshot import decode
from tests.onboarded import TOKEN, poll

DEMO = Path(__file__).resolve().parents[2].parent / "shared" / "clever" / "demo-district"
pytestmark = pytest.mark.skipif(not DEMO.is_dir(), reason=f"Clever's demo district is not at {DEMO}")


@pytest.fixture
def simulator() -> Iterator[tuple[CleverSimulator, str]]:
    district = load_demo_district(DEMO)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    with sim.serve() as base_url:
        yield sim, base_url


def test_every_demo_student_lands_in_each_of_their_shared_schools(stack: Any, simulator: Any) -> None:
    # Given Clever's demo district, whose students list their schools
    sim, _ = simulator
    shared = set(sim.district.school_ids())
    users = [item["data"] for item in json.loads((DEMO / "users.json").read_text())["data"]]
    students = {
        u["id"]: set(u["roles"]["student"]["schools"]) & shared for u in users if "student" in u["roles"]
    }
    # When it is polled
    run = poll("sync-demo")
    # Then each snapshot holds exactly the students of that school
    s3 = boto3.client("s3")
    placed: dict[str, set[str]] = {}
    for school in run.changed_schools:
        body = s3.get_object(Bucket=stack.bucket, Key=school.snapshot_key)["Body"].read()
        placed[school.clever_school_id] = {r["id"] for r in decode(body).records["student"]}
    assert len(students) == 1004
    assert set(placed) == shared
    for clever_school_id, ids in placed.items():
        assert ids == {sid for sid, schools in students.items() if clever_school_id in schools}
    assert set().union(*placed.values()) == set(students)
