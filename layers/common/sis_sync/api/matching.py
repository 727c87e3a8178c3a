"""Suggestions for "Match schools": which not-connected school a shared Clever school probably is.

Same NCES id first, then the same state id, then similar names (difflib on normalised names:
case, accents, punctuation and words like "school" ignored).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Final

from sis_sync.api.models import Suggestion
from sis_sync.model import CleverSchool, School

MIN_NAME_SCORE: Final = 0.6
MAX_SUGGESTIONS: Final = 3
_FILLER: Final = frozenset({"school", "the", "of", "sch", "schl"})
_NOT_ALNUM: Final = re.compile(r"[^0-9a-z]+")


def normalise_name(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    words = [word for word in _NOT_ALNUM.split(ascii_name) if word and word not in _FILLER]
    return " ".join(words)


def name_similarity(a: str, b: str) -> float:
    left, right = normalise_name(a), normalise_name(b)
    if not left or not right:
        return 0.0
    return SequenceMatcher(None, left, right).ratio()


def suggestions(clever_school: CleverSchool, candidates: Iterable[School]) -> list[Suggestion]:
    """The best few not-connected schools for `clever_school`, best first."""
    found: list[Suggestion] = []
    for school in candidates:
        if school.clever_school_id:
            continue
        if clever_school.nces_id and school.nces_id == clever_school.nces_id:
            found.append(Suggestion(school_id=school.school_id, name=school.name, match="nces_id", score=1.0))
        elif clever_school.state_id and school.state_id == clever_school.state_id:
            found.append(
                Suggestion(school_id=school.school_id, name=school.name, match="state_id", score=1.0)
            )
        else:
            score = name_similarity(clever_school.name, school.name)
            if score >= MIN_NAME_SCORE:
                found.append(
                    Suggestion(
                        school_id=school.school_id, name=school.name, match="name", score=round(score, 3)
                    )
                )
    rank = {"nces_id": 0, "state_id": 1, "name": 2}
    found.sort(key=lambda s: (rank[s.match], -s.score, s.school_id))
    return found[:MAX_SUGGESTIONS]
