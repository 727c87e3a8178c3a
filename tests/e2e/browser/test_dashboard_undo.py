"""Undo this sync on the school report (issue 12): offered after a release, it asks first naming what
it reverts, is disabled while its request runs, and leaves the school on hold with reason `undone`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import hold, shot

pytestmark = pytest.mark.browser

CLICK_THREE_TIMES = "button => { button.click(); button.click(); button.click(); }"


def test_undo_this_sync_asks_first_naming_what_it_reverts_and_puts_the_school_on_hold_again(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school whose semester-end removals were released from its report
    row = hold(page, devstack, "semester_end").first
    name = row.get_by_role("link").first.inner_text()
    removed = int(row.locator('td[data-label="Removed"]').inner_text().strip())
    row.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    assert page.get_by_test_id("undo-sync").count() == 0  # nothing applied to undo yet
    page.get_by_test_id("clear-hold").click()
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for(timeout=45_000)
    undo = page.get_by_test_id("undo-sync")
    undo.wait_for()
    undos: list[str] = []
    page.on(
        "request", lambda r: undos.append(r.url) if r.method == "POST" and r.url.endswith("/undo") else None
    )

    # When the admin clicks Undo this sync
    undo.click()

    # Then a confirmation names the school and what is reverted; nothing is sent yet
    page.get_by_test_id("confirm-dialog").wait_for()
    assert page.locator("#confirm-title").inner_text().endswith(f"at {name}?")
    details = page.get_by_test_id("confirm-details").inner_text()
    assert f"{removed} removed records restored" in details
    shot(page, "undo-confirm")
    assert undos == []

    # When the admin confirms, clicking three times fast
    page.get_by_test_id("confirm-yes").evaluate(CLICK_THREE_TIMES)

    # Then the button is disabled while the undo runs, one request is sent, and the school is on hold
    # again for `undone` with the same changes pending; nothing is left to undo
    assert page.get_by_test_id("undo-sync").is_disabled()
    page.get_by_test_id("report-status").filter(has_text="On hold").wait_for(timeout=45_000)
    page.get_by_test_id("hold-undone").wait_for()
    page.get_by_test_id("hold-large_removals").wait_for()
    assert page.get_by_test_id("undo-sync").count() == 0
    assert page.get_by_test_id("clear-hold").is_enabled()
    assert len(undos) == 1
    # and the report's history says who undid it and what was taken back
    history = page.locator("#view").inner_text()
    assert f"Sync undone by {ADMIN} — {removed} removals" in history
    assert f"Undo this sync by {ADMIN}: the changes are being taken back" in history
