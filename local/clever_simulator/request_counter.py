"""Counts the requests the simulator served, in total and per path (the benchmark reads it)."""

from __future__ import annotations

import threading
from collections import Counter


class RequestCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: Counter[str] = Counter()

    def record(self, path: str) -> None:
        with self._lock:
            self._by_path[path] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_path.values())

    def by_path(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_path)

    def __getitem__(self, path: str) -> int:
        with self._lock:
            return self._by_path[path]

    def reset(self) -> None:
        with self._lock:
            self._by_path.clear()
