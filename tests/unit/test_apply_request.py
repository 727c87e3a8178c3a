"""What apply_changes is asked to do: the evaluate flow names its own mode (apply, apply_safe); in
the release flow the manifest item's mode alone decides (statemachine/release.asl.json sends none
of its own), so a release or an undo can be asked only through a manifest item; the release flow's
first step names itself (`record_history`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

REQUEST = {"district_id": "d-test", "sync_id": "s002", "school_id": "school-1"}


@pytest.mark.parametrize(
    ("item", "mode"),
    [({}, "release"), ({"mode": "apply_safe"}, "apply_safe"), ({"mode": "undo"}, "undo")],
)
def test_the_release_flow_does_what_its_manifest_item_says(item: dict[str, Any], mode: str) -> None:
    from functions.apply_changes.app import ApplyRequest

    # Given a manifest item as Clear holds, Apply safe changes or Undo writes it (no mode: release)
    approval = {"school_id": "school-1", "sync_id": "s002", **item}
    # When the release flow's payload carries it; Then its mode is what apply_changes applies
    assert ApplyRequest.model_validate(REQUEST | {"approval": approval}).applying == mode


def test_the_evaluate_flow_names_apply_or_apply_safe_and_nothing_else() -> None:
    from functions.apply_changes.app import ApplyRequest

    # Given the evaluate flow's payloads (an EvaluationResult, or the ApplySafeChanges task's)
    # Then they apply, or apply the safe part
    assert ApplyRequest.model_validate(REQUEST).applying == "apply"
    assert ApplyRequest.model_validate(REQUEST | {"mode": "apply_safe"}).applying == "apply_safe"
    # And a payload's own release or undo, without the manifest item that approved it, is refused
    for mode in ("release", "undo"):
        with pytest.raises(ValidationError):
            ApplyRequest.model_validate(REQUEST | {"mode": mode})


HISTORY_STEP = {
    "step": "record_history",
    "district_id": "d-test",
    "manifest": {"bucket": "snapshots", "key": "releases/d-test/release-2-schools-ab.json"},
    "history": {
        "action": "clear_holds",
        "actor": "admin@example.org",
        "at": "2026-11-30T19:00:00Z",
        "result": "released",
        "key": "2026-11-30T19:00:00Z#a1",
    },
}


def test_the_history_step_is_the_one_event_that_names_it() -> None:
    from functions.apply_changes.app import ApplyChangesEvent, ApplyRequest, HistoryStep

    # Given the RecordHistory state's payload; Then it is the history step
    assert isinstance(ApplyChangesEvent.validate_python(HISTORY_STEP), HistoryStep)
    # And the payloads that name no step apply a school, whatever else they carry
    assert isinstance(ApplyChangesEvent.validate_python(REQUEST), ApplyRequest)
    with_history = REQUEST | {"history": HISTORY_STEP["history"], "manifest": HISTORY_STEP["manifest"]}
    assert isinstance(ApplyChangesEvent.validate_python(with_history), ApplyRequest)
    # And a history without its step name is no history step (it names no school to apply)
    unnamed = {key: value for key, value in HISTORY_STEP.items() if key != "step"}
    with pytest.raises(ValidationError):
        ApplyChangesEvent.validate_python(unnamed)


def test_a_step_apply_changes_does_not_know_is_refused() -> None:
    from functions.apply_changes.app import ApplyChangesEvent

    # Given a payload naming a step apply_changes has not (a typo in the ASL, say)
    for step in ("record_histories", "apply_safe"):
        # Then it is refused, not applied as a school
        with pytest.raises(ValidationError):
            ApplyChangesEvent.validate_python(REQUEST | HISTORY_STEP | {"step": step})
