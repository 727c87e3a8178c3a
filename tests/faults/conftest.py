"""Fault-matrix fixtures: the onboarded district (tests/onboarded.py) served by a simulator whose
waits move a simulated clock instead of taking time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from tests.faults.matrix import SimTime, simulated
from tests.onboarded import TOKEN, stack

__all__ = ["sim_time", "simulator", "stack"]


@pytest.fixture
def sim_time() -> Iterator[SimTime]:
    with simulated(SimTime()) as sim_time:
        yield sim_time


@pytest.fixture
def simulator(sim_time: SimTime) -> Iterator[tuple[CleverSimulator, str]]:
    """A small generated district (2 schools, 80 students): each listing spans several pages."""
    district = GeneratedDistrict(seed=11, schools=2, students=80)
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id}, sleep=sim_time.sleep)
    with sim.serve() as base_url:
        yield sim, base_url
