"""A local simulator of Clever's Data API v3.0 (never packaged into a Lambda).

Serves a generated district of any size (or Clever's demo district) with Clever's paging envelope,
bearer tokens, rate-limit headers, switchable faults and scenario switches for the hold rules.
"""

from clever_simulator.demo import load_demo_district
from clever_simulator.district import GeneratedDistrict
from clever_simulator.faults import Faults
from clever_simulator.fixed import FixedDistrict
from clever_simulator.roster import Resource, Role, RosterSource
from clever_simulator.scenarios import ScenarioEffect, Scenarios
from clever_simulator.server import CleverSimulator, default_token

__all__ = [
    "CleverSimulator",
    "Faults",
    "FixedDistrict",
    "GeneratedDistrict",
    "Resource",
    "Role",
    "RosterSource",
    "ScenarioEffect",
    "Scenarios",
    "default_token",
    "load_demo_district",
]
