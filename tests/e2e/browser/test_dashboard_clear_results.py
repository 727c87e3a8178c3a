"""Clear holds when newer changes arrived since the page loaded: the dashboard says so per school,
refreshes the list (the pending sync id with it) and a second Clear holds releases the new set."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import hold, school_id_of, shot

pytestmark = pytest.mark.browser


def test_a_stale_clear_says_newer_changes_arrived_and_a_second_clear_releases_them(
    page: Any, devstack: RunningDevstack
) -> None:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    # Given a school on hold, shown on the district page
    held = hold(page, devstack, "semester_end")
    school_id = school_id_of(held.first)
    row = page.get_by_test_id(f"school-row-{school_id}")
    name = row.get_by_role("link").first.inner_text()
    first_sync = row.get_attribute("data-pending-sync-id")
    assert first_sync
    # And a newer change set for it arrives while the page stays open
    devstack.scenario("emergency_contact", 0)
    devstack.tick()
    assert row.get_attribute("data-pending-sync-id") == first_sync  # the page has not seen it yet
    # When the admin selects the school and clears its hold
    page.get_by_test_id(f"select-{school_id}").check()
    page.get_by_test_id("clear-holds").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    # Then the result says newer changes arrived, and the list is refreshed with the new sync id
    results = page.get_by_test_id("results")
    results.get_by_text(f"Newer changes arrived for {name}: review them, then clear again.").wait_for()
    page.locator(
        f'[data-testid="school-row-{school_id}"][data-status="on_hold"]'
        f':not([data-pending-sync-id="{first_sync}"])'
    ).wait_for()
    assert page.get_by_test_id("alert").inner_text().strip() == ""
    shot(page, "stale-clear-refreshed")
    # And clearing again (the newer change set, reviewed) releases it
    page.get_by_test_id(f"select-{school_id}").check()
    page.get_by_test_id("clear-holds").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    results.get_by_text(f"{name}: hold cleared. The changes are being applied.").wait_for()
    page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').wait_for(timeout=45_000)
    assert blocked == []  # the dashboard runs under its Content-Security-Policy


def test_the_report_clear_hold_refreshes_after_a_stale_click(page: Any, devstack: RunningDevstack) -> None:
    # Given a school's report open, and a newer change set arriving meanwhile
    held = hold(page, devstack, "semester_end")
    name = held.first.get_by_role("link").first.inner_text()
    held.first.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    history_before = page.locator("ol.history li").count()
    devstack.scenario("emergency_contact", 0)
    devstack.tick()
    # When the admin clicks Clear hold on the report
    page.get_by_test_id("clear-hold").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    # Then the report says newer changes arrived and shows the newer change set (refreshed)
    page.get_by_test_id("results").get_by_text(f"Newer changes arrived for {name}").wait_for()
    page.get_by_role("heading", name="Emergency contacts included").wait_for()
    assert page.locator("ol.history li").count() > history_before
    # And a second Clear hold releases it
    page.get_by_test_id("clear-hold").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for(timeout=45_000)
