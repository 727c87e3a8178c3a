"""Rough edges of the dashboard (issue 11, finding 8): e-mail links that open nothing show a page,
an unknown district one clear error, Clever errors in words, a failed reconnect as an error, the
errors gone after sign-out, and the status pill inside its card on a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import hold, reload_district, rows, shot, sign_in

pytestmark = pytest.mark.browser

LINK = re.compile(r'href="(https?://[^"]*/v1/links/[^"]+)"')


def test_an_e_mail_link_that_opens_nothing_shows_a_page_not_json(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a hold e-mail with its CSV link
    held = hold(page, devstack, "semester_end")
    school_id = str(held.first.get_attribute("data-testid")).removeprefix("school-row-")
    links = [m for message in devstack.outbox() for m in LINK.findall(message["html"])]
    assert links
    link = links[-1].replace("&amp;", "&")
    # When the link is cut short in copying and opened in the browser
    page.goto(link[:-6])
    # Then a page says it is not valid and leads to the dashboard (no raw JSON)
    page.get_by_role("heading", name="This link is not valid").wait_for()
    assert '"error"' not in page.content()
    shot(page, "link-not-valid")
    # When the hold is cleared and the (intact) link opened afterwards
    page.goto(devstack.url + "/")
    page.get_by_test_id("district-name").wait_for()
    page.get_by_test_id(f"select-{school_id}").check()
    page.get_by_test_id("clear-holds").click()
    page.get_by_test_id("confirm-yes").click()
    page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').wait_for(timeout=45_000)
    page.goto(link)
    # Then the page says the hold is over
    page.get_by_role("heading", name="This hold is over").wait_for()
    page.get_by_test_id("open-dashboard").click()
    page.get_by_test_id("district-name").wait_for()
    # And an API client still gets the JSON error
    answer = devstack.http.get(link.removeprefix(devstack.url), headers={"Accept": "application/json"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (410, "change_set_not_pending")


def test_an_unknown_district_shows_one_error_and_sign_out_clears_errors(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a signed-in admin
    sign_in(page, devstack)
    # When they open a district that does not exist
    page.goto(devstack.url + "/#/districts/no-such-district")
    # Then one error says so in the page's place, nothing is left loading
    problem = page.get_by_test_id("load-problem")
    problem.wait_for()
    assert "cannot be found" in problem.inner_text()
    assert "Loading" not in page.locator("#view").inner_text()
    assert page.get_by_test_id("alert").inner_text().strip() == ""
    shot(page, "unknown-district")
    # When an action then fails on their own district, and they sign out
    problem.get_by_role("link").click()
    page.get_by_test_id("district-name").wait_for()
    page.get_by_test_id("clear-holds").click()
    assert "Select at least one school" in page.get_by_test_id("alert").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_test_id("signed-out").wait_for()
    # Then the error is gone with the session
    assert page.get_by_test_id("alert").inner_text().strip() == ""


def test_a_revoked_token_reads_in_words_and_a_failed_i_fixed_it_is_an_error(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given Clever revoked the district's token
    sign_in(page, devstack)
    devstack.scenario("revoke_token")
    devstack.tick()
    reload_district(page)
    banner = page.get_by_test_id("connection-banner")
    banner.wait_for()
    # When the admin clicks I fixed it while the token is still revoked (Clever answers 401)
    page.get_by_test_id("i-fixed-it").click()
    # Then it is an error, not news in the results box, and Clever's refusal reads in words
    alert = page.get_by_test_id("alert")
    alert.get_by_text("Still disconnected").wait_for()
    assert "Clever refused sis-sync's access (HTTP 401)" in alert.inner_text()
    assert "Still disconnected" not in page.get_by_test_id("results").inner_text()
    # And the banner gives the same words, the code not repeated ("auth: auth: ..." before)
    banner.get_by_text("Clever refused sis-sync's access (HTTP 401)").wait_for()
    assert "auth:" not in banner.inner_text()
    shot(page, "still-disconnected")


def test_the_not_connected_pill_fits_its_card_on_a_phone(page: Any, devstack: RunningDevstack) -> None:
    # Given a phone-sized window (390 x 844) on the district page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, devstack)
    row = rows(page, "not_connected").first
    row.wait_for()
    # Then the "Not connected" pill stays inside its card
    pill = row.locator('[data-status="not_connected"].status').first
    card, box = row.bounding_box(), pill.bounding_box()
    assert card
    assert box
    assert box["x"] + box["width"] <= card["x"] + card["width"] - 1, (box, card)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-not-connected")
