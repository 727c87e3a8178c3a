"""The devstack (`python -m devstack`, as `make demo` runs it) onboarding districts:
- with the Clever simulator, through the discovery step: a district appears on its own when the
  simulator lists a token for it, and is disconnected with `app_disconnected` when it stops;
- with `CLEVER_API_URL` + `CLEVER_DISTRICT_TOKEN` (a "real" Clever, here a separately started
  simulator): that district is onboarded as `d-<clever id>` and its admin signs in and reads it.
The operator CLI reads the devstack's state through the environment the devstack prints."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "artifacts" / "devstack-logs"
ADMIN = "onboarding.admin@example.org"
START_SECONDS = 120
PYTHONPATH = os.pathsep.join(str(ROOT / p) for p in ("layers/common", "local", ".", "functions/api"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Devstack:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log
        self.http = httpx.Client(base_url=url, timeout=180)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(path, json=body or {})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def admin_cli(self, *argv: str) -> Any:
        """`python -m sis_sync.admin --json …` with the environment the devstack printed."""
        line = next(line for line in self.log.read_text().splitlines() if "python -m sis_sync.admin" in line)
        words = shlex.split(line)
        printed = dict(w.split("=", 1) for w in words[1 : words.index("PYTHONPATH=layers/common")])
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATE_TABLE"))}
        done = subprocess.run(
            [sys.executable, "-m", "sis_sync.admin", "--json", *argv],
            env=clean | printed | {"PYTHONPATH": PYTHONPATH},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)


@pytest.fixture
def start_devstack(request: pytest.FixtureRequest) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(extra: dict[str, str]) -> Devstack:
        port = _free_port()
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"{request.node.name}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("CLEVER_API_URL", "CLEVER_DISTRICT_TOKEN")}
        env |= {
            "PORT": str(port),
            "SYNC_INTERVAL_SECONDS": "0",
            "DISTRICT_ADMIN_EMAIL": ADMIN,
            "DEMO_STUDENTS": "100",
            "DEMO_SCHOOLS": "2",
            "PYTHONPATH": PYTHONPATH,
        } | extra
        with log_path.open("wb") as log:  # a file: a pipe nobody reads would block the devstack
            process = subprocess.Popen(
                [sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the devstack exited: {log_path.read_text()[-3000:]}")
            if "python -m sis_sync.admin" in log_path.read_text():  # printed once the first sync ran
                return Devstack(url, log_path)
            time.sleep(0.2)
        raise TimeoutError(f"the devstack did not start: {log_path.read_text()[-3000:]}")

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def test_a_district_appears_when_clever_lists_its_token_and_leaves_when_it_stops(start_devstack: Any) -> None:
    # Given the devstack with its simulator (one district, onboarded by discovery at start)
    devstack = start_devstack({})
    [first] = devstack.admin_cli("list")
    assert first["connection"] == "connected"
    assert first["district_id"] == f"d-{first['clever_district_id']}"
    # When a second district authorizes the app in Clever, and the next tick runs
    added = devstack.post("/dev/scenario", {"name": "add_district"})["effect"]["clever_district_id"]
    tick = devstack.post("/dev/tick")
    # Then it was onboarded and synced on its own
    new = f"d-{added}"
    assert tick["discovery"]["onboarded"] == [new]
    rows = {row["district_id"]: row for row in devstack.admin_cli("list")}
    assert rows[new]["connection"] == "connected"
    assert rows[new]["last_sync_at"] is not None
    # When that district removes the app, and the next tick runs
    devstack.post("/dev/scenario", {"name": "remove_district", "clever_district_id": added})
    tick = devstack.post("/dev/tick")
    # Then it is disconnected with app_disconnected, and the first district is untouched
    assert tick["discovery"]["disconnected"] == [new]
    rows = {row["district_id"]: row for row in devstack.admin_cli("list")}
    assert (rows[new]["connection"], rows[new]["error"]) == ("disconnected", "app_disconnected")
    assert rows[first["district_id"]]["connection"] == "connected"


def test_a_real_clever_district_token_signs_in_to_its_own_district(start_devstack: Any) -> None:
    # Given a Clever (a simulator started on its own) and one of its district tokens
    district = GeneratedDistrict(41, schools=2, students=80)
    sim = CleverSimulator(district)
    with sim.serve() as clever_url:
        # When the devstack runs against it, as README's "sync a real Clever district" says
        devstack = start_devstack({"CLEVER_API_URL": clever_url, "CLEVER_DISTRICT_TOKEN": sim.token})
        # Then the admin's token from /dev/token reads the district d-<clever id>
        token = devstack.post("/dev/token", {"email": ADMIN})["token"]
        district_id = f"d-{district.district_id}"
        response = devstack.http.get(
            f"/v1/districts/{district_id}/schools", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["schools"]) == 2
        [row] = devstack.admin_cli("list")
        assert row["district_id"] == district_id
