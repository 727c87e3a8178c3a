"""Clever simulator: a reset (`POST /__sim/reset`, the devstack's `/dev/reset`) leaves it as built."""

from __future__ import annotations

from clever_simulator import CleverSimulator, GeneratedDistrict


def test_a_reset_serves_the_first_district_with_its_first_tokens_and_numbers_scenarios_anew() -> None:
    # Given a simulator as built, and what it serves
    sim = CleverSimulator(GeneratedDistrict(31, schools=2, students=120))
    client = sim.app.test_client()
    built = (sorted(sim.districts), dict(sim.tokens), sim.state())
    first = sim.scenarios.semester_end()
    # And another district authorized the app, the first one removed it, a user signed in with
    # Clever, a token hit the rate limiter and scenarios ran
    sim.add_district(GeneratedDistrict(32, schools=1, students=20))
    sim.disconnect(sim.district.district_id)
    school = sim.district.school_ids()[0]
    sim.issue_user_token(sim.district.student_ids_of_school(school)[-1])
    headers = {"Authorization": f"Bearer {next(iter(built[1]))}"}
    before = client.get("/v3.0/districts", headers=headers).headers["X-Ratelimit-Remaining"]
    sim.scenarios.rekey()

    # When it is reset
    sim.reset()

    # Then it serves the first district alone, with the token it started with, as built
    assert (sorted(sim.districts), dict(sim.tokens), sim.state()) == built
    assert sim.user_tokens == {}
    assert client.get("/v3.0/districts", headers=headers).headers["X-Ratelimit-Remaining"] == before
    # And its scenarios are numbered from the first again
    assert sim.scenarios.semester_end().scenario_id == first.scenario_id
