"""Clever simulator: per-page latency, waited concurrently over real HTTP."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict

LISTINGS = (
    "/v3.0/users?role=student&limit=100",
    "/v3.0/users?role=contact&limit=100",
    "/v3.0/sections?limit=100",
)


def test_pages_of_concurrent_listings_wait_out_their_latency_together() -> None:
    # Given a simulator whose pages take 5 s, with a sleep that returns only once every listing's
    # page is waiting at the same time (it breaks, failing the request, if they are served one by one)
    waiting = threading.Barrier(len(LISTINGS), timeout=30)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        waiting.wait()

    district = GeneratedDistrict(7, schools=3, students=300)
    sim = CleverSimulator(district, page_latency=5.0, sleep=sleep, clock=lambda: 1_000.0)
    with sim.serve() as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {sim.token}"}

        # When three listings' first pages are requested concurrently
        with ThreadPoolExecutor(max_workers=len(LISTINGS)) as pool:
            responses = list(pool.map(lambda uri: client.get(uri, headers=headers), LISTINGS))

        # Then each page waited 5 s, all three at once: the waits overlap
        assert [response.status_code for response in responses] == [200] * len(LISTINGS)
        assert slept == [5.0] * len(LISTINGS)
        assert not waiting.broken
        assert sim.state()["page_latency"] == 5.0

        # And a single record is not a page: it comes at once
        student = responses[0].json()["data"][0]["data"]["id"]
        assert client.get(f"/v3.0/users/{student}", headers=headers).status_code == 200
        assert len(slept) == len(LISTINGS)


@pytest.mark.parametrize(("building_s", "waited"), [(2.0, [3.0]), (6.0, [])])
def test_the_time_a_page_takes_to_build_is_part_of_its_latency(
    building_s: float, waited: list[float]
) -> None:
    # Given a simulator whose pages take 5 s, on a clock that moves `building_s` at each reading (a
    # page is built between two)
    readings = itertools.count(100.0, building_s)
    slept: list[float] = []
    district = GeneratedDistrict(7, schools=3, students=30)
    sim = CleverSimulator(district, page_latency=5.0, sleep=slept.append, clock=lambda: next(readings))

    # When a listing page is served
    response = sim.app.test_client().get(
        "/v3.0/users?role=student", headers={"Authorization": f"Bearer {sim.token}"}
    )

    # Then it waits what its building left of the 5 s (nothing once that took longer)
    assert response.status_code == 200
    assert slept == waited


def test_no_latency_by_default() -> None:
    # Given a simulator with the default settings and a sleep that records its calls
    slept: list[float] = []
    sim = CleverSimulator(GeneratedDistrict(7, schools=3, students=30), sleep=slept.append)

    # When a listing page is served
    response = sim.app.test_client().get(
        "/v3.0/users?role=student", headers={"Authorization": f"Bearer {sim.token}"}
    )

    # Then nothing waited
    assert response.status_code == 200
    assert slept == []
