"""Lazy, id-ordered listings over index ranges of a generated district."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from clever_simulator.ids import IdCodec, Kind
from clever_simulator.roster import Page, Record


class InvalidCursorError(ValueError):
    """``starting_after`` is not an id of this district."""


@dataclass(frozen=True, slots=True)
class Segment:
    """Indices [start, stop) of one kind, optionally filtered; segments of a listing are id-ordered."""

    kind: Kind
    start: int
    stop: int
    keep: Callable[[int], bool] | None = None


class SegmentListing:
    """Pages through segments, skipping removed records and building only the records served."""

    def __init__(
        self,
        codec: IdCodec,
        segments: Sequence[Segment],
        exists: Callable[[Kind, int], bool],
        build: Callable[[Kind, int], Record],
    ) -> None:
        self._codec = codec
        self._segments = sorted(segments, key=lambda seg: (seg.kind, seg.start))
        self._exists = exists
        self._build = build

    def _positions(self, after: tuple[int, int] | None) -> Iterator[tuple[Kind, int]]:
        for segment in self._segments:
            begin = segment.start
            if after is not None:
                if (segment.kind, segment.stop - 1) <= after:
                    continue
                if segment.kind == after[0]:
                    begin = max(begin, after[1] + 1)
            for index in range(begin, segment.stop):
                if (segment.keep is None or segment.keep(index)) and self._exists(segment.kind, index):
                    yield segment.kind, index

    def positions(self) -> Iterator[tuple[Kind, int]]:
        return self._positions(None)

    def page(self, starting_after: str | None, limit: int) -> Page:
        after = None
        if starting_after is not None:
            after = self._codec.sort_key(starting_after)
            if after is None:
                raise InvalidCursorError(starting_after)
        chosen = list(islice(self._positions(after), limit + 1))
        records = [self._build(kind, index) for kind, index in chosen[:limit]]
        return Page(records, has_more=len(chosen) > limit)
