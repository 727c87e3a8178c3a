"""The settings page (issue 12): the thresholds as labelled inputs, errors at their fields before
anything is sent, a preview of what the new thresholds would have held, then Save."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.axe import assert_accessible
from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import hold, reload_district

pytestmark = pytest.mark.browser


def test_the_settings_page_checks_fields_previews_the_effect_then_saves(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school held for a new Emergency contact
    held = hold(page, devstack, "emergency_contact")
    name = held.first.get_by_role("link").first.inner_text()
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(f"{r.method} {r.url}")
            if r.method in ("POST", "PATCH") and "/settings" in r.url
            else None
        ),
    )

    # When the admin opens Settings from the district page
    page.get_by_test_id("settings-link").click()
    page.get_by_test_id("settings-form").wait_for()

    # Then the thresholds in force are shown in labelled fields
    assert page.get_by_label("Removal share (%)").input_value() == "10"
    assert page.get_by_label("Contact types to hold").input_value() == "Emergency, Secondary"
    assert not page.get_by_label("Apply safe changes automatically").is_checked()
    assert_accessible(page, "settings")

    # When the removals always held are fewer than the fewest that count, and 1 contact per student
    page.get_by_label("Fewest removals that count").fill("50")
    page.get_by_label("Removals always held").fill("20")
    page.get_by_label("Linked contacts per student").fill("1")
    page.get_by_test_id("preview-settings").click()

    # Then each error is at its field, tied to it, the first one focused; nothing is sent
    always = page.get_by_label("Removals always held")
    assert "at least the fewest" in page.get_by_test_id("setting-removal_max_count-error").inner_text()
    assert always.get_attribute("aria-invalid") == "true"
    assert "setting-removal_max_count-error" in str(always.get_attribute("aria-describedby"))
    assert "from 2 to 100" in page.get_by_test_id("setting-max_guardians-error").inner_text()
    assert always.evaluate("el => el === document.activeElement")
    assert page.get_by_label("Fewest removals that count").get_attribute("aria-invalid") is None
    assert sent == []
    assert_accessible(page, "settings-errors")

    # When corrected, Emergency and Secondary contacts no longer held, and previewed
    page.get_by_label("Fewest removals that count").fill("10")
    page.get_by_label("Removals always held").fill("500")
    page.get_by_label("Linked contacts per student").fill("6")
    page.get_by_label("Contact types to hold").fill("")
    page.get_by_test_id("preview-settings").click()

    # Then the preview says what would have changed, school by school; the errors are gone
    sentence = page.get_by_test_id("preview-sentence")
    sentence.wait_for()
    assert sentence.inner_text().startswith("With no contact types held: 1 school fewer would have been held")
    row = page.locator('[data-testid^="preview-"][data-effect="no_longer_held"]')
    assert row.count() == 1
    assert name in row.inner_text()
    assert "Held: Emergency contacts included" in row.inner_text()
    assert row.locator("td").last.inner_text() == "Not held"
    assert page.get_by_test_id("setting-removal_max_count-error").inner_text() == ""
    assert page.get_by_test_id("settings-preview").get_attribute("aria-live") == "polite"
    assert [s.split(" ")[0] for s in sent] == ["POST"]
    assert_accessible(page, "settings-preview")

    # When saved
    page.get_by_test_id("save-settings").click()

    # Then it says so, and the page shows the saved values when opened again
    page.get_by_test_id("results").filter(has_text="Settings saved").wait_for()
    assert [s.split(" ")[0] for s in sent] == ["POST", "PATCH"]
    reload_district(page)
    assert page.get_by_label("Contact types to hold").input_value() == ""
