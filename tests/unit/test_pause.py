"""Clever's pause (sis_sync.pause): when a district counts as paused, which sync is the first after it,
and the `after_pause` hold that rule code adds beside large removals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clever_simulator import GeneratedDistrict
from clever_simulator.scenarios import Scenarios
from sis_sync.clever.models import District as CleverDistrict
from sis_sync.mail_content import reason_view
from sis_sync.model import CleverPause, District, School, SchoolStatus
from sis_sync.pause import pause_note, pause_of, resumed
from sis_sync.rules import Hold, HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from tests.unit.test_changes import roster
from tests.unit.test_rules import students

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 6, 12, tzinfo=UTC), datetime(2026, 8, 24, 12, tzinfo=UTC)


def clever(state: str = "running", start: str = "", end: str = "") -> CleverDistrict:
    return CleverDistrict(id="c1", state=state, pause_start=start, pause_end=end)


@pytest.mark.parametrize(
    ("state", "start", "end", "expected"),
    [
        ("paused", "2026-06-12T00:00:00Z", "2026-08-24T12:00:00Z", CleverPause(start=START, end=END)),
        ("paused", "", "", CleverPause()),  # Clever names no dates: still paused
        ("running", "2026-06-12T00:00:00Z", "2026-08-24T12:00:00Z", CleverPause(start=START, end=END)),
        ("running", "2026-06-12T00:00:00", "2026-08-24T12:00:00", CleverPause(start=START, end=END)),  # UTC
        ("success", "2026-06-12T00:00:00Z", "2026-07-01T12:00:00Z", None),  # ended at NOW
        ("running", "2026-07-01T12:00:01Z", "2026-08-24T12:00:00Z", None),  # not begun yet
        ("running", "2026-06-12T00:00:00Z", "", None),  # an open-ended leftover must not stop syncs
        ("running", "", "2026-08-24T12:00:00Z", None),
        ("running", "soon", "2026-08-24T12:00:00Z", None),  # unreadable: unset
        ("paused", "soon", "later", CleverPause()),
    ],
)
def test_a_district_is_paused_when_clever_says_so_or_inside_its_scheduled_pause(
    state: str, start: str, end: str, expected: CleverPause | None
) -> None:
    # Given Clever's district object / When it is read at NOW / Then it is paused as expected
    assert pause_of(clever(state, start, end), NOW) == expected


def district(pause: CleverPause | None) -> District:
    return District(district_id="d", name="D", clever_district_id="c1", clever_pause=pause)


def school(holds: list[Hold], status: SchoolStatus = SchoolStatus.ON_HOLD) -> School:
    return School(district_id="d", school_id="s", name="S", status=status, holds=holds)


def test_the_first_sync_after_the_pause_is_named_once() -> None:
    # Given a paused district / When a sync's pull completes after it / Then that sync is the first
    active = CleverPause(start=START, end=END)
    assert resumed(district(active), "s9") == CleverPause(start=START, end=END, first_sync_id="s9")
    # and no later one is, nor any sync of a district never paused
    assert resumed(district(active.model_copy(update={"first_sync_id": "s9"})), "s10") is None
    assert resumed(district(None), "s9") is None


def test_the_note_is_for_the_first_sync_after_the_pause_and_stays_while_held_for_it() -> None:
    after = district(CleverPause(start=START, end=END, first_sync_id="s9"))
    note = {"pause_start": START.isoformat(), "pause_end": END.isoformat(), "first_sync_id": "s9"}
    assert pause_note(after, school([]), "s9") == note
    assert pause_note(after, school([]), "s10") is None
    assert pause_note(district(CleverPause(first_sync_id="s9")), school([]), "s9") == {
        "pause_start": None,
        "pause_end": None,
        "first_sync_id": "s9",
    }
    assert pause_note(district(None), school([]), "s9") is None
    held = [Hold(reason=HoldReason.AFTER_PAUSE, detail=note)]
    assert pause_note(district(None), school(held), "s12") == note
    assert pause_note(district(None), school(held, SchoolStatus.CONNECTED), "s12") is None


NOTE = {"pause_start": START.isoformat(), "pause_end": END.isoformat(), "first_sync_id": "s9"}


@pytest.mark.parametrize(("kept", "reasons"), [(50, ["large_removals", "after_pause"]), (95, [])])
def test_after_pause_marks_the_removals_beside_large_removals_and_never_alone(
    kept: int, reasons: list[str]
) -> None:
    # Given 100 students, of whom the first sync after the pause keeps `kept`
    before, after = roster(student=students(100)), roster(student=students(kept))
    # When it is judged / Then 50 removed hold with the pause's note on every removal, 5 hold nothing
    evaluation = evaluate(before, after, HoldThresholds(), pause=NOTE)
    assert [reason.value for reason in evaluation.reasons] == reasons
    assert all(
        evaluation.reasons_for(change) == tuple(evaluation.reasons) for change in evaluation.change_set
    )
    if reasons:
        assert evaluation.holds[1].detail == NOTE


def test_without_a_pause_large_removals_hold_alone() -> None:
    evaluation = evaluate(roster(student=students(100)), roster(student=students(50)), HoldThresholds())
    assert evaluation.reasons == (HoldReason.LARGE_REMOVALS,)


def test_the_mail_says_when_clever_paused_the_district() -> None:
    hold = Hold(
        reason=HoldReason.AFTER_PAUSE,
        detail={"pause_start": START.isoformat(), "pause_end": END.isoformat(), "first_sync_id": "s9"},
    )
    view = reason_view(hold)
    assert view.title == "First sync after Clever's pause"
    assert view.facts == [
        "Clever paused the district's sync from June 12, 2026 at 00:00 UTC"
        " until August 24, 2026 at 12:00 UTC."
    ]
    open_ended = reason_view(Hold(reason=HoldReason.AFTER_PAUSE, detail={"first_sync_id": "s9"}))
    assert open_ended.facts == ["Clever paused the district's sync."]


def test_the_simulator_pauses_and_resumes_the_district() -> None:
    # Given a simulated district and a fixed clock
    sim = GeneratedDistrict(seed=3, schools=1, students=20)
    scenarios = Scenarios(sim, now=lambda: NOW)
    # When Clever pauses it / Then its district record says paused, from now for ten weeks
    effect = scenarios.pause()
    record = sim.district_record()
    assert (record["state"], record["pause_start"], record["pause_end"]) == (
        "paused",
        "2026-07-01T12:00:00+00:00",
        "2026-09-09T12:00:00+00:00",
    )
    # When the pause is undone / Then Clever runs the sync again, the pause ending now
    scenarios.undo(effect.scenario_id)
    record = sim.district_record()
    assert (record["state"], record["pause_end"]) == ("running", "2026-07-01T12:00:00+00:00")
    assert pause_of(CleverDistrict.model_validate(record), NOW) is None
    scenarios.pause(pause_start="2026-06-12T00:00:00Z", pause_end="2026-08-24T12:00:00Z")
    assert pause_of(CleverDistrict.model_validate(sim.district_record()), NOW) == CleverPause(
        start=START, end=END
    )
    assert scenarios.resume().scenario == "resume"
    assert [e.scenario for e in scenarios.applied] == []
    scenarios.pause()
    scenarios.reset()
    assert sim.district_record()["state"] == "running"
