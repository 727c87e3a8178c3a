"""End-to-end fixtures: see tests/onboarded.py."""

from tests.onboarded import simulator, stack

__all__ = ["simulator", "stack"]
