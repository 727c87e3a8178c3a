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
from clever_simulator.roster import Record, Resource, Role, RosterSource
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
        page_latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.district: RosterSource = district if district is not None else GeneratedDistrict()
        """The first district: the one scenarios change (and the only one, unless more are added)."""
        district_id = self.district.district_id
        self.districts: dict[str, RosterSource] = {district_id: self.district}
        """Every district served, by Clever id; a token reads the district it was issued for."""
        self.tokens: dict[str, str] = dict(tokens) if tokens else {default_token(district_id): district_id}
        self._initial_tokens = dict(self.tokens)
        self.client_credentials = (client_id, client_secret)
        self.user_tokens: dict[str, tuple[str, str]] = {}
        """A user's SSO bearer token (what Log in with Clever hands the app) -> (district, user id)."""
        self.page_size_cap = page_size_cap
        """Serve at most this many records per page whatever ``limit`` asks (as real servers may)."""
        self.page_latency = page_latency
        """Seconds each listing page takes to arrive, building it included (Clever's are 2-5 s for
        10,000 records). Waited outside the lock: pages of several listings read concurrently overlap
        their waits."""
        self.sleep = sleep
        self.clock = clock
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

    # -- districts and the app's tokens (a district authorizing or removing the app) --

    def add_district(self, district: RosterSource, token: str | None = None) -> str:
        """Serve another district, which authorizes the app at once; returns its token."""
        with self.lock:
            if district.district_id in self.districts:
                raise ValueError(f"district {district.district_id} is already served")
            self.districts[district.district_id] = district
        return self.connect(district.district_id, token)

    def connect(self, district_id: str, token: str | None = None) -> str:
        """The district (re-)authorizes the app: its token is listed again (a new one if given)."""
        with self.lock:
            if district_id not in self.districts:
                raise KeyError(district_id)
            issued = token or default_token(district_id)
            self.tokens[issued] = district_id
        return issued

    def disconnect(self, district_id: str) -> list[str]:
        """The district removes the app: its tokens are no longer listed and no longer work."""
        with self.lock:
            if district_id not in self.districts:
                raise KeyError(district_id)
            removed = [token for token, owner in self.tokens.items() if owner == district_id]
            for token in removed:
                del self.tokens[token]
        return removed

    def district_for(self, token: str) -> RosterSource | None:
        """The district a token reads, or None for a token Clever does not know."""
        with self.lock:
            owner = self.tokens.get(token)
            return self.districts.get(owner) if owner is not None else None

    def issue_user_token(self, user_id: str, token: str | None = None) -> str:
        """An SSO token for one user of any district served (KeyError for an unknown user)."""
        with self.lock:
            owner = next(
                (cid for cid, d in self.districts.items() if d.get(Resource.USERS, user_id) is not None), None
            )
            if owner is None:
                raise KeyError(user_id)
            issued = token or hashlib.sha1(f"sim-sso/{user_id}".encode(), usedforsecurity=False).hexdigest()
            self.user_tokens[issued] = (owner, user_id)
        return issued

    def token_owner(self, token: str) -> Record | None:
        """`/v3.0/me`'s data for an SSO token: the user's id, district and type (None if unknown)."""
        with self.lock:
            owner = self.user_tokens.get(token)
            if owner is None:
                return None
            district_id, user_id = owner
            user = self.districts[district_id].get(Resource.USERS, user_id)
        if user is None:
            return None
        roles = list(user.get("roles", {}))
        return {"id": user_id, "district": district_id, "type": roles[0] if roles else "user", "user": user}

    def district_summaries(self) -> list[dict[str, Any]]:
        """Each district served: id, name, its listed tokens and its admins' e-mails."""
        with self.lock:
            districts = list(self.districts.values())
            tokens = dict(self.tokens)
        return [
            {
                "district_id": district.district_id,
                "name": district.district_record().get("name", ""),
                "tokens": [token for token, owner in tokens.items() if owner == district.district_id],
                "admin_emails": [
                    str(admin.get("email", ""))
                    for admin in district.listing(Resource.USERS, Role.DISTRICT_ADMIN).page(None, 100).records
                ],
            }
            for district in districts
        ]

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
            "districts": sorted(self.districts),
            "faults": self.faults.state(),
            "scenarios": [effect.scenario for effect in self.scenarios.applied],
            "page_size_cap": self.page_size_cap,
            "page_latency": self.page_latency,
            "requests": {"total": self.requests.total, "by_path": self.requests.by_path()},
        }

    def reset(self) -> None:
        """Back to how it was built: no faults, scenarios, request counts, rate-limit windows or
        paging memory; only the first district, with the tokens it started with."""
        self.faults.clear()
        self.scenarios.reset()
        self.requests.reset()
        with self.lock:
            self._page_numbers.clear()
            self.districts = {self.district.district_id: self.district}
            self.tokens = dict(self._initial_tokens)
            self.user_tokens.clear()
            self.rate_limiter = RateLimiter(self.clock)

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
