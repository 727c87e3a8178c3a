"""The demo panel's backend (`/dev/scenario`), the outbox page and the demo sign-in page, without
AWS: the scenarios run on a simulator, and what sis-sync applied is a dict the test keeps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.auth import JwtAuthorizer, TokenIssuer
from devstack.authorization_server import AppClient, AuthorizationServer
from devstack.demo_scenarios import DemoScenarios, ScenarioRefusedError
from devstack.gateway import DevHooks, create_gateway
from sis_sync.scheduling import sync_id_for

SCHOOL_NAMES = ["Pinecrest Elementary School", "Pinecrest Middle School", "Pinecrest High School"]


class Applied:
    """What sis-sync applied per Clever school (the sync id of its applied snapshot)."""

    def __init__(self, school_ids: list[str]) -> None:
        self.sync_id = dict.fromkeys(school_ids, "20261130T000000000Z-first-d")

    def accept(self, school_id: str) -> None:
        """An admin cleared the hold of a sync that started after the scenario ran."""
        self.sync_id[school_id] = sync_id_for("d", datetime.now(UTC))

    def finish_earlier_sync(self, school_id: str, started_at: datetime) -> None:
        """A sync that was already running when the scenario ran gets applied."""
        self.sync_id[school_id] = sync_id_for("d", started_at)


@pytest.fixture
def sim() -> CleverSimulator:
    # the devstack's district: seed 7, three schools and one Clever does not share
    return CleverSimulator(GeneratedDistrict(7, schools=3, students=300, unshared_schools=1))


@pytest.fixture
def applied(sim: CleverSimulator) -> Applied:
    return Applied(sim.district.school_ids())


@pytest.fixture
def panel(sim: CleverSimulator, applied: Applied) -> DemoScenarios:
    return DemoScenarios(sim, applied.sync_id.get, {})


def test_the_panel_names_the_schools_and_the_one_clever_does_not_share(panel: DemoScenarios) -> None:
    view = panel.view()
    assert [school["name"] for school in view["schools"]] == SCHOOL_NAMES
    assert [school["name"] for school in view["unshared_schools"]] == ["Brookside Elementary School"]
    assert view["applied"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "semester_end", "school_index": 3},  # one past the last: used to wrap to the first
        {"name": "semester_end", "school_index": -1},
        {"name": "rekey", "school_id": "0e0a98100000000300a6fe2f"},  # Brookside: unshared, nobody in it
        {"name": "emergency_contact", "school_id": "no-such-school"},
    ],
)
def test_an_unknown_school_is_refused_with_the_schools_to_choose_from(
    panel: DemoScenarios, sim: CleverSimulator, body: dict[str, Any]
) -> None:
    with pytest.raises(ScenarioRefusedError) as refused:
        panel.run(body)
    assert refused.value.code == "unknown_school"
    assert all(name in refused.value.message for name in SCHOOL_NAMES)
    assert sim.scenarios.applied == []  # nothing happened anywhere


def test_an_unknown_scenario_or_field_is_refused(panel: DemoScenarios) -> None:
    with pytest.raises(ScenarioRefusedError) as unknown:
        panel.run({"name": "flood"})
    assert unknown.value.code == "unknown_scenario"
    assert "semester_end" in unknown.value.message
    with pytest.raises(ScenarioRefusedError) as invalid:
        panel.run({"name": "rekey", "school": "Pinecrest"})
    assert invalid.value.code == "invalid_request"


def test_a_scenario_names_its_school_and_can_be_undone_on_its_own(
    panel: DemoScenarios, sim: CleverSimulator
) -> None:
    # Given two scenarios at two schools
    first = panel.run({"name": "semester_end", "school_index": 1})
    panel.run({"name": "emergency_contact", "school_id": sim.district.school_ids()[2]})
    assert first["school"] == "Pinecrest Middle School"
    listed = panel.view()["applied"]
    assert [(e["title"], e["school"]) for e in listed] == [
        ("Semester end: 30 % of the school's students removed", "Pinecrest Middle School"),
        ("An Emergency contact is added", "Pinecrest High School"),
    ]
    # When the first is undone
    answer = panel.run({"name": "undo", "scenario_id": listed[0]["scenario_id"]})
    # Then only the second is left, in the panel and in the simulator
    assert answer["undone"]["school"] == "Pinecrest Middle School"
    assert [e["name"] for e in panel.view()["applied"]] == ["emergency_contact"]
    assert [e.scenario for e in sim.scenarios.applied] == ["emergency_contact"]
    with pytest.raises(ScenarioRefusedError):
        panel.run({"name": "undo", "scenario_id": listed[0]["scenario_id"]})


def test_a_sync_already_running_when_the_scenario_ran_accepts_nothing(
    panel: DemoScenarios, sim: CleverSimulator, applied: Applied
) -> None:
    # Given an Emergency contact added while a sync that read Clever before it was still running,
    # and that sync's snapshot then applied (the school's first sync, say)
    school = sim.district.school_ids()[1]
    started = datetime.now(UTC) - timedelta(seconds=1)
    panel.run({"name": "emergency_contact", "school_id": school})
    applied.finish_earlier_sync(school, started)
    # When the district fixes everything at the source
    answer = panel.run({"name": "fix_everything"})
    # Then the contact is taken back: sis-sync never accepted it
    assert [e["name"] for e in answer["undone"]] == ["emergency_contact"]
    assert sim.scenarios.applied == []


def test_fix_everything_keeps_what_sis_sync_accepted_and_reverts_the_rest(
    panel: DemoScenarios, sim: CleverSimulator, applied: Applied
) -> None:
    # Given a re-key at the first school, whose hold the admin cleared (accepted), an Emergency
    # contact still held at the second, and a revoked token
    schools = sim.district.school_ids()
    panel.run({"name": "rekey", "school_id": schools[0]})
    applied.accept(schools[0])
    panel.run({"name": "emergency_contact", "school_id": schools[1]})
    panel.run({"name": "revoke_token"})
    assert sim.faults.is_revoked(sim.token)
    rekeyed = set(sim.district.student_ids_of_school(schools[0]))
    # When the district fixes everything at the source
    answer = panel.run({"name": "fix_everything"})
    # Then the contact and the token are fixed, and the accepted re-key stays (undoing it would be
    # a second re-key, which would put the school on hold again)
    assert [e["name"] for e in answer["undone"]] == ["emergency_contact", "revoke_token"]
    assert [(e["name"], e["accepted"]) for e in answer["kept"]] == [("rekey", True)]
    assert set(sim.district.student_ids_of_school(schools[0])) == rekeyed
    assert [e.scenario for e in sim.scenarios.applied] == ["rekey"]
    assert not sim.faults.is_revoked(sim.token)


def test_clever_shares_brookside_and_fix_everything_leaves_it_shared(panel: DemoScenarios) -> None:
    shared = panel.run({"name": "share_school"})
    assert shared["effect"]["school_id"] == "0e0a98100000000300a6fe2f"
    assert panel.view()["unshared_schools"] == []
    assert panel.view()["applied"][0]["title"] == "Clever shares Brookside Elementary School"
    assert panel.run({"name": "fix_everything"})["undone"] == []
    with pytest.raises(ScenarioRefusedError) as again:
        panel.run({"name": "share_school"})
    assert "shared already" in again.value.message


# -- the gateway's /dev endpoints ------------------------------------------------------------------

MESSAGE = {
    "to": ["admin@example.org"],
    "subject": "Clever sync on hold: Pinecrest Middle School",
    "text": "Open the report: http://127.0.0.1:8000/#/d/d-1/schools/s-2?x=1&y=<2>.\nThanks",
    "html": "<p>Open the <a href='http://127.0.0.1:8000/'>report</a></p>",
}


def _client(scenario: Any = None) -> Any:
    issuer = TokenIssuer("http://127.0.0.1:1", "client")
    authorizer = JwtAuthorizer(issuer.issuer, issuer.audience, lambda token: issuer.public_key)
    hooks = DevHooks(
        district_of=lambda email: "demo",
        outbox=lambda: [MESSAGE],
        tick=dict,
        scenario=scenario,
        panel=lambda: "<p>panel</p>",
        scenarios=lambda: {"schools": [], "unshared_schools": [], "applied": []},
    )
    return create_gateway(
        lambda e, c: {"statusCode": 404, "body": "{}"}, authorizer, issuer, hooks
    ).test_client()


def test_the_outbox_is_a_readable_page_for_a_browser_and_json_for_everyone_else() -> None:
    client = _client()
    # A browser (Chromium's Accept header) gets a page: subject, recipient, text with its link
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
    page = client.get("/dev/outbox", headers={"Accept": browser})
    assert page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert '<h2 id="mail-1">Clever sync on hold: Pinecrest Middle School</h2>' in body
    assert "To: admin@example.org" in body
    url = "http://127.0.0.1:8000/#/d/d-1/schools/s-2?x=1&amp;y="
    assert f'<a href="{url}">{url}</a>&lt;2&gt;.' in body  # the link ends before the markup
    assert "<p>Open the <a href='http" not in body  # the HTML part only inside a sandboxed frame
    assert 'sandbox=""' in body
    # Scripts (no Accept, */*, or JSON) keep DESIGN §5's JSON
    for accept in (None, "*/*", "application/json"):
        answer = client.get("/dev/outbox", headers={"Accept": accept} if accept else {})
        assert answer.mimetype == "application/json"
        assert answer.get_json() == {"messages": [MESSAGE]}


def test_a_refused_scenario_is_400_and_the_panel_state_is_served() -> None:
    def scenario(body: dict[str, Any]) -> dict[str, Any]:
        return {"error": {"code": "unknown_school", "message": "No school number 9"}}

    client = _client(scenario)
    refused = client.post("/dev/scenario", json={"name": "rekey", "school_index": 9})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "unknown_school"
    assert client.get("/dev/scenario").get_json() == {"schools": [], "unshared_schools": [], "applied": []}


# -- the demo sign-in page -------------------------------------------------------------------------


def test_the_sign_in_page_says_it_is_the_local_demo_sign_in() -> None:
    client_app = AppClient(client_id="c", callback_urls=("http://127.0.0.1:8000/",), logout_urls=())
    server = AuthorizationServer(client_app, TokenIssuer("http://127.0.0.1:1", "c"), lambda e: "demo").app()
    query = {
        "response_type": "code",
        "client_id": "c",
        "redirect_uri": "http://127.0.0.1:8000/",
        "scope": "openid email",
        "state": "s",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    page = server.test_client().get("/oauth2/authorize", query_string=query).get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "<title>Demo sign-in (local only)" in page
    assert "This is the demo sign-in of the local devstack ( make demo ), not a real one." in text
    assert "any e-mail address signs in as a district admin of the demo district, and only here" in text
