"""Follows Clever's ``rel=next`` links to the end of a listing (for tests, the devstack, benchmarks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from clever_simulator.roster import Record


def next_uri(envelope: dict[str, Any]) -> str | None:
    return next((link["uri"] for link in envelope.get("links", []) if link.get("rel") == "next"), None)


def walk_pages(get_json: Callable[[str], dict[str, Any]], first_uri: str) -> Iterator[dict[str, Any]]:
    """Yields each page envelope, starting at ``first_uri`` and following ``rel=next``."""
    uri: str | None = first_uri
    while uri is not None:
        envelope = get_json(uri)
        yield envelope
        uri = next_uri(envelope)


def walk_records(get_json: Callable[[str], dict[str, Any]], first_uri: str) -> list[Record]:
    """Every record of a listing, in served order."""
    return [item["data"] for envelope in walk_pages(get_json, first_uri) for item in envelope["data"]]
