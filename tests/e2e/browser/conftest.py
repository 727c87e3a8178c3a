"""A running devstack (`python -m devstack`, as `make demo` starts it) and headless Chromium.

Playwright drives Debian's Chromium at /usr/bin/chromium (its own browser download cannot run
here); where that is absent the browser tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LOGS = ROOT / "artifacts" / "devstack-logs"
ADMIN = "admin@example.org"
START_SECONDS = 90

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningDevstack:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=120)

    def scenario(self, name: str, school_index: int = 0) -> dict[str, Any]:
        response = self.http.post("/dev/scenario", json={"name": name, "school_index": school_index})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def tick(self) -> None:
        self.http.post("/dev/tick", json={}).raise_for_status()

    def outbox(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.http.get("/dev/outbox").json()["messages"]
        return messages


@pytest.fixture
def devstack_env() -> dict[str, str]:
    """Extra environment for the devstack (a test module overrides this fixture to change it)."""
    return {}


@pytest.fixture
def devstack(devstack_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[RunningDevstack]:
    port = _free_port()
    # its output goes to a file: a pipe nobody reads would block the devstack once full
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{request.node.name}.log"
    log = log_path.open("wb")
    env = (
        os.environ
        | devstack_env
        | {
            "PORT": str(port),
            "SYNC_INTERVAL_SECONDS": "0",
            "DISTRICT_ADMIN_EMAIL": ADMIN,
            "DEMO_STUDENTS": "400",
            "PYTHONPATH": os.pathsep.join(
                str(ROOT / p) for p in ("layers/common", "local", ".", "functions/api")
            ),
        }
    )
    for name in ("CLEVER_API_URL", "CLEVER_DISTRICT_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log_path.read_bytes().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the devstack exited: {output}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise TimeoutError("the devstack did not start")
        yield RunningDevstack(url)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def page(devstack: RunningDevstack, request: pytest.FixtureRequest) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-final.png"), full_page=True)
            context.close()
            browser.close()
