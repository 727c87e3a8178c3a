"""Issue 10's fault matrix: every row injects one fault while a sync or an action runs, then the
same invariants are counted (0 lost, 0 duplicated, 0 spurious removals, 0 applied without
approval) and the district must recover with the next clean poll."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.invariants import Counts, measure, roster_matches_clever
from tests.faults.matrix import ROWS, Ctx, Row, SimTime, recover, sid, sync
from tests.faults.results import COUNTED


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_fault(
    row: Row, stack: Any, simulator: Any, sim_time: SimTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a district synced once, with a change waiting (or held) at one school
    sim, _ = simulator
    ctx = Ctx(sim=sim, stack=stack, time=sim_time, monkeypatch=monkeypatch)
    assert sync(ctx, sid(1)).status.value == "succeeded"
    row.prepare(ctx)
    # When the fault strikes while the sync or the action runs
    happened = row.act(ctx)
    counts = measure(sim)
    COUNTED[row.name] = counts
    # Then it ended as the row says, with nothing lost, duplicated, removed or applied unapproved
    assert happened == row.expect
    assert counts == Counts()
    # and the next clean poll (and the admin's approval of what the rules hold) recovers the district
    recover(ctx)
    assert roster_matches_clever(sim)
