"""Clever's per-token, per-minute rate limit and its ``X-Ratelimit-*`` headers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

CLEVER_LIMIT_PER_MINUTE = 1200


@dataclass(frozen=True, slots=True)
class RateDecision:
    limit: int
    remaining: int
    reset: int
    """Unix time (seconds) when the current window ends."""
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(self.remaining),
            "X-Ratelimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Fixed one-minute windows per token, read from an injectable clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, token: str, enforced_limit: int | None) -> RateDecision:
        """Counts one request; ``allowed`` is False only when an enforced limit is exceeded."""
        limit = enforced_limit if enforced_limit is not None else CLEVER_LIMIT_PER_MINUTE
        with self._lock:
            window = int(self._clock() // 60)
            if window != self._window:
                self._window, self._counts = window, {}
            used = self._counts.get(token, 0) + 1
            self._counts[token] = used
        allowed = enforced_limit is None or used <= enforced_limit
        return RateDecision(limit, max(0, limit - used), (window + 1) * 60, allowed)
