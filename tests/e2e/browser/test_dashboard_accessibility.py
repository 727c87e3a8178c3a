"""axe-core on every page and state of the dashboard (0 serious or critical violations), at desktop
and phone width, and Clear holds walked through with the keyboard only, its focus always visible."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sis_sync.discovery import school_id_for
from tests.e2e.browser.axe import assert_accessible, violations
from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import hold, reload_district, rows, school_id_of, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MAX_TABS = 60
# WCAG 2.2 non-text contrast (1.4.11) for the focus indicator against what surrounds it
FOCUS_CONTRAST = 3.0

# What the focused element looks like: whether it shows focus, its outline, and the background the
# outline is drawn on (what lies 3.5 px left of the element, where the 2 px offset outline is).
FOCUS_STATE = """(selector) => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const under = document.elementsFromPoint(Math.max(box.left - 3.5, 0), box.top + box.height / 2)
    .find((node) => node !== el && !el.contains(node));
  let background = 'rgb(255, 255, 255)';
  for (let node = under; node; node = node.parentElement) {
    const color = getComputedStyle(node).backgroundColor;
    if (color && color !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(color)) { background = color; break; }
  }
  return {
    what: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${
      (el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 40)}"`,
    target: el.matches(selector),
    focusVisible: el.matches(':focus-visible'),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
    outlineColor: style.outlineColor,
    background,
  };
}"""

# Every status pill that sticks out of the card, row or section it is in (in CSS pixels).
OVERFLOWING_PILLS = """() => [...document.querySelectorAll('.status')].flatMap((pill) => {
  const box = pill.closest('tr, .card, section, p');
  const over = pill.getBoundingClientRect().right - box.getBoundingClientRect().right;
  return over > 0.5 ? [`${pill.innerText.trim()}: ${over.toFixed(1)} px`] : [];
})"""


def _luminance(color: str) -> float:
    channels = [int(c) / 255 for c in re.findall(r"[\d.]+", color)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    darker, lighter = sorted((_luminance(first), _luminance(second)))
    return (lighter + 0.05) / (darker + 0.05)


def tab_to(page: Any, selector: str, key: str = "Tab") -> list[str]:
    """Press `key` (Tab or Shift+Tab) until the element matching `selector` has focus, checking at
    each stop that the focus is visible; returns what was focused on the way."""
    visited: list[str] = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        focus = page.evaluate(FOCUS_STATE, selector)
        assert focus is not None, f"{key} left the page after {visited}"
        visited.append(focus["what"])
        assert focus["focusVisible"], f"{focus['what']} has focus but no :focus-visible style"
        assert focus["outlineStyle"] != "none", focus
        assert focus["outlineWidth"] >= 2, focus
        ratio = contrast(focus["outlineColor"], focus["background"])
        assert ratio >= FOCUS_CONTRAST, (
            f"focus outline of {focus['what']}: {ratio:.2f}:1 on {focus['background']}"
        )
        if focus["target"]:
            return visited
    raise AssertionError(f"{selector} not reached with {MAX_TABS} presses of {key}: {visited}")


def assert_fits_phone(page: Any, label: str) -> None:
    """At phone width nothing scrolls sideways and no status pill sticks out of its card."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{label} scrolls sideways: {width}"
    assert page.evaluate(OVERFLOWING_PILLS) == [], label


def open_report(page: Any, devstack: RunningDevstack, district_id: str, school_id: str) -> None:
    page.goto(f"{devstack.url}/#/districts/{district_id}/schools/{school_id}")
    page.get_by_test_id("report-status").wait_for()


def district_id_of(page: Any) -> str:
    return str(page.url.split("#/districts/")[1].split("/")[0])


def test_the_sign_in_pages_and_the_district_page_have_no_serious_violations(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a browser that follows an e-mail link that is not valid: the page saying so
    page.goto(devstack.url + "/v1/links/not-a-jwt")
    page.get_by_test_id("link-problem").wait_for()
    assert_accessible(page, "link-problem")
    page.set_viewport_size(PHONE)
    assert_accessible(page, "link-problem-phone")
    assert_fits_phone(page, "link problem")
    page.set_viewport_size(DESKTOP)
    # And a browser that has not signed in: the dashboard's sign-in card
    page.goto(devstack.url + "/")
    page.get_by_test_id("signin-start").wait_for()
    assert_accessible(page, "sign-in-choice")
    # And the (devstack's) authorization server's sign-in page
    page.get_by_test_id("signin-start").click()
    page.get_by_test_id("authorize-email").wait_for()
    assert_accessible(page, "sign-in-authorization-server")
    # (its content sits in a <main> landmark: axe rates a missing one only "moderate")
    assert not [v["id"] for v in violations(page) if v["id"] in ("landmark-one-main", "region")]
    # When the admin signs in: the district page, and its confirmation step open
    page.get_by_test_id("authorize-email").fill(ADMIN)
    page.get_by_test_id("authorize-submit").click()
    page.locator("#schools-table table").wait_for()
    assert_accessible(page, "district")
    page.get_by_test_id("check-clever").click()
    page.get_by_test_id("confirm-yes").wait_for()
    assert_accessible(page, "district-confirm-check")
    # And at phone width
    page.set_viewport_size(PHONE)
    assert_accessible(page, "district-phone")
    assert_fits_phone(page, "district")
    # Then, the confirmation cancelled and signed out, the signed-out card
    page.set_viewport_size(DESKTOP)
    page.get_by_test_id("confirm-cancel").click()
    # And a district that does not exist
    page.goto(devstack.url + "/#/districts/d-unknown")
    page.get_by_test_id("load-problem").wait_for()
    assert_accessible(page, "district-not-found")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_test_id("signed-out").wait_for()
    assert_accessible(page, "signed-out")


def test_the_reports_of_removals_source_ids_and_emergency_contacts_have_no_serious_violations(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given one school on hold per reason: removals, source ids changed, emergency contacts
    sign_in(page, devstack)
    scenarios = ("semester_end", "rekey", "emergency_contact")
    school_ids = [devstack.scenario(name, index)["school_id"] for index, name in enumerate(scenarios)]
    devstack.tick()
    reload_district(page)
    rows(page, "on_hold").nth(2).wait_for()
    district_id = district_id_of(page)
    # Then the district page with its holds passes, at desktop and phone width
    assert_accessible(page, "district-on-hold")
    page.set_viewport_size(PHONE)
    assert_accessible(page, "district-on-hold-phone")
    assert_fits_phone(page, "district on hold")
    page.set_viewport_size(DESKTOP)
    # And the district's sync history, at both widths
    page.get_by_test_id("sync-history-link").click()
    page.get_by_test_id("sync-history").wait_for()
    assert_accessible(page, "sync-history")
    page.set_viewport_size(PHONE)
    assert_accessible(page, "sync-history-phone")
    assert_fits_phone(page, "sync history")
    page.set_viewport_size(DESKTOP)
    # And each school's report
    for name, school_id in zip(scenarios, school_ids, strict=True):
        open_report(page, devstack, district_id, school_id_for(school_id))
        assert page.get_by_test_id("report-status").get_attribute("data-status") == "on_hold"
        assert_accessible(page, f"report-{name}")
    # And a report at phone width
    page.set_viewport_size(PHONE)
    assert_accessible(page, "report-emergency_contact-phone")
    assert_fits_phone(page, "report")


def test_the_guardians_report_and_a_disconnected_district_have_no_serious_violations(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold for too many guardians
    held = hold(page, devstack, "many_guardians")
    district_id = district_id_of(page)
    school_id = school_id_of(held.first)
    open_report(page, devstack, district_id, school_id)
    assert_accessible(page, "report-many_guardians")
    # When Clever revokes the district's token
    devstack.scenario("revoke_token")
    devstack.tick()
    # Then the disconnected district and the report pass, at desktop and phone width
    page.goto(f"{devstack.url}/#/districts/{district_id}")
    page.get_by_test_id("connection-banner").wait_for()
    assert_accessible(page, "district-disconnected")
    open_report(page, devstack, district_id, school_id)
    page.get_by_test_id("connection-banner").wait_for()
    assert_accessible(page, "report-disconnected")
    page.set_viewport_size(PHONE)
    assert_accessible(page, "report-disconnected-phone")
    assert_fits_phone(page, "disconnected report")
    # And the answer to I fixed it while still disconnected
    page.get_by_test_id("i-fixed-it").click()
    answer = page.get_by_test_id("alert").or_(page.get_by_test_id("results"))
    answer.filter(has_text=re.compile(r"\w")).first.wait_for()
    assert_accessible(page, "report-still-disconnected-phone")
    # And the demo's own pages: the scenario panel and the outbox as a browser shows it
    page.set_viewport_size(DESKTOP)
    page.goto(devstack.url + "/dev/")
    assert_accessible(page, "demo-panel")
    page.goto(devstack.url + "/dev/outbox")
    assert_accessible(page, "demo-outbox")


def test_clear_holds_works_with_the_keyboard_only_and_the_focus_always_shows(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school on hold and the district page open (its main region has the focus)
    held = hold(page, devstack, "semester_end")
    school_id = school_id_of(held.first)
    school_name = held.first.get_by_role("link").first.inner_text()
    # When the admin goes back to the top of the page (past the header) with Shift+Tab
    assert "Sign out" in " ".join(tab_to(page, ".skip-link", "Shift+Tab"))
    # And tabs to the school's checkbox and ticks it with Space
    tab_to(page, f'[data-testid="select-{school_id}"]')
    page.keyboard.press("Space")
    assert page.get_by_test_id(f"select-{school_id}").is_checked()
    page.locator("#selected-count").filter(has_text="1 school selected").wait_for()
    # And tabs on to Clear holds and presses Enter
    tab_to(page, '[data-testid="clear-holds"]')
    assert_accessible(page, "keyboard-clear-holds-focused")
    page.keyboard.press("Enter")
    # And confirms with the keyboard where the dashboard asks first
    dialog = page.locator("[role=dialog], [role=alertdialog], dialog[open]")
    page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').or_(
        dialog
    ).first.wait_for()
    if dialog.count():
        assert dialog.first.evaluate("(d) => d.contains(document.activeElement)"), (
            "focus is not in the dialog"
        )
        assert_accessible(page, "keyboard-clear-holds-confirm")
        confirm = ":is([role=dialog], [role=alertdialog], dialog) button.primary"
        if not page.evaluate("(s) => document.activeElement.matches(s)", confirm):
            # a modal <dialog> lets Tab out to the browser's own controls: back to it with Shift+Tab
            tab_to(page, confirm, "Shift+Tab")
        page.keyboard.press("Enter")
    # Then the school is connected, the result is announced, and the focus did not fall to the page
    page.locator(f'[data-testid="school-row-{school_id}"][data-status="connected"]').wait_for(timeout=45_000)
    assert school_name in page.get_by_test_id("results").inner_text()
    assert page.evaluate("() => document.activeElement !== document.body")
    assert_accessible(page, "keyboard-clear-holds-done")
