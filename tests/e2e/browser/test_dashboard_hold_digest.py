"""The hold e-mail of a sync that held several schools (issue 13): one message, whose link to every
school on hold opens the district's list filtered to them."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import reload_district, rows, sign_in

pytestmark = pytest.mark.browser

ON_HOLD_LINK = re.compile(r'href="([^"]*\?status=on_hold)"')


def test_one_mail_for_two_held_schools_links_to_the_list_of_schools_on_hold(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given one sync that holds two schools
    sign_in(page, devstack)
    mailed = len(devstack.outbox())
    devstack.scenario("semester_end", 0)
    devstack.scenario("emergency_contact", 1)
    devstack.tick()
    reload_district(page)
    rows(page, "on_hold").nth(1).wait_for()
    # Then one e-mail names both, with a link to every school on hold
    [mail] = devstack.outbox()[mailed:]
    assert mail["subject"].startswith("Sync on hold for 2 schools of ")
    match = ON_HOLD_LINK.search(mail["html"])
    assert match
    # When the admin opens that link
    page.goto(html.unescape(match.group(1)))
    # Then the list shows the schools on hold only, the filter saying so
    page.get_by_test_id("filter-on_hold").and_(page.locator('[aria-pressed="true"]')).wait_for()
    listed = page.locator('[data-testid^="school-row-"]')
    expect(listed).to_have_count(2)
    assert rows(page, "on_hold").count() == 2
