"""The district's school list when it is longer than a page: paged by the API (Previous / Next, a
page size), filtered by status with the district's counts, sorted with aria-sort on the column, and
Select all on hold acting on every held school, not only the page in view."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser.axe import assert_accessible
from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import reload_district, school_id_of, shot, sign_in

pytestmark = pytest.mark.browser

TO = "\u2013"  # the en dash of the range the page shows: "Schools 1 to 25 of 29"
SCHOOLS = 28  # and one school Clever does not share (not connected): 29, more than a page of 25


@pytest.fixture
def devstack_env() -> dict[str, str]:
    return {"DEMO_SCHOOLS": str(SCHOOLS), "DEMO_STUDENTS": str(SCHOOLS * 10)}


def _shown(page: Any) -> list[str]:
    return [school_id_of(row) for row in page.locator('[data-testid^="school-row-"]').all()]


def _names(page: Any) -> list[str]:
    return [name.casefold() for name in page.locator('[data-testid^="school-row-"] th a').all_inner_texts()]


def test_the_school_list_pages_filters_and_sorts_and_stays_accessible(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a district of 29 schools, two of them on hold
    sign_in(page, devstack)
    devstack.scenario("emergency_contact", 0)
    devstack.scenario("emergency_contact", 5)
    devstack.tick()
    reload_district(page)
    filters = page.get_by_role("group", name="Show schools")
    filters.get_by_role("button", name="On hold (2)").wait_for()
    assert filters.get_by_role("button", name="All (29)").get_attribute("aria-pressed") == "true"

    # When the admin shows 25 schools a page
    page.get_by_label("Schools per page").select_option("25")
    range_text = page.get_by_test_id("schools-range")
    range_text.filter(has_text=f"Schools 1{TO}25 of 29").wait_for()
    first = _shown(page)
    # Then the first page has 25 schools, the held ones first
    assert len(first) == 25
    statuses = [page.get_by_test_id(f"school-row-{s}").get_attribute("data-status") for s in first]
    assert statuses[:2] == ["on_hold", "on_hold"]
    assert "on_hold" not in statuses[2:]
    assert page.get_by_test_id("schools-previous").is_disabled()

    # When they go to the next page with the keyboard
    page.get_by_test_id("schools-next").focus()
    page.keyboard.press("Enter")
    range_text.filter(has_text=f"Schools 26{TO}29 of 29").wait_for()
    second = _shown(page)
    # Then the rest, each school exactly once across the pages; Next is done, the focus stays in the pager
    assert len(second) == 4
    assert sorted(first + second) == sorted(set(first + second))
    assert page.get_by_test_id("schools-next").is_disabled()
    assert page.evaluate("document.activeElement.id") == "schools-previous"
    shot(page, "school-list-page-2")

    # When they go back, then sort by name, Z to A
    page.get_by_test_id("schools-previous").click()
    range_text.filter(has_text=f"Schools 1{TO}25 of 29").wait_for()
    assert _shown(page) == first
    page.get_by_label("Sort by").select_option("-name")
    page.locator('th[aria-sort="descending"]', has_text="School").wait_for()
    # Then the list starts again at its first page, in that order
    range_text.filter(has_text=f"Schools 1{TO}25 of 29").wait_for()
    names = _names(page)
    assert names == sorted(names, reverse=True)
    assert page.locator("th[aria-sort]").count() == 1

    # When they show only the schools on hold
    filters.get_by_role("button", name="On hold (2)").click()
    range_text.filter(has_text=f"Schools 1{TO}2 of 2").wait_for()
    # Then only those two, the filter pressed, and no page to turn
    held = _shown(page)
    assert len(held) == 2
    assert set(held) == set(first[:2])
    assert filters.get_by_role("button", name="On hold (2)").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("schools-next").is_disabled()
    assert_accessible(page, "school-list-on-hold")

    # When they go back to every school on its first page, and tick Select all 2 on hold
    filters.get_by_role("button", name="All (29)").click()
    range_text.filter(has_text="of 29").wait_for()
    page.get_by_label("Select all 2 on hold").check()
    # Then both held schools are selected, whichever page shows them
    page.locator("#selected-count").filter(has_text="2 schools selected").wait_for()
    assert_accessible(page, "school-list-all")
