"""Match schools: the Clever schools shared with us that no school is matched to, with
suggestions, and linking them to not-connected schools or adding them as new schools.

Suggestions: which not-connected school a shared Clever school probably is. Same NCES id first,
then the same state id, then similar names (difflib on normalised names: case, accents,
punctuation and words like "school" ignored).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Final

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import ConflictError, InvalidRequestError, NotFoundError
from sis_sync.api.identity import Identity
from sis_sync.api.models import (
    CleverSchoolList,
    CleverSchoolView,
    MatchRequest,
    MatchResponse,
    MatchResult,
    Suggestion,
)
from sis_sync.discovery import school_id_for
from sis_sync.model import CleverSchool, School, SchoolStatus

MIN_NAME_SCORE: Final = 0.6
MAX_SUGGESTIONS: Final = 3
_FILLER: Final = frozenset({"school", "the", "of", "sch", "schl"})
_NOT_ALNUM: Final = re.compile(r"[^0-9a-z]+")


# --- Match schools -----------------------------------------------------------------------------


def clever_schools(ctx: ApiContext, who: Identity, district_id: str) -> CleverSchoolList:
    ctx.require_district(who, district_id)
    candidates = [school for school in ctx.state.schools(district_id) if not school.clever_school_id]
    return CleverSchoolList(
        clever_schools=[
            CleverSchoolView(
                **clever_school.model_dump(include={"clever_school_id", "name", "nces_id", "state_id"}),
                first_seen_sync_id=clever_school.first_seen_sync_id,
                suggestions=suggestions(clever_school, candidates),
            )
            for clever_school in ctx.state.clever_schools(district_id)
        ]
    )


def match(ctx: ApiContext, who: Identity, district_id: str, request: MatchRequest) -> MatchResponse:
    """Link Clever schools to not-connected schools, or add them as new schools; they sync on the
    next poll. Every match is checked before any is written."""
    ctx.require_district(who, district_id)
    clever_ids = [m.clever_school_id for m in request.matches]
    school_ids = [m.school_id for m in request.matches if m.school_id]
    if len(set(clever_ids)) != len(clever_ids) or len(set(school_ids)) != len(school_ids):
        raise InvalidRequestError("a Clever school or a school is named twice")
    unmatched = {c.clever_school_id: c for c in ctx.state.clever_schools(district_id)}
    schools = {school.school_id: school for school in ctx.state.schools(district_id)}
    planned: list[School] = []
    results: list[MatchResult] = []
    for item in request.matches:
        clever_school = unmatched.get(item.clever_school_id)
        if clever_school is None:
            raise NotFoundError(f"no unmatched Clever school {item.clever_school_id}")
        if item.school_id is None:
            school_id = school_id_for(clever_school.clever_school_id)
            if school_id in schools:
                raise ConflictError(f"school {school_id} exists already")
            school = School(
                district_id=district_id,
                school_id=school_id,
                name=clever_school.name,
                clever_school_id=clever_school.clever_school_id,
                nces_id=clever_school.nces_id,
                state_id=clever_school.state_id,
                status=SchoolStatus.CONNECTED,
            )
            results.append(
                MatchResult(clever_school_id=item.clever_school_id, school_id=school_id, result="added")
            )
        else:
            existing = schools.get(item.school_id)
            if existing is None:
                raise NotFoundError(f"school {item.school_id} not found")
            if existing.clever_school_id:
                raise ConflictError(f"school {item.school_id} is matched already")
            school = existing.model_copy(
                update={
                    "clever_school_id": clever_school.clever_school_id,
                    "status": SchoolStatus.CONNECTED,
                    "nces_id": existing.nces_id or clever_school.nces_id,
                    "state_id": existing.state_id or clever_school.state_id,
                }
            )
            results.append(
                MatchResult(clever_school_id=item.clever_school_id, school_id=item.school_id, result="linked")
            )
        planned.append(school)
    for school in planned:
        ctx.state.put_school(school)
        ctx.state.delete_clever_school(district_id, school.clever_school_id or "")
    audit_log.record(
        ctx,
        who,
        district_id,
        "schools_matched",
        school_ids=[r.school_id for r in results],
        result="matched",
        detail={
            "matches": {
                r.school_id: {"clever_school_id": r.clever_school_id, "result": r.result} for r in results
            }
        },
    )
    return MatchResponse(results=results)


# --- suggestions -------------------------------------------------------------------------------


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
