"""Seeded, index-addressable randomness: any record can be rebuilt from (seed, kind, index) alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix(*parts: int) -> int:
    """Combine integers into one well-spread 64-bit value (splitmix64 finaliser per part)."""
    state = 0
    for part in parts:
        state = (state + _GOLDEN + (part & _MASK64)) & _MASK64
        state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & _MASK64
        state ^= state >> 31
    return state


def mix_one(value: int) -> int:
    """One splitmix64 round: the cheap path for hot loops (ids of a 10,000-record page)."""
    state = (value + _GOLDEN) & _MASK64
    state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state ^ (state >> 31)


class Draw:
    """A tiny deterministic stream of choices for one record."""

    __slots__ = ("_state",)

    def __init__(self, *key: int) -> None:
        self._state = mix(*key)

    def _next(self) -> int:
        # A 64-bit LCG step (Knuth's MMIX constants), whitened: cheap and plenty for test data.
        self._state = (self._state * 6364136223846793005 + 1442695040888963407) & _MASK64
        return self._state ^ (self._state >> 29)

    def below(self, bound: int) -> int:
        return self._next() % bound if bound > 0 else 0

    def chance(self, probability: float) -> bool:
        return self._next() / _MASK64 < probability

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def weighted(self, options: Sequence[tuple[T, int]]) -> T:
        total = sum(weight for _, weight in options)
        pick = self.below(total)
        for value, weight in options:
            if pick < weight:
                return value
            pick -= weight
        return options[-1][0]

    def digits(self, count: int) -> str:
        return "".join(str(self.below(10)) for _ in range(count))
