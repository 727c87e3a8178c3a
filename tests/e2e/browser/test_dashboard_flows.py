"""The seed article's flows through the real dashboard in headless Chromium, against a devstack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import HEADER, hold, reload_district, rows, school_id_of, shot, sign_in

pytestmark = pytest.mark.browser


def test_semester_end_removals_are_reviewed_in_the_csv_then_cleared(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a semester-end upload that drops 30 % of one school's students
    held = hold(page, devstack, "semester_end")
    assert held.count() == 1
    school_id = school_id_of(held.first)
    assert "Large number of removals" in held.first.inner_text()
    shot(page, "semester-end-on-hold")
    # When the admin opens the school, downloads the CSV of changes, and comes back
    held.first.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    with page.expect_download() as download:
        page.get_by_test_id("download-csv").click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv_text.splitlines()[0] == HEADER
    assert "large_removals" in csv_text
    shot(page, "semester-end-report")
    page.go_back()
    page.get_by_test_id("district-name").wait_for()
    # And selects the school and clears its hold
    page.get_by_test_id(f"select-{school_id}").check()
    page.get_by_test_id("clear-holds").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    # Then the school is connected
    page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').wait_for(timeout=45_000)
    shot(page, "semester-end-cleared")


def test_an_emergency_contact_fixed_at_the_source_is_synced_again(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold for an emergency contact
    held = hold(page, devstack, "emergency_contact", 1)
    assert "Emergency contacts included" in held.first.inner_text()
    held.first.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    # When the district removes it in Clever and asks for new Clever data, confirming
    devstack.scenario("fix_everything")
    page.get_by_test_id("check-clever").click()
    page.get_by_test_id("confirm-yes").click()
    # Then the school is connected again
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for(timeout=45_000)
    shot(page, "emergency-contact-fixed")


def test_a_revoked_token_is_reconnected_with_i_fixed_it(page: Any, devstack: RunningDevstack) -> None:
    # Given Clever revoked the district's token
    sign_in(page, devstack)
    devstack.scenario("revoke_token")
    devstack.tick()
    reload_district(page)
    page.get_by_test_id("connection-banner").wait_for()
    rows(page, "disconnected").first.wait_for()
    district_name = page.get_by_test_id("district-name").inner_text()
    shot(page, "disconnected")
    # When the district fixes it in Clever and clicks I fixed it
    devstack.scenario("fix_everything")
    page.get_by_test_id("i-fixed-it").click()
    # Then the connection is back and the schools are connected
    page.get_by_test_id("connection-banner").wait_for(state="hidden", timeout=45_000)
    rows(page, "connected").first.wait_for()
    assert rows(page, "disconnected").count() == 0
    # And the admin got the disconnection e-mail (its subject as mail_content.py writes it), once
    mails = [m for m in devstack.outbox() if m["subject"] == f"Clever sync disconnected for {district_name}"]
    assert len(mails) == 1
    assert mails[0]["to"] == [ADMIN]


def test_two_on_hold_schools_are_cleared_in_one_action(page: Any, devstack: RunningDevstack) -> None:
    # Given two schools on hold for different reasons
    sign_in(page, devstack)
    devstack.scenario("semester_end", 0)
    devstack.scenario("emergency_contact", 1)
    devstack.tick()
    reload_district(page)
    held = rows(page, "on_hold")
    held.nth(1).wait_for()
    ids = [school_id_of(held.nth(i)) for i in range(held.count())]
    assert len(ids) == 2
    shot(page, "two-on-hold")
    # When the admin selects both and clears their holds at once
    for school_id in ids:
        page.get_by_test_id(f"select-{school_id}").check()
    page.get_by_test_id("clear-holds").click()
    page.get_by_test_id("confirm-yes").click()  # the confirmation naming what is applied
    # Then both are connected
    for school_id in ids:
        page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').wait_for(
            timeout=45_000
        )
    shot(page, "two-cleared")
