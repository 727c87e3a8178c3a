"""The simulator object: district, tokens, faults, scenarios, counters, and a local HTTP server."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from clever_simulator.app import create_app
from clever_simulator.district import GeneratedDistrict
from clever_simulator.faults import Faults
from clever_simulator.ratelimit import RateLimiter
from clever_simulator.request_counter import RequestCounter
from clever_simulator.roster import Record, RosterSource
from clever_simulator.scenarios import Scenarios

DISTRICT_SCOPES = (
    "read:district_admins",
    "read:districts",
    "read:resources",
    "read:school_admins",
    "read:schools",
    "read:sections",
    "read:student_contacts",
    "read:students",
    "read:teachers",
    "read:user_id",
)
DEFAULT_CLIENT_ID = "sim-client-id"
DEFAULT_CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - a fixed local test credential


def default_token(district_id: str) -> str:
    """The district token a simulator issues when none is given (stable per district)."""
    return hashlib.sha1(f"sim-token/{district_id}".encode(), usedforsecurity=False).hexdigest()


class CleverSimulator:
    """A local Clever Data API v3.0 for tests, the devstack and the benchmark.

    >>> sim = CleverSimulator(GeneratedDistrict(seed=7, students=1000))
    >>> with sim.serve() as base_url:   # doctest: +SKIP
    ...     httpx.get(f"{base_url}/v3.0/users", headers={"Authorization": f"Bearer {sim.token}"})
    """

    def __init__(
        self,
        district: RosterSource | None = None,
        *,
        tokens: Mapping[str, str] | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        page_size_cap: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.district: RosterSource = district if district is not None else GeneratedDistrict()
        district_id = self.district.district_id
        self.tokens: dict[str, str] = dict(tokens) if tokens else {default_token(district_id): district_id}
        self.client_credentials = (client_id, client_secret)
        self.page_size_cap = page_size_cap
        """Serve at most this many records per page whatever ``limit`` asks (as real servers may)."""
        self.sleep = sleep
        self.lock = threading.RLock()
        """Held while a page is read or a scenario mutates the district."""
        self.faults = Faults()
        self.scenarios = Scenarios(self.district, self.lock)
        self.requests = RequestCounter()
        self.rate_limiter = RateLimiter(clock)
        self._page_numbers: dict[tuple[tuple[str, str | None], str], int] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: Flask = create_app(self)

    @property
    def token(self) -> str:
        """The first district token (the one to use when there is only one)."""
        return next(iter(self.tokens))

    # -- paging memory: which page a ``starting_after`` cursor we issued leads to --

    def page_number(self, listing: tuple[str, str | None], starting_after: str | None) -> int | None:
        """1 for a first page, n for a cursor from our page n-1's next link, None for other cursors."""
        if starting_after is None:
            return 1
        with self.lock:
            return self._page_numbers.get((listing, starting_after))

    def remember_page(self, listing: tuple[str, str | None], starting_after: str, number: int) -> None:
        with self.lock:
            self._page_numbers[(listing, starting_after)] = number

    # -- state --

    def token_records(self) -> list[Record]:
        """``GET /oauth/tokens?owner_type=district`` entries (revoked tokens are no longer listed)."""
        return [
            {
                "id": hashlib.sha1(token.encode(), usedforsecurity=False).hexdigest()[:24],
                "created": "2025-07-01T00:00:00.000Z",
                "owner": {"type": "district", "id": district_id},
                "access_token": token,
                "scopes": list(DISTRICT_SCOPES),
            }
            for token, district_id in self.tokens.items()
            if not self.faults.is_revoked(token)
        ]

    def state(self) -> dict[str, Any]:
        return {
            "district_id": self.district.district_id,
            "faults": self.faults.state(),
            "scenarios": [effect.scenario for effect in self.scenarios.applied],
            "page_size_cap": self.page_size_cap,
            "requests": {"total": self.requests.total, "by_path": self.requests.by_path()},
        }

    def reset(self) -> None:
        """Clears faults, scenarios, request counts and paging memory."""
        self.faults.clear()
        self.scenarios.reset()
        self.requests.reset()
        with self.lock:
            self._page_numbers.clear()

    # -- serving --

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serves in a background thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            raise RuntimeError("the simulator is already serving")
        server = make_server(host, port, self.app, threaded=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="clever-simulator", daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not serving")
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    def wait(self) -> None:
        """Blocks until the server stops (the command line's foreground mode)."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """``with sim.serve() as base_url:`` — binds a free port on 127.0.0.1 by default."""
        base_url = self.start(host, port)
        try:
            yield base_url
        finally:
            self.stop()
