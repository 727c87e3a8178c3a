"""Running devstacks (`python -m devstack`, as `make demo` starts it) and headless Chromium.

Starting a devstack (moto, the stack, the simulator, the first sync) takes 15-20 s, so each test
worker keeps one per `devstack_env` for the whole session and `POST /dev/reset`s it before every
test but the first: the test sees what a freshly started devstack has (its first sync, no holds,
mail, audit entries or scenarios of another test).

Playwright drives Debian's Chromium at /usr/bin/chromium (its own browser download cannot run
here); where that is absent the browser tests skip and say why.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LOGS = ROOT / "artifacts" / "devstack-logs"
ADMIN = "admin@example.org"
START_SECONDS = 180  # generous: the machine the suite runs on may be busy
STOP_SECONDS = 20
STARTED = b"The first sync has run."  # what `python -m devstack` prints once started

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

    def reset(self) -> None:
        """Back to the state the devstack started in (`POST /dev/reset`)."""
        self.http.post("/dev/reset", json={}).raise_for_status()

    def outbox(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.http.get("/dev/outbox").json()["messages"]
        return messages


class DevstackProcess:
    """One `python -m devstack` subprocess; its output goes to `log_path`."""

    def __init__(self, extra_env: Mapping[str, str], log_path: Path) -> None:
        port = _free_port()
        # its output goes to a file: a pipe nobody reads would block the devstack once full
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = log_path.open("wb")
        env = (
            os.environ
            | dict(extra_env)
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
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.devstack = RunningDevstack(f"http://127.0.0.1:{port}")
        self.fresh = True
        """As started: no test has used it since (so it needs no reset)."""

    def wait_until_serving(self) -> None:
        """Until its first sync has run: the gateway answers before that (the sync needs it)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if not self.alive():
                output = self.log_path.read_bytes().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the devstack exited: {output}")
            if STARTED in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise TimeoutError("the devstack did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self.devstack.http.close()
            self._log.close()


class DevstackPool:
    """This worker's devstacks, one per extra environment, started when first asked for."""

    def __init__(self, worker: str) -> None:
        self._worker = worker
        self._running: dict[tuple[tuple[str, str], ...], DevstackProcess] = {}
        self._started = 0  # numbers the logs: one file per devstack

    def start(self, extra_env: Mapping[str, str]) -> DevstackProcess:
        """A new devstack, outside the pool (the caller stops it)."""
        self._started += 1
        name = "-".join(f"{k}={v}" for k, v in sorted(extra_env.items())) or "default"
        log_path = LOGS / f"{self._worker}-{self._started}-{re.sub(r'[^A-Za-z0-9=._-]', '_', name)}.log"
        started = DevstackProcess(extra_env, log_path)
        try:
            started.wait_until_serving()
        except BaseException:
            started.stop()
            raise
        return started

    def devstack_for(self, extra_env: Mapping[str, str]) -> RunningDevstack:
        """The pool's devstack for this environment, as freshly started: reset unless it is new."""
        key = tuple(sorted(extra_env.items()))
        running = self._running.get(key)
        if running is not None and not running.alive():  # it died with an earlier test: a new one
            running.stop()
            running = None
        if running is not None and not running.fresh:
            try:
                running.devstack.reset()
            except httpx.HTTPError as error:  # say so, and go on with a new one
                warnings.warn(f"the devstack did not reset ({error}): starting another", stacklevel=2)
                running.stop()
                running = None
        if running is None:
            running = self._running[key] = self.start(extra_env)
        running.fresh = False
        return running.devstack

    def stop_all(self) -> None:
        for running in self._running.values():
            running.process.terminate()  # all at once: each takes seconds to stop
        for running in self._running.values():
            running.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def devstack_pool() -> Iterator[DevstackPool]:
    pool = DevstackPool(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def devstack_env() -> dict[str, str]:
    """Extra environment for the devstack (a test module overrides this fixture to change it)."""
    return {}


@pytest.fixture
def devstack(devstack_env: dict[str, str], devstack_pool: DevstackPool) -> RunningDevstack:
    """A devstack in the state it starts in, shared with the other tests of this worker."""
    return devstack_pool.devstack_for(devstack_env)


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
