"""Every screen tells the truth (issue 11, findings 1, 2, 4 and 7, and the sync history): a check
says what it did or why it failed, every number says whether it is pending or last applied and
goes when it no longer holds, a re-key hold is called what it is, and the report reads in order."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import reload_district, rows, school_id_of, shot, sign_in

pytestmark = pytest.mark.browser

FOLLOW_MS = 90_000  # a check's sync on 2 shared cores


def check_clever(page: Any) -> Any:
    """Click Check for new Clever data and confirm; the results region, once it says how this
    check ended (its first line names the new sync, the next ones what it did)."""
    results = page.get_by_test_id("results")
    before = results.inner_text()
    page.get_by_test_id("check-clever").click()
    page.get_by_test_id("confirm-yes").click()
    page.wait_for_function(
        """(before) => {
          const results = document.querySelector('[data-testid="results"]');
          return results.innerText !== before && results.querySelectorAll('li').length > 1;
        }""",
        arg=before,
        timeout=FOLLOW_MS,
    )
    return results


def name_of(page: Any, school_id: str) -> str:
    return str(page.get_by_test_id(f"school-row-{school_id}").get_by_role("link").first.inner_text())


def test_a_check_while_disconnected_says_the_connection_error_never_success(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a district whose token Clever revoked
    sign_in(page, devstack)
    devstack.scenario("revoke_token")
    devstack.tick()
    reload_district(page)
    page.get_by_test_id("connection-banner").wait_for()
    # When the admin checks for new Clever data
    results = check_clever(page)
    # Then the dashboard says the check failed and why, and nowhere that anything is up to date
    text = results.inner_text()
    assert "The check failed, nothing was synced" in text, text
    assert re.search(r"nothing was synced: \w.+ \((auth|app_disconnected)\)\.", text), text
    assert "up to date" not in text
    shot(page, "check-while-disconnected")
    # And the sync history lists that check as failed, with the same error
    page.get_by_test_id("sync-history-link").click()
    history = page.get_by_test_id("sync-history")
    history.wait_for()
    newest = history.locator("tbody tr").first
    assert newest.get_attribute("data-status") == "failed"
    assert "Check for new Clever data" in newest.inner_text()
    assert "Failed:" in newest.inner_text()
    assert re.search(r"\((auth|app_disconnected)\)", newest.inner_text())
    assert "Scheduled sync" in history.locator("tbody tr").nth(1).inner_text()


def test_a_check_says_what_it_did_and_numbers_go_when_a_hold_releases_itself(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a synced district, then two schools that change in Clever: one loses 30 % of its
    # students, one is re-keyed
    sign_in(page, devstack)
    devstack.tick()
    devstack.scenario("semester_end", 0)
    devstack.scenario("rekey", 1)
    # When the admin checks for new Clever data
    results = check_clever(page)
    # Then the dashboard names the schools that went on hold
    held = rows(page, "on_hold")
    held.nth(1).wait_for()
    ids = [school_id_of(held.nth(i)) for i in range(held.count())]
    names = sorted(name_of(page, school_id) for school_id in ids)
    text = results.inner_text()
    assert re.search(r"2 schools went on hold: (.+)\.", text), text
    assert sorted(re.search(r"2 schools went on hold: (.+)\.", text).group(1).split(", ")) == names  # type: ignore[union-attr]
    assert "up to date" not in text
    # And each held row says its numbers are pending; the re-keyed school's hold is "Source IDs changed"
    for row in (held.nth(0), held.nth(1)):
        assert row.get_by_test_id("changes-kind").get_attribute("data-kind") == "pending"
    rekeyed = held.filter(has_text="Source IDs changed")
    assert rekeyed.count() == 1
    assert re.search(r"Source IDs changed \(\d+\)", rekeyed.inner_text())
    assert "Large number of removals" not in rekeyed.inner_text()
    shot(page, "check-two-on-hold")
    # When the admin opens the semester-end school's report
    removed = held.filter(has_text="Large number of removals").first
    removed_name = removed.get_by_role("link").first.inner_text()
    removed.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    # Then it reads in order: why it is held (a few examples, once), the actions, the full table, history
    headings = page.locator("#view h2").all_inner_texts()
    order = ["Why this school is on hold", "Review and act", "Pending changes (held, not applied)", "History"]
    assert [h for h in headings if h in order] == order, headings
    assert page.get_by_test_id("hold-examples").count() == 1
    assert 0 < page.get_by_test_id("hold-examples").locator("li").count() <= 5
    assert page.get_by_text(re.compile(r"and \d+ more: the CSV of changes lists every one")).count() == 1
    assert page.locator("#examples-title").count() == 0
    history = page.get_by_test_id("history").inner_text()
    assert "Put on hold: Large number of removals" in history, history
    assert "by system" not in history
    shot(page, "report-pending")
    # When Clever's data goes back to what is applied and the admin checks again from the report
    devstack.scenario("fix_everything")
    results = check_clever(page)
    # Then the report says the hold was released, and no count of the dropped changes is left
    assert f"Hold released, the data was fixed in Clever: {removed_name}" in results.inner_text()
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for()
    assert page.get_by_test_id("changes-table").count() == 0
    assert page.locator("#view h2, #view caption", has_text="Pending changes").count() == 0
    assert "Hold released automatically" in page.get_by_test_id("history").inner_text()
    shot(page, "report-released-itself")
    # And a check with nothing new says that nothing changed
    results = check_clever(page)
    assert "Nothing changed" in results.inner_text()


def test_after_clear_hold_the_report_shows_the_last_applied_changes_with_their_time(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold for removals, its report open
    sign_in(page, devstack)
    devstack.scenario("semester_end", 0)
    devstack.tick()
    reload_district(page)
    row = rows(page, "on_hold").first
    school_id, sync_id = school_id_of(row), row.get_attribute("data-pending-sync-id")
    row.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    assert page.get_by_test_id("changes-table").get_attribute("data-kind") == "pending"
    # When its hold is cleared (through the API, as any admin client may) and applied
    token = devstack.http.post("/dev/token", json={"email": ADMIN}).json()["token"]
    district = page.url.split("#/districts/")[1].split("/")[0]
    cleared = httpx.post(
        f"{devstack.url}/v1/districts/{district}/holds/clear",
        json={"schools": [{"school_id": school_id, "sync_id": sync_id}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cleared.status_code == 202, cleared.text
    for _ in range(60):
        page.reload()
        page.get_by_test_id("report-status").wait_for()
        if page.get_by_test_id("report-status").get_attribute("data-status") == "connected":
            break
        page.wait_for_timeout(1000)
    # Then the same table is titled as the last applied changes, with when they were applied
    table = page.get_by_test_id("changes-table")
    assert table.get_attribute("data-kind") == "last_applied"
    assert table.locator("h2").inner_text() == "Last applied changes"
    assert table.locator("caption time").count() == 1
    assert page.locator("#view h2, #view caption", has_text="Pending changes").count() == 0
    # And the history says who released it and what was applied, in words
    history = page.get_by_test_id("history").inner_text()
    assert re.search(rf"Hold released by {re.escape(ADMIN)} — \d+ removals", history), history
    shot(page, "report-last-applied")
    # And the district table says these numbers are the last applied ones
    page.get_by_role("link", name=re.compile("Back to")).click()
    kind = page.get_by_test_id(f"school-row-{school_id}").get_by_test_id("changes-kind")
    assert kind.get_attribute("data-kind") == "last_applied"
    assert "Last applied" in kind.inner_text()
