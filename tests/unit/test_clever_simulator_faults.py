"""Clever simulator: fault modes, rate limiting (injected clock) and the control endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.walk import next_uri


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def district() -> GeneratedDistrict:
    return GeneratedDistrict(3, schools=3, students=1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def sim(district: GeneratedDistrict, clock: FakeClock, sleeps: list[float]) -> CleverSimulator:
    return CleverSimulator(district, clock=clock, sleep=sleeps.append)


@pytest.fixture
def client(sim: CleverSimulator) -> FlaskClient:
    client = sim.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {sim.token}"
    return client


def test_revoked_token_answers_401_invalid_token_until_cleared(
    sim: CleverSimulator, client: FlaskClient
) -> None:
    # Given the district revoked the app's token
    sim.faults.revoke_token()

    # When the API is called
    response = client.get("/v3.0/districts")

    # Then it answers 401 invalid_token and the token is no longer listed by /oauth/tokens
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    tokens = client.get("/oauth/tokens?owner_type=district", auth=("sim-client-id", "sim-client-secret"))
    assert tokens.get_json()["data"] == []

    # And after clearing the fault the token works again
    sim.faults.clear("revoked_token")
    assert client.get("/v3.0/districts").status_code == 200


def test_revoking_one_token_leaves_the_others(district: GeneratedDistrict) -> None:
    sim = CleverSimulator(district, tokens={"a": district.district_id, "b": district.district_id})
    sim.faults.revoke_token("a")
    client = sim.app.test_client()
    assert client.get("/v3.0/districts", headers={"Authorization": "Bearer a"}).status_code == 401
    assert client.get("/v3.0/districts", headers={"Authorization": "Bearer b"}).status_code == 200


def test_third_student_page_always_fails_with_html_502(sim: CleverSimulator, client: FlaskClient) -> None:
    # Given page 3 onward of /users?role=student fails
    sim.faults.fail_pages("/v3.0/users", 3, role="student")

    # When a client pages through the students
    first = client.get("/v3.0/users?role=student&limit=100")
    second = client.get(next_uri(first.get_json()) or "")
    third_uri = next_uri(second.get_json()) or ""
    attempts = [client.get(third_uri) for _ in range(3)]

    # Then pages 1-2 succeed and page 3 fails every time with an HTML 502
    assert (first.status_code, second.status_code) == (200, 200)
    assert {a.status_code for a in attempts} == {502}
    assert attempts[0].mimetype == "text/html"
    assert "<html>" in attempts[0].get_data(as_text=True)

    # And other listings are unaffected
    teachers = client.get("/v3.0/users?role=teacher&limit=10")
    assert client.get(next_uri(teachers.get_json()) or "").status_code == 200

    # And clearing the fault lets page 3 through
    sim.faults.clear("page_failures")
    assert client.get(third_uri).status_code == 200


def test_page_failure_can_answer_json(sim: CleverSimulator, client: FlaskClient) -> None:
    sim.faults.fail_pages("/v3.0/sections", 1, status=500, html=False)
    response = client.get("/v3.0/sections")
    assert response.status_code == 500
    assert response.get_json() == {"message": "internal error"}


def test_slow_responses_sleep_through_the_injected_sleeper(
    sim: CleverSimulator, client: FlaskClient, sleeps: list[float]
) -> None:
    # Given responses under /v3.0/users are slow
    sim.faults.slow(2.5, path="/v3.0/users")

    # When two endpoints are called
    assert client.get("/v3.0/users?limit=1").status_code == 200
    assert client.get("/v3.0/schools").status_code == 200

    # Then only the matching one slept, for the configured time
    assert sleeps == [2.5]
    sim.faults.clear("slow")
    client.get("/v3.0/users?limit=1")
    assert sleeps == [2.5]


@pytest.mark.parametrize("status", [500, 503])
def test_html_error_page(sim: CleverSimulator, client: FlaskClient, status: int) -> None:
    sim.faults.html_error(status)  # type: ignore[arg-type]
    response = client.get("/v3.0/schools")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True).startswith("<html>")
    sim.faults.clear("html_error")
    assert client.get("/v3.0/schools").status_code == 200


def test_malformed_json_with_status_200(sim: CleverSimulator, client: FlaskClient) -> None:
    # Given the sections endpoint sends broken JSON
    sim.faults.malformed_json(path="/v3.0/sections")

    # When sections and schools are read
    broken = client.get("/v3.0/sections")
    fine = client.get("/v3.0/schools")

    # Then the sections body cannot be parsed although the status is 200
    assert broken.status_code == 200
    assert broken.mimetype == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.get_data())
    assert json.loads(fine.get_data())["data"]


def test_transient_503s_then_success(sim: CleverSimulator, client: FlaskClient) -> None:
    # Given the next two requests fail
    sim.faults.transient_errors(2)

    # When the same request is retried
    statuses = [client.get("/v3.0/schools").status_code for _ in range(4)]

    # Then two 503s are followed by successes
    assert statuses == [503, 503, 200, 200]
    assert sim.faults.state()["transient_errors"]["remaining"] == 0


def test_rate_limit_headers_on_every_response(sim: CleverSimulator, client: FlaskClient) -> None:
    responses = [
        client.get("/v3.0/schools"),
        client.get("/v3.0/users/unknown"),
        sim.app.test_client().get("/v3.0/schools"),  # no token: 401
    ]
    for response in responses:
        assert response.headers["X-Ratelimit-Limit"] == "1200"
        assert int(response.headers["X-Ratelimit-Remaining"]) < 1200
        assert response.headers["X-Ratelimit-Reset"] == str((1_000_000 // 60 + 1) * 60)
    assert [r.status_code for r in responses] == [200, 404, 401]


def test_configured_rate_limit_gives_real_429s_until_the_window_resets(
    sim: CleverSimulator, client: FlaskClient, clock: FakeClock
) -> None:
    # Given a limit of 3 requests per minute
    sim.faults.rate_limit(3)

    # When 4 requests arrive within the minute
    responses = [client.get("/v3.0/districts") for _ in range(4)]

    # Then the fourth is a 429 telling when the window resets, with the remaining count going down
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-Ratelimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    reset = int(responses[-1].headers["X-Ratelimit-Reset"])
    assert reset == (1_000_000 // 60 + 1) * 60

    # And once the clock passes the reset time requests succeed again
    clock.now = float(reset)
    assert client.get("/v3.0/districts").status_code == 200


def test_request_counter_counts_total_and_per_path(sim: CleverSimulator, client: FlaskClient) -> None:
    client.get("/v3.0/schools")
    client.get("/v3.0/schools")
    client.get("/v3.0/users?role=student")
    client.get("/__sim/state")
    assert sim.requests.total == 3
    assert sim.requests["/v3.0/schools"] == 2
    assert sim.requests.by_path() == {"/v3.0/schools": 2, "/v3.0/users": 1}


def _post(client: FlaskClient, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_fault_control_endpoint_sets_and_clears(sim: CleverSimulator, client: FlaskClient) -> None:
    # When faults are set through the control endpoint
    response = _post(
        client,
        "/__sim/faults",
        {
            "set": {
                "transient_errors": {"count": 1},
                "page_failures": [{"path": "/v3.0/users", "role": "student", "from_page": 2}],
                "rate_limit": 100,
            }
        },
    )

    # Then the state reports them and they take effect
    faults = response.get_json()["faults"]
    assert faults["transient_errors"]["remaining"] == 1
    assert faults["page_failures"][0]["from_page"] == 2
    assert faults["rate_limit"] == 100
    assert client.get("/v3.0/schools").status_code == 503
    assert client.get("/v3.0/schools").headers["X-Ratelimit-Limit"] == "100"

    # And clearing all of them restores normal service
    cleared = _post(client, "/__sim/faults", {"clear": "all"}).get_json()["faults"]
    assert cleared["page_failures"] == []
    assert cleared["rate_limit"] is None
    assert client.get("/__sim/state").get_json()["faults"] == cleared


@pytest.mark.parametrize(
    "body",
    [{"set": {"slow": {"seconds": -1}}}, {"set": {"nonsense": {}}}, {"clear": ["nonsense"]}],
)
def test_fault_control_endpoint_rejects_bad_bodies(client: FlaskClient, body: dict[str, Any]) -> None:
    assert _post(client, "/__sim/faults", body).status_code == 400


def test_scenario_control_endpoint(sim: CleverSimulator, client: FlaskClient) -> None:
    try:
        school_id = sim.district.school_ids()[0]
        effect = _post(
            client,
            "/__sim/scenario",
            {"name": "semester_end", "params": {"school_id": school_id, "share": 0.5}},
        ).get_json()
        assert effect["scenario"] == "semester_end"
        assert effect["student_ids"]
        assert client.get("/__sim/state").get_json()["scenarios"] == ["semester_end"]
        assert _post(client, "/__sim/scenario", {"name": "nope"}).status_code == 404
        assert _post(client, "/__sim/scenario", {"name": "rekey", "params": {"bogus": 1}}).status_code == 400
    finally:
        assert _post(client, "/__sim/scenario", {"name": "reset"}).get_json()["scenario"] == "reset"
    assert client.get("/__sim/state").get_json()["scenarios"] == []
