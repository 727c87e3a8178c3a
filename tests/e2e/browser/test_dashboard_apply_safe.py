"""Apply safe changes now (issue 12): a school held for its semester-end removals that also has new
parents gets the additions and updates applied from its report (or for the selected schools of the
district table), stays on hold with only the removals (counts, table, CSV), and Clear hold applies
the rest."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.axe import assert_accessible
from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import reload_district, rows, school_id_of, shot, sign_in

pytestmark = pytest.mark.browser

APPLY_SECONDS = 45_000
OFFER = re.compile(r"Apply 10 additions and (\d+) updates now; the (\d+) removals stay on hold\.")


def api(devstack: RunningDevstack) -> Any:
    token = devstack.http.post("/dev/token", json={"email": ADMIN}).json()["token"]

    def get(path: str) -> dict[str, Any]:
        response = devstack.http.get(path, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    return get


def held_with_new_parents(
    page: Any, devstack: RunningDevstack, *indexes: int, emergency_at: int | None = None
) -> Any:
    """Sign in; at each school, semester end (removals: held) and ten new parents (safe additions);
    an emergency contact (held, nothing safe) at `emergency_at`; poll; the on-hold rows once shown."""
    sign_in(page, devstack)
    for index in indexes:
        devstack.scenario("semester_end", index)
        devstack.scenario("new_parents", index)
    if emergency_at is not None:
        devstack.scenario("emergency_contact", emergency_at)
    devstack.tick()
    reload_district(page)
    held = rows(page, "on_hold")
    held.nth(len(indexes) - (emergency_at is None)).wait_for()
    return held


def test_apply_safe_changes_now_applies_the_additions_and_leaves_only_the_removals_on_hold(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a school held for semester-end removals, with ten new parents in the same sync
    get = api(devstack)
    row = held_with_new_parents(page, devstack, 0).first
    school_id = school_id_of(row)
    district = page.url.split("#/districts/")[1].split("/")[0]
    school_path = f"/v1/districts/{district}/schools/{school_id}"
    held = get(school_path)
    assert held["safe_changes"] > 10  # the ten contacts and the classes that lost students
    assert (
        row.get_by_test_id(f"safe-{school_id}").inner_text()
        == f"{held['safe_changes']} safe changes can apply now"
    )
    roster_before = get(f"{school_path}/roster")["counts"]

    # When the admin opens its report
    row.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()

    # Then it offers to apply the additions and updates now, saying what stays on hold
    offer = page.get_by_test_id("apply-safe-offer").inner_text()
    found = OFFER.search(offer)
    assert found, offer
    updates, removals = map(int, found.groups())
    assert (10 + updates, removals) == (held["safe_changes"], held["changes"]["removed"])
    assert_accessible(page, "apply-safe-offer")

    # When the admin clicks Apply safe changes now: a confirmation first, nothing sent yet
    posts: list[str] = []
    page.on(
        "request", lambda r: posts.append(r.url) if r.method == "POST" and "apply-safe" in r.url else None
    )
    page.get_by_test_id("apply-safe").click()
    page.get_by_test_id("confirm-dialog").wait_for()
    assert (
        page.locator("#confirm-title").inner_text()
        == f"Apply 10 additions and {updates} updates at {held['name']} now?"
    )
    assert_accessible(page, "apply-safe-confirm")
    assert posts == []
    page.get_by_test_id("confirm-yes").click()

    # Then the result is said in words, and once applied the offer is gone
    page.locator("#results").filter(has_text="the safe changes are being applied").wait_for()
    page.get_by_test_id("apply-safe-offer").wait_for(state="detached", timeout=APPLY_SECONDS)
    page.locator("#results").filter(has_text="safe changes applied").wait_for(timeout=APPLY_SECONDS)
    assert len(posts) == 1
    shot(page, "apply-safe-applied")

    # And the additions are in the roster, the removals not yet
    roster = get(f"{school_path}/roster")["counts"]
    assert roster["contacts"] == roster_before["contacts"] + 10
    assert roster["students"] == roster_before["students"]

    # And the school is still on hold for the same sync, its numbers and table only the removals
    after = get(school_path)
    assert (after["status"], after["pending_sync_id"], after["safe_changes"]) == (
        "on_hold",
        held["pending_sync_id"],
        0,
    )
    assert after["changes"] == {"added": 0, "updated": 0, "removed": removals, "source_id_changed": 0}
    assert page.get_by_test_id("report-status").inner_text().strip().endswith("On hold")
    page.get_by_test_id("hold-large_removals").wait_for()
    table = page.get_by_test_id("changes-table")
    assert (
        table.locator('td[data-label="Added"]').all_inner_texts() == ["0"] * table.locator("tbody tr").count()
    )
    assert (
        table.locator('td[data-label="Updated"]').all_inner_texts()
        == ["0"] * table.locator("tbody tr").count()
    )

    # And the history says who applied what, and what still waits
    history = page.get_by_test_id("history").inner_text()
    assert f"Apply safe changes now by {ADMIN}: the safe changes are being applied" in history
    applied = f"Safe changes applied by {ADMIN} — {updates} updates, 10 additions applied"
    applied += f"; {removals} removals still on hold"
    assert applied in history

    # And the CSV lists only the removals
    with page.expect_download() as download:
        page.get_by_test_id("download-csv").click()
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert len(lines) == removals
    assert {line["change_type"] for line in lines} == {"removed"}
    assert_accessible(page, "apply-safe-after")

    # When the admin clears the hold: the rest (the removals) is applied
    page.get_by_test_id("clear-hold").click()
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("report-status").filter(has_text="Connected").wait_for(timeout=APPLY_SECONDS)
    cleared = get(f"{school_path}/roster")["counts"]
    assert cleared["students"] + cleared["contacts"] == roster["students"] + roster["contacts"] - removals
    assert cleared["students"] < roster["students"]


def test_apply_safe_changes_for_the_selected_schools_says_the_result_per_school(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given two schools held with safe changes, and one held with only an emergency contact (none safe)
    get = api(devstack)
    held = held_with_new_parents(page, devstack, 0, 1, emergency_at=2)
    ids = [school_id_of(held.nth(n)) for n in range(3)]
    district = page.url.split("#/districts/")[1].split("/")[0]
    views = {s["school_id"]: s for s in get(f"/v1/districts/{district}/schools")["schools"]}
    safe = [i for i in ids if views[i]["safe_changes"]]
    [unsafe] = [i for i in ids if not views[i]["safe_changes"]]
    assert len(safe) == 2
    assert page.get_by_test_id(f"safe-{unsafe}").count() == 0

    # When the admin selects all on hold and clicks Apply safe changes now
    page.locator("#select-all").check()
    page.get_by_test_id("apply-safe-selected").click()

    # Then the confirmation names what each school applies now, and the school with nothing safe
    page.get_by_test_id("confirm-dialog").wait_for()
    assert page.locator("#confirm-title").inner_text() == "Apply the safe changes at 2 schools now?"
    details = page.get_by_test_id("confirm-details").all_inner_texts()[0]
    for school_id in safe:
        assert re.search(
            rf"{re.escape(views[school_id]['name'])}: Apply 10 additions and \d+ updates now", details
        )
    assert f"{views[unsafe]['name']}: nothing safe to apply" in details
    assert_accessible(page, "apply-safe-selected-confirm")
    page.get_by_test_id("confirm-yes").click()

    # Then each school's result is said in words, and the two are applied, still on hold
    results = page.locator("#results")
    results.filter(has_text="safe changes applied at 2 schools").wait_for(timeout=APPLY_SECONDS)
    text = results.inner_text()
    for school_id in safe:
        assert f"{views[school_id]['name']}: the safe changes are being applied" in text
    assert f"{views[unsafe]['name']}: nothing safe to apply" in text
    for school_id in ids:
        row = page.get_by_test_id(f"school-row-{school_id}")
        assert row.get_attribute("data-status") == "on_hold"
        assert row.get_by_test_id(f"safe-{school_id}").count() == 0
    shot(page, "apply-safe-selected")
