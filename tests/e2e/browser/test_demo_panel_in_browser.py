"""The demo itself, as the README walks through it: the scenario panel (named schools, unknown ones
refused, Clever shares Brookside, undo one scenario, fix at the source), Match schools on the
dashboard, and the outbox as a browser shows it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import reload_district, rows, shot, sign_in

pytestmark = pytest.mark.browser

SCHOOLS = ["Pinecrest Elementary School", "Pinecrest Middle School", "Pinecrest High School"]
RELEASE_SECONDS = 45


def _api(devstack: RunningDevstack) -> Any:
    token = devstack.http.post("/dev/token", json={"email": ADMIN}).json()["token"]
    return lambda method, path, **kw: devstack.http.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kw
    )


def _statuses(api: Any, district: str) -> dict[str, str]:
    schools = api("GET", f"/v1/districts/{district}/schools").json()["schools"]
    return {school["name"]: school["status"] for school in schools}


def test_the_panel_names_schools_refuses_unknown_ones_and_brookside_is_matched(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given the demo panel
    page.goto(f"{devstack.url}/dev/")
    select = page.get_by_label("School")
    page.locator("#school option").first.wait_for(state="attached")
    # Then it names the schools (not "first/second/third")
    assert page.locator("#school option").all_inner_texts() == SCHOOLS
    # And a school that does not exist is refused, not wrapped round to another
    refused = devstack.http.post("/dev/scenario", json={"name": "semester_end", "school_index": 3})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_school"
    # When a scenario runs at the middle school, then is undone from the panel
    select.select_option(label="Pinecrest Middle School")
    page.get_by_role("button", name="Semester end: 30 % of the school's students removed").click()
    page.get_by_test_id("panel-outcome").filter(has_text="Done at Pinecrest Middle School").wait_for()
    undo = page.get_by_role("button", name="Undo this scenario: Semester end: 30 % of the school's")
    undo.wait_for()
    shot(page, "demo-panel")
    undo.click()
    page.get_by_test_id("panel-outcome").filter(has_text="Undone: Semester end").wait_for()
    page.get_by_text("None: the district is as Clever first served it.").wait_for()  # list refreshed
    assert page.get_by_role("button", name="Undo this scenario", exact=False).count() == 0
    # When Clever shares Brookside, and the poll runs
    page.get_by_role("button", name="Clever shares Brookside Elementary School").click()
    page.get_by_role("button", name="Undo this scenario: Clever shares Brookside").wait_for()
    page.get_by_test_id("panel-tick").click()
    page.get_by_test_id("panel-outcome").filter(has_text="Poll done").wait_for(timeout=60_000)
    # Then the dashboard's Match schools suggests the not-connected Brookside, and matching links it
    sign_in(page, devstack)
    match = page.locator("select[id^='match-']")
    match.wait_for()
    match.select_option(label="Brookside Elementary School (similar name)")
    shot(page, "match-schools")
    page.get_by_test_id("match-schools").click()
    page.get_by_text("Every Clever school shared with sis-sync is matched.").wait_for()
    devstack.tick()
    reload_district(page)
    brookside = rows(page, "connected").filter(has_text="Brookside Elementary School")
    brookside.wait_for()
    assert rows(page, "not_connected").count() == 0


def test_fixing_at_the_source_keeps_an_accepted_change_and_the_outbox_is_readable(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given Pinecrest Elementary re-keyed and on hold, and the hold cleared by the admin
    api = _api(devstack)
    district = api("GET", "/v1/me").json()["district_ids"][0]
    devstack.scenario("rekey", 0)
    devstack.tick()
    held = [
        s for s in api("GET", f"/v1/districts/{district}/schools").json()["schools"] if s["pending_sync_id"]
    ]
    assert [s["name"] for s in held] == [SCHOOLS[0]]
    approvals = [{"school_id": s["school_id"], "sync_id": s["pending_sync_id"]} for s in held]
    assert (
        api("POST", f"/v1/districts/{district}/holds/clear", json={"schools": approvals}).status_code == 202
    )
    deadline = time.monotonic() + RELEASE_SECONDS
    while _statuses(api, district)[SCHOOLS[0]] != "connected" and time.monotonic() < deadline:
        devstack.tick()  # returns once the release execution has finished
    assert _statuses(api, district)[SCHOOLS[0]] == "connected"
    # And then Clever revokes the token, and an Emergency contact is added at another school
    devstack.scenario("revoke_token")
    devstack.scenario("emergency_contact", 1)
    # When the district fixes everything at the source, and the next poll runs
    fixed = devstack.scenario("fix_everything")
    devstack.tick()
    # Then the contact and the token were fixed, the accepted re-key was kept ...
    assert [e["name"] for e in fixed["undone"]] == ["revoke_token", "emergency_contact"]
    assert [e["name"] for e in fixed["kept"]] == ["rekey"]
    # ... and no school went (back) on hold
    assert set(_statuses(api, district).values()) <= {"connected", "not_connected"}
    # And the outbox shows the hold e-mail to a browser, its links clickable
    page.goto(f"{devstack.url}/dev/outbox")
    mail = page.get_by_test_id("outbox-message").filter(has_text=SCHOOLS[0]).first
    mail.wait_for()
    assert f"To: {ADMIN}" in mail.inner_text()
    link = mail.get_by_test_id("outbox-text").locator(f'a[href^="{devstack.url}/"]').first
    assert link.inner_text() == link.get_attribute("href")
    shot(page, "outbox")
    # (scripts still get JSON)
    assert devstack.outbox()[0]["subject"]
