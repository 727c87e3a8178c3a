"""evaluate_school pauses the cyclic collector for each school's whole evaluation (issue 13).

A school's parsed rosters, change set and CSV rows are acyclic; a collection anywhere between the
parse and the last CSV row rescans all of them (a re-key at 100k students: ~20 % of its CPU).
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from sis_sync import evaluation
from sis_sync.model import Decision, SyncSchool


def test_each_attempt_at_a_school_runs_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a school whose first attempt finds it written meanwhile and whose second records it
    collector_on: list[bool] = []

    def attempt(_evaluator: Any, district_id: str, sync_id: str, ref: SyncSchool) -> Any:
        collector_on.append(gc.isenabled())
        if len(collector_on) == 1:
            return None
        return evaluation.EvaluationResult(
            district_id=district_id, sync_id=sync_id, school_id=ref.school_id, decision=Decision.APPLY
        )

    monkeypatch.setattr(evaluation, "_evaluate_once", attempt)
    ref = SyncSchool(school_id="s1", clever_school_id="c1", snapshot_key="k", sha256="0", counts={})

    # When it is evaluated
    result = evaluation.evaluate_school(None, "d1", "sync-1", ref)  # type: ignore[arg-type]

    # Then both attempts ran with the collector off, and it runs again afterwards
    assert result.decision is Decision.APPLY
    assert collector_on == [False, False]
    assert gc.isenabled()
