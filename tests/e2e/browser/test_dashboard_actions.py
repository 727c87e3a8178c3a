"""The dashboard's actions are safe to click (issue 11, finding 5): Clear hold(s) asks first, naming
what it applies; a hold whose fix belongs in Clever makes that the primary action; every action
button is disabled while its request runs, so fast repeated clicks send one request."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import hold, reload_district, rows, school_id_of, shot, sign_in

pytestmark = pytest.mark.browser

CLICK_FIVE_TIMES = "button => { for (let i = 0; i < 5; i++) button.click(); }"
CLICK_THREE_TIMES = "button => { button.click(); button.click(); button.click(); }"


def _posts(page: Any, path_end: str) -> list[str]:
    """The POST requests to a route ending in `path_end` the page sends from now on."""
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.url) if r.method == "POST" and r.url.endswith(path_end) else None
    )
    return sent


def _count(row: Any, column: str) -> int:
    return int(row.locator(f'td[data-label="{column}"]').inner_text().strip())


def _focused_testid(page: Any) -> str:
    return str(page.evaluate("document.activeElement?.dataset?.testid ?? ''"))


def test_clear_hold_asks_first_naming_what_it_applies_and_five_clicks_send_one_request(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold for a semester-end removal, its report open
    held = hold(page, devstack, "semester_end")
    row = held.first
    name = row.get_by_role("link").first.inner_text()
    removed = _count(row, "Removed")
    assert removed > 0
    row.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    # (a removals hold: clearing it is the expected way, so Clear hold is the primary action)
    assert "primary" in (page.get_by_test_id("clear-hold").get_attribute("class") or "")
    assert "primary" not in (page.get_by_test_id("check-clever").get_attribute("class") or "")
    # and the report's remedies speak of this school, with nothing to select on it
    assert "select the school" not in page.locator("#view").inner_text().lower()
    clears = _posts(page, "/holds/clear")
    # When the admin clicks Clear hold five times fast
    page.get_by_test_id("clear-hold").focus()
    page.get_by_test_id("clear-hold").evaluate(CLICK_FIVE_TIMES)
    # Then one modal confirmation asks first, naming what is applied where; nothing is sent yet
    dialog = page.get_by_test_id("confirm-dialog")
    dialog.wait_for()
    assert page.locator("dialog[open]").count() == 1
    title = page.locator("#confirm-title").inner_text()
    assert title.startswith(f"Apply {removed} removals")
    assert title.endswith(f"at {name}?")
    assert _focused_testid(page) == "confirm-cancel"  # the safe answer has the focus
    shot(page, "clear-hold-confirm")
    assert clears == []
    # And Escape cancels it: nothing sent, the focus back on Clear hold
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert clears == []
    assert _focused_testid(page) == "clear-hold"
    # When the admin asks again and clicks Yes three times fast
    page.get_by_test_id("clear-hold").click()
    page.get_by_test_id("confirm-yes").evaluate(CLICK_THREE_TIMES)
    # Then Clear hold is disabled while it runs, the school is released, with one request
    assert page.get_by_test_id("clear-hold").is_disabled()
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for(timeout=45_000)
    page.get_by_test_id("results").get_by_text(f"{name} is Connected.").wait_for()
    assert len(clears) == 1


def test_a_hold_fixed_at_the_source_makes_check_primary_and_three_yes_clicks_start_one_sync(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold for emergency contacts, its report open
    held = hold(page, devstack, "emergency_contact", 1)
    held.first.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    # Then the recommended fix (in Clever, then Check for new Clever data) is the primary action
    check, clear = page.get_by_test_id("check-clever"), page.get_by_test_id("clear-hold")
    assert "primary" in (check.get_attribute("class") or "")
    assert "primary" not in (clear.get_attribute("class") or "")
    assert "Recommended for Emergency contacts included" in page.get_by_test_id("source-remedy").inner_text()
    # And Clear hold, the second choice, says so in its confirmation
    clear.click()
    assert "the recommended fix is in Clever" in page.get_by_test_id("confirm-details").inner_text()
    page.get_by_test_id("confirm-cancel").click()
    shot(page, "emergency-contact-actions")
    # When the admin checks for new Clever data, clicking it five times and Yes, Continue three times fast
    syncs = _posts(page, "/sync")
    check.focus()
    check.evaluate(CLICK_FIVE_TIMES)
    assert page.locator("dialog[open]").count() == 1
    page.get_by_test_id("confirm-yes").evaluate(CLICK_THREE_TIMES)
    # Then the button is disabled while the check runs, and one sync was started once it is done
    assert page.get_by_test_id("check-clever").is_disabled()
    page.locator('[data-testid="check-clever"]:not([disabled])').wait_for(timeout=150_000)
    assert len(syncs) == 1
    assert _focused_testid(page) == "check-clever"


def test_clear_holds_of_several_schools_confirms_a_summary(page: Any, devstack: RunningDevstack) -> None:
    # Given two schools on hold for different reasons, both selected
    sign_in(page, devstack)
    devstack.scenario("semester_end", 0)
    devstack.scenario("emergency_contact", 1)
    devstack.tick()
    reload_district(page)
    held = rows(page, "on_hold")
    held.nth(1).wait_for()
    names = [held.nth(i).get_by_role("link").first.inner_text() for i in range(2)]
    removed = sum(_count(held.nth(i), "Removed") for i in range(2))
    ids = [school_id_of(held.nth(i)) for i in range(2)]
    for school_id in ids:
        page.get_by_test_id(f"select-{school_id}").check()
    clears = _posts(page, "/holds/clear")
    # When the admin clicks Clear holds
    page.get_by_test_id("clear-holds").click()
    # Then the confirmation sums up what is applied at the two schools, and lists each
    title = page.locator("#confirm-title").inner_text()
    assert re.fullmatch(rf"Apply {removed} removals.* at 2 schools\?", title), title
    details = page.get_by_test_id("confirm-details").inner_text()
    assert all(name in details for name in names)
    assert "Emergency contacts included: the recommended fix is in Clever" in details
    assert page.get_by_test_id("confirm-yes").inner_text() == "Clear 2 holds and apply"
    shot(page, "clear-holds-confirm-summary")
    # When confirmed, Then both are released with one request, and the result reads for two
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("results").get_by_text("The 2 released schools are Connected.").wait_for(
        timeout=45_000
    )
    assert len(clears) == 1
