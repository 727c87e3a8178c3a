"""Driving the dashboard page: signing in, finding school rows, putting a school on hold."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser.conftest import ADMIN, SCREENSHOTS, RunningDevstack

HEADER = (  # DESIGN §4, exactly
    "change_type,record_type,clever_id,previous_clever_id,sis_id,name,email,changed_fields,hold_reasons,"
    "contact_type,students"
)


def sign_in(page: Any, devstack: RunningDevstack, path: str = "/", email: str = ADMIN) -> None:
    """Open `path` and sign in as the dashboard does on AWS: it sends the browser to the (local)
    authorization server, whose demo form takes the e-mail; back with a code, the dashboard
    exchanges it (PKCE) and shows the page asked for. (A browser that has not signed in yet
    chooses the e-mail way first: the devstack also offers Log in with Clever.)"""
    page.goto(devstack.url + path)
    choose_email_sign_in(page)
    page.get_by_test_id("authorize-email").fill(email)
    page.get_by_test_id("authorize-submit").click()
    page.get_by_test_id("district-name").wait_for()


def choose_email_sign_in(page: Any) -> None:
    """On the dashboard's sign-in card, if it asks which way: the e-mail sign-in."""
    page.get_by_test_id("signin-start").or_(page.get_by_test_id("authorize-email")).first.wait_for()
    if page.get_by_test_id("signin-start").count():
        page.get_by_test_id("signin-start").click()


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
