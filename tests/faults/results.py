"""What each row counted, for the summary `python -m tests.faults` prints (same process only)."""

from __future__ import annotations

from tests.faults.invariants import Counts

COUNTED: dict[str, Counts] = {}
