"""Threshold preview end to end: real polls and evaluate flows store each change set; the preview
judges them again under proposed thresholds through the API (run as the API function, its role
enforced), saves nothing, and refuses what a save would refuse."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from sis_sync import services
from sis_sync.store.change_sets import change_set_key
from tests.api_events import admin, call, http_event
from tests.e2e.flow import real_handlers, schools, sync
from tests.onboarded import DISTRICT

STRICTER = {"thresholds": {"removal_pct": 5, "removal_min_count": 5, "blocked_contact_types": []}}


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def preview(body: Any, district: str = DISTRICT, claims: dict[str, str] | None = None) -> Any:
    from functions.api.app import lambda_handler

    event = http_event(
        "POST", f"/v1/districts/{district}/settings/preview", claims=claims or admin(DISTRICT), body=body
    )
    return call(lambda_handler, event)


@pytest.fixture
def history(stack: Any, flow: Any, simulator: Any) -> tuple[str, str]:
    """s001 applied everywhere; s002 removed 6 % of school A's students (applied: below 10 %);
    s003 gave school B an Emergency contact (held). Returns A's and B's school ids."""
    sim, _ = simulator
    first, second = sim.district.school_ids()[:2]
    sync("s001")
    sim.scenarios.semester_end(school_id=first, share=0.06)
    sync("s002")
    sim.scenarios.emergency_contact(school_id=second)
    sync("s003")
    found = schools()
    applied = found[first].applied
    assert applied is not None
    assert applied.sync_id == "s002"
    assert found[second].pending_sync_id == "s003"
    return found[first].school_id, found[second].school_id


def test_the_preview_shows_which_change_sets_proposed_thresholds_would_have_held(
    history: tuple[str, str],
) -> None:
    school_a, school_b = history
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    audited = len(state.audit(DISTRICT, limit=200)[0])

    # When an admin previews 5 % removals (at least 5) and no blocked contact types
    response = preview(STRICTER)

    # Then A's applied s002 would have been held for large removals, B's pending s003 would not be
    assert response.status == 200, response.text
    body = response.json()
    by_school = {school["school_id"]: school for school in body["schools"]}
    a_sets = {one["sync_id"]: one for one in by_school[school_a]["change_sets"]}
    assert list(a_sets) == ["s002", "s001"]  # newest first; s003 changed nothing at A
    assert a_sets["s002"]["happened"] == "applied"
    assert a_sets["s002"]["current"] == {"held": False, "reasons": []}
    assert a_sets["s002"]["proposed"] == {"held": True, "reasons": ["large_removals"]}
    assert a_sets["s002"]["effect"] == "newly_held"
    [b_pending, *_] = by_school[school_b]["change_sets"]
    assert (b_pending["sync_id"], b_pending["happened"]) == ("s003", "on_hold")
    assert b_pending["current"] == {"held": True, "reasons": ["emergency_contacts"]}
    assert (b_pending["proposed"], b_pending["effect"]) == ({"held": False, "reasons": []}, "no_longer_held")
    summary = body["summary"]
    assert (summary["newly_held"], summary["no_longer_held"]) == (1, 1)
    assert (summary["held_now"], summary["held_proposed"], summary["unknown"]) == (1, 1, 0)
    assert body["settings"]["thresholds"]["removal_pct"] == 5

    # And nothing was saved or audited
    after = state.get_district(DISTRICT)
    assert after is not None
    assert (after.settings, after.settings_version) == (district.settings, district.settings_version)
    assert len(state.audit(DISTRICT, limit=200)[0]) == audited


def test_a_school_override_in_the_patch_is_what_its_change_sets_are_judged_under(
    history: tuple[str, str],
) -> None:
    school_a, _ = history
    body = preview({"school_overrides": {school_a: STRICTER["thresholds"]}}).json()
    summary = body["summary"]
    assert (summary["newly_held"], summary["no_longer_held"]) == (1, 0)
    [newly] = [s for s in body["schools"] if any(c["effect"] == "newly_held" for c in s["change_sets"])]
    assert newly["school_id"] == school_a


def test_a_change_set_no_longer_stored_is_unknown_not_guessed(history: tuple[str, str], stack: Any) -> None:
    school_a, _ = history
    boto3.client("s3").delete_object(Bucket=stack.bucket, Key=change_set_key(DISTRICT, school_a, "s001"))
    body = preview(STRICTER).json()
    [school] = [s for s in body["schools"] if s["school_id"] == school_a]
    s001 = next(c for c in school["change_sets"] if c["sync_id"] == "s001")
    assert (s001["effect"], s001["current"], s001["proposed"]) == ("unknown", None, None)
    assert body["summary"]["unknown"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholds": {"removal_pct": 0}}, "thresholds.removal_pct"),
        ({"thresholds": {"max_guardians": 1}}, "thresholds.max_guardians"),
        ({"thresholds": {"removal_min_count": 50, "removal_max_count": 20}}, "removal_max_count"),
        ({"thresholds": {"removal_percent": 5}}, "thresholds.removal_percent"),
        ({"school_overrides": {"no-such-school": {"max_guardians": 3}}}, "school_overrides"),
    ],
)
def test_invalid_thresholds_are_refused_with_422_naming_the_field_as_a_save_would(
    stack: Any, body: dict[str, Any], field: str
) -> None:
    from functions.api.app import lambda_handler

    response = preview(body)
    saved = call(
        lambda_handler,
        http_event("PATCH", f"/v1/districts/{DISTRICT}/settings", claims=admin(DISTRICT), body=body),
    )
    assert (response.status, saved.status) == (422, 422), response.text
    assert field in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == saved.json()["error"]["code"]


def test_another_districts_admin_cannot_preview_its_settings(stack: Any) -> None:
    response = preview(STRICTER, claims=admin("d-other"))
    assert response.status in (403, 404)
