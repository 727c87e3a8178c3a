"""Clever simulator over real HTTP: the background server and the ``python -m`` command line."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from clever_simulator import CleverSimulator, GeneratedDistrict
from clever_simulator.walk import walk_records

REPO = Path(__file__).resolve().parents[2]


def test_serve_binds_localhost_and_serves_paged_data_over_http() -> None:
    # Given a simulator serving a generated district on a free port
    district = GeneratedDistrict(7, schools=3, students=1000)
    sim = CleverSimulator(district, tokens={"tok-1": district.district_id})
    # a generous read timeout: pages are built on demand and the machine may be busy
    with sim.serve() as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        assert base_url.startswith("http://127.0.0.1:")

        def get_json(uri: str) -> dict[str, Any]:
            response = client.get(uri, headers={"Authorization": "Bearer tok-1"})
            response.raise_for_status()
            assert response.headers["X-Ratelimit-Limit"] == "1200"
            body: dict[str, Any] = response.json()
            return body

        # When two listings are walked concurrently
        with ThreadPoolExecutor(max_workers=2) as pool:
            students, contacts = pool.map(
                lambda uri: walk_records(get_json, uri),
                ["/v3.0/users?role=student&limit=100", "/v3.0/users?role=contact&limit=250"],
            )

        # Then each is complete and the request counter saw every page
        assert len({s["id"] for s in students}) == 1000
        assert len({c["id"] for c in contacts}) == 1500
        # (each listing's last page is full, so it links to an empty page: one more request each)
        assert sim.requests["/v3.0/users"] == 11 + 7
        assert sim.requests.total == 18

    # And the port is released afterwards
    assert not sim.serving


def test_page_failure_and_control_endpoint_over_http() -> None:
    sim = CleverSimulator(GeneratedDistrict(8, schools=3, students=300))
    # a generous read timeout: pages are built on demand and the machine may be busy
    with sim.serve() as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {sim.token}"}
        # Given the devstack switches on a failure from page 2 through the control endpoint
        body = {"set": {"page_failures": [{"path": "/v3.0/users", "role": "student", "from_page": 2}]}}
        assert client.post("/__sim/faults", json=body).status_code == 200

        # When a client follows the next link
        first = client.get("/v3.0/users?role=student&limit=100", headers=headers)
        next_uri = next(link["uri"] for link in first.json()["links"] if link["rel"] == "next")
        second = client.get(next_uri, headers=headers)

        # Then the second page is an HTML 502
        assert first.status_code == 200
        assert second.status_code == 502
        assert second.headers["content-type"].startswith("text/html")

        # And a reset through the control endpoint clears it
        assert client.post("/__sim/reset").status_code == 200
        assert client.get(next_uri, headers=headers).status_code == 200


def test_command_line_prints_url_and_token_and_serves() -> None:
    # Given the simulator started from the command line on a free port
    command = [sys.executable, "-m", "clever_simulator", "--port", "0", "--students", "120", "--seed", "3"]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "local"), "PATH": ""},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        settings = dict(line.strip().split("=", 1) for line in lines[1:])

        # When the printed URL is called with the printed token
        response = httpx.get(
            f"{settings['CLEVER_API_URL']}/v3.0/users?role=student&limit=1000",
            headers={"Authorization": f"Bearer {settings['CLEVER_DISTRICT_TOKEN']}"},
            timeout=10,
        )

        # Then it serves the requested district
        assert "serving district" in lines[0]
        assert response.status_code == 200
        assert len(response.json()["data"]) == 120
    finally:
        process.terminate()
        process.wait(timeout=10)
