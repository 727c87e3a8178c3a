"""Clever's pause on the dashboard (issue 12, item 4): the district page says "Clever sync paused
until …" while Clever pauses the district, and the first sync after it is held with the note."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.axe import assert_accessible
from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import reload_district, rows, shot, sign_in

pytestmark = pytest.mark.browser


def test_the_district_page_shows_the_pause_and_the_first_sync_after_it_is_held_with_the_note(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a district Clever pauses for the summer, whose SIS loses 30 % of a school meanwhile
    sign_in(page, devstack)
    assert page.get_by_test_id("pause-banner").count() == 0
    paused = devstack.scenario("pause")["effect"]["scenario_id"]
    devstack.scenario("semester_end")

    # When the scheduled poll runs
    devstack.tick()
    reload_district(page)

    # Then the district page says the sync is paused and until when, and holds nothing
    banner = page.get_by_test_id("pause-banner")
    banner.wait_for()
    assert banner.get_by_role("heading").inner_text().startswith("Clever sync paused until ")
    assert page.locator("#pause-title time").count() == 1
    assert rows(page, "on_hold").count() == 0
    assert_accessible(page, "district-clever-paused")

    # When Clever resumes the district and the poll runs again
    devstack.http.post("/dev/scenario", json={"name": "undo", "scenario_id": paused}).raise_for_status()
    devstack.tick()
    reload_district(page)

    # Then the banner is gone and the school is held, its report noting the first sync after the pause
    held = rows(page, "on_hold")
    held.first.wait_for()
    assert page.get_by_test_id("pause-banner").count() == 0
    held.first.get_by_role("link").first.click()
    note = page.get_by_test_id("hold-after_pause")
    note.wait_for()
    assert "First sync after Clever's pause" in note.inner_text()
    page.get_by_test_id("hold-large_removals").wait_for()
    shot(page, "report-after-pause")
