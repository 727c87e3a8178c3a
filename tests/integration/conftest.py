"""Integration fixtures: see tests/onboarded.py (the onboarded district) and
tests/notify_district.py (the district the notify tests mail)."""

from tests.notify_district import notify, state
from tests.onboarded import simulator, stack

__all__ = ["notify", "simulator", "stack", "state"]
