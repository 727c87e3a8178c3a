"""Driving the dashboard page: signing in, finding school rows, putting a school on hold."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser.conftest import ADMIN, SCREENSHOTS, RunningDevstack

HEADER = "change_type,record_type,clever_id,previous_clever_id,sis_id,name,email,changed_fields,hold_reasons"


def sign_in(page: Any, devstack: RunningDevstack) -> None:
    page.goto(devstack.url + "/")
    page.get_by_test_id("signin-email").fill(ADMIN)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("district-name").wait_for()


def rows(page: Any, status: str) -> Any:
    return page.locator(f'[data-testid^="school-row-"][data-status="{status}"]')


def school_id_of(row: Any) -> str:
    return str(row.get_attribute("data-testid")).removeprefix("school-row-")


def reload_district(page: Any) -> None:
    page.reload()
    page.get_by_test_id("district-name").wait_for()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def hold(page: Any, devstack: RunningDevstack, scenario: str, school_index: int = 0) -> Any:
    """Sign in, make `scenario` happen at a school, poll, and return the on-hold rows once shown."""
    sign_in(page, devstack)
    devstack.scenario(scenario, school_index)
    devstack.tick()
    reload_district(page)
    held = rows(page, "on_hold")
    held.first.wait_for()
    return held
