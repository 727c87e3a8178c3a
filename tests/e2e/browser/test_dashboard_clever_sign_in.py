"""Log in with Clever, end to end in the devstack: the dashboard runs the PKCE flow with the Clever
sign-in client and `identity_provider=Clever`; the local authorization server federates the
simulated Clever login as Cognito does and asks the real pre token generation function, which gives
a Clever district admin their district and refuses anyone else."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import shot

REFUSAL = "Clever sign-in is for district administrators of your district."


def id_token_claims(page: Any) -> dict[str, Any]:
    token = page.evaluate("() => sessionStorage.getItem('sis-sync.id-token')")
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def log_in_with_clever_as(page: Any, devstack: RunningDevstack, person: Any) -> None:
    """From a fresh browser: Log in with Clever, then pick `person` on the simulated Clever login."""
    page.goto(devstack.url + "/")
    page.get_by_test_id("signin-clever").click()
    page.get_by_text("This is the Clever simulator's login").wait_for()
    person(page).click()


def test_a_clever_district_admin_logs_in_with_clever_and_lands_on_their_district(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a deployment with Log in with Clever (the devstack runs the simulated Clever app)
    clever_client = devstack.http.get("/v1/auth-config").json()["clever_client_id"]
    assert clever_client
    exchanges: list[str] = []
    page.on(
        "request", lambda r: exchanges.append(r.post_data or "") if r.url.endswith("/oauth2/token") else None
    )

    # When the district's Clever admin clicks Log in with Clever and picks themselves on Clever's login
    log_in_with_clever_as(page, devstack, lambda p: p.locator("li", has_text=ADMIN).get_by_role("button"))

    # Then they are signed in on their district's page, as the e-mail the district's Clever record has
    page.get_by_test_id("district-name").wait_for()
    shot(page, "logged-in-with-clever")
    assert page.locator(".who").inner_text() == ADMIN
    claims = id_token_claims(page)
    assert claims["aud"] == clever_client  # the code was exchanged with the client the flow started with
    assert f"client_id={clever_client}" in exchanges[0]
    assert claims["custom:role"] == "district_admin"
    assert claims["identities"][0]["providerName"] == "Clever"
    assert page.evaluate("() => Object.keys(localStorage)") == []


def test_a_clever_teacher_is_refused_with_the_triggers_message_and_offered_the_other_ways(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a teacher of the district (Clever knows them, sis-sync gives them nothing)
    # When they log in with Clever
    log_in_with_clever_as(page, devstack, lambda p: p.locator('[data-role="teacher"]').first)

    # Then the dashboard shows the trigger's message, signs nobody in, and offers e-mail and sign-out
    problem = page.get_by_test_id("signin-problem")
    problem.wait_for()
    shot(page, "clever-sign-in-refused")
    assert f"Log in with Clever was refused: {REFUSAL}" in problem.inner_text()
    assert page.evaluate("() => sessionStorage.getItem('sis-sync.id-token')") is None
    assert "code=" not in page.url
    assert "error=" not in page.url
    assert page.get_by_test_id("signin-sign-out").is_visible()

    # And nothing loops back to Clever: a reload asks which way, and the e-mail way still works
    page.reload()
    page.get_by_test_id("signin-choose").wait_for()
    page.get_by_test_id("signin-start").click()
    page.get_by_test_id("authorize-email").wait_for()
