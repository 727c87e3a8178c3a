"""Signing in as on AWS: the dashboard asks `/v1/auth-config` where to sign in and runs the
authorization code + PKCE flow against the devstack's authorization server (the Hosted UI's
endpoints); the ID token stays in the tab's sessionStorage."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.browser.conftest import ADMIN, RunningDevstack
from tests.e2e.browser.dashboard import choose_email_sign_in, shot, sign_in

SCHOOL_LINK = re.compile(r'href="(https?://[^"]+/#/districts/[^/"]+/schools/[^/"]+)"')


def _emailed_school_link(devstack: RunningDevstack) -> str:
    """Put a school on hold and return the link to its report from the hold e-mail."""
    devstack.scenario("semester_end", 0)
    devstack.tick()
    [mail] = devstack.outbox()
    [link] = SCHOOL_LINK.findall(mail["html"])
    return str(link)


def test_an_emailed_school_link_lands_on_that_school_after_sign_in_and_a_new_tab_needs_no_prompt(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given the link to a held school's report from the hold e-mail, opened in a fresh browser
    link = _emailed_school_link(devstack)
    assert link.startswith(devstack.url + "/#/")  # the stack's DashboardUrl is the devstack's URL
    exchanges: list[str] = []
    page.on("request", lambda r: exchanges.append(r.url) if r.url.endswith("/oauth2/token") else None)
    page.goto(link)

    # When the admin signs in on the (demo) authorization server's form
    choose_email_sign_in(page)
    page.get_by_text("This is the demo sign-in of the local devstack").wait_for()
    page.get_by_test_id("authorize-email").fill(ADMIN)
    page.get_by_test_id("authorize-submit").click()

    # Then the dashboard exchanged the code and shows the school the link named, without the code
    page.get_by_test_id("report-status").wait_for()
    shot(page, "signed-in-from-emailed-link")
    assert page.url == link
    assert len(exchanges) == 1
    stored = page.evaluate("() => [Object.keys(localStorage), Object.keys(sessionStorage)]")
    assert stored == [[], ["sis-sync.id-token"]]  # never localStorage; the PKCE verifier is gone

    # And a new tab goes through the authorization server again and comes back signed in, no prompt
    tab = page.context.new_page()
    tab.goto(devstack.url + "/")
    tab.get_by_test_id("district-name").wait_for()
    assert "authorize" not in tab.url
    assert tab.get_by_test_id("authorize-email").count() == 0


def test_sign_out_goes_through_logout_and_the_next_sign_in_prompts(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a signed-in admin
    sign_in(page, devstack)
    logouts: list[str] = []
    page.on("request", lambda r: logouts.append(r.url) if "/logout?" in r.url else None)

    # When they sign out
    page.get_by_role("button", name="Sign out").click()

    # Then the authorization server's session ended too: the dashboard says so, and signing in asks again
    page.get_by_test_id("signed-out").wait_for()
    assert len(logouts) == 1
    assert "logout_uri=" in logouts[0]
    assert "client_id=" in logouts[0]
    assert page.evaluate("() => sessionStorage.getItem('sis-sync.id-token')") is None
    page.get_by_test_id("signin-start").click()
    page.get_by_test_id("authorize-email").wait_for()


def test_a_sign_in_answer_with_a_wrong_state_is_refused_with_a_clear_message(
    page: Any, devstack: RunningDevstack
) -> None:
    # Given a sign-in started in this tab (the authorization server's form is showing)
    page.goto(devstack.url + "/")
    choose_email_sign_in(page)
    page.get_by_test_id("authorize-email").wait_for()

    # When an answer with another state arrives (a forged or stale callback)
    page.goto(devstack.url + "/?code=stolen-code&state=forged")

    # Then nothing is signed in and the page says why, in words, with a way to sign in again
    problem = page.get_by_test_id("signin-problem")
    problem.wait_for()
    assert "does not belong to a sign-in started in this tab" in problem.inner_text()
    assert "stolen-code" not in page.url
    assert page.evaluate("() => sessionStorage.getItem('sis-sync.id-token')") is None


def test_a_replayed_code_is_refused_with_a_clear_message(page: Any, devstack: RunningDevstack) -> None:
    # Given a completed sign-in whose callback (code, state) and PKCE verifier were seen on the way
    callbacks: list[str] = []
    verifiers: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "?code=" in r.url else None)
    page.on(
        "request",
        lambda r: verifiers.append(r.post_data or "") if r.url.endswith("/oauth2/token") else None,
    )
    sign_in(page, devstack)
    [callback] = callbacks
    verifier = re.search(r"code_verifier=([^&]+)", verifiers[0])
    state = re.search(r"state=([^&]+)", callback)
    assert verifier
    assert state

    # When the same answer is played again, with the very same verifier and state
    page.evaluate(
        """([verifier, state]) => {
          sessionStorage.clear();
          sessionStorage.setItem('sis-sync.pending-sign-in', JSON.stringify({verifier, state, returnTo: ''}));
        }""",
        [verifier.group(1), state.group(1)],
    )
    page.goto(callback)

    # Then the authorization server refuses the spent code and the dashboard says so in words
    problem = page.get_by_test_id("signin-problem")
    problem.wait_for()
    assert "The sign-in code was already used or has expired." in problem.inner_text()
    assert page.evaluate("() => sessionStorage.getItem('sis-sync.id-token')") is None
