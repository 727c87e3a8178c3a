"""Clever-style 24-hex-character ids whose prefix sorts by (kind, index).

Layout: ``TTTTTT KK IIIIIIII GG CCCCCC`` — a per-district tag, the record kind, the record index,
a generation (bumped when Clever re-issues the id) and a check value.  Because the prefix sorts
like the listing order, ``starting_after`` paging is a decode plus an index lookup.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from clever_simulator.determinism import mix, mix_one


class Kind(enum.IntEnum):
    """Record kinds; the value is the id's kind byte, so it also fixes the listing order."""

    DISTRICT = 0x01
    DISTRICT_CONTACT = 0x02
    SCHOOL = 0x10
    TERM = 0x20
    COURSE = 0x30
    SECTION = 0x40
    STUDENT = 0x50
    TEACHER = 0x60
    STAFF = 0x70
    DISTRICT_ADMIN = 0x80
    CONTACT = 0x90
    EXTRA_CONTACT = 0x91


_CACHED_KINDS = frozenset({Kind.DISTRICT, Kind.DISTRICT_CONTACT, Kind.SCHOOL, Kind.TERM, Kind.COURSE})
"""Kinds with few records (at most one per school or course) whose ids are worth remembering."""


@dataclass(frozen=True, slots=True)
class DecodedId:
    kind: Kind
    index: int
    generation: int


class IdCodec:
    """Encodes and decodes the ids of one generated district."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._tag = f"{mix(seed, 0x7A6) & 0xFFFFFF:06x}"
        self._check_key = mix(seed, 0xC4E)
        self._small: dict[tuple[Kind, int, int], str] = {}

    def encode(self, kind: Kind, index: int, generation: int = 0) -> str:
        if kind not in _CACHED_KINDS:
            return self._encode(kind, index, generation)
        key = (kind, index, generation)
        found = self._small.get(key)
        if found is None:
            found = self._small[key] = self._encode(kind, index, generation)
        return found

    def _encode(self, kind: Kind, index: int, generation: int = 0) -> str:
        check = mix_one(self._check_key ^ (kind << 48) ^ (generation << 40) ^ index) & 0xFFFFFF
        return f"{self._tag}{kind:02x}{index:08x}{generation:02x}{check:06x}"

    def decode(self, record_id: str) -> DecodedId | None:
        """The parts of an id this district issued, or None for anything else."""
        if len(record_id) != 24 or not record_id.startswith(self._tag):
            return None
        try:
            kind = Kind(int(record_id[6:8], 16))
            index = int(record_id[8:16], 16)
            generation = int(record_id[16:18], 16)
        except ValueError:
            return None
        if self._encode(kind, index, generation) != record_id:
            return None
        return DecodedId(kind, index, generation)

    def sort_key(self, record_id: str) -> tuple[int, int] | None:
        """(kind, index) of an id, checked only for shape: enough to resume a listing after it."""
        if len(record_id) != 24 or not record_id.startswith(self._tag):
            return None
        try:
            return int(record_id[6:8], 16), int(record_id[8:16], 16)
        except ValueError:
            return None
