"""Which Clever school feeds which school of the district.

On a district's first sync every school Clever shares becomes a matched school. Later, a newly
shared Clever school is matched automatically to a not-connected school with the same NCES id,
then the same state id; otherwise it waits, unmatched, for an admin to match or add it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sis_sync.clever.models import School as CleverSchoolRecord
from sis_sync.model import CleverSchool, School, SchoolStatus


def school_id_for(clever_school_id: str) -> str:
    """The id of a school created from a Clever school: stable, so re-running a sync creates it once."""
    return f"s-{clever_school_id}"


@dataclass
class Discovery:
    matched: dict[str, School] = field(default_factory=dict)  # Clever school id -> school
    created: list[School] = field(default_factory=list)
    auto_matched: list[School] = field(default_factory=list)
    unmatched: list[CleverSchool] = field(default_factory=list)
    no_longer_shared: list[School] = field(default_factory=list)


def _auto_match(record: CleverSchoolRecord, candidates: list[School]) -> School | None:
    for attribute in ("nces_id", "state_id"):
        wanted = getattr(record, attribute)
        if not wanted:
            continue
        found = [school for school in candidates if getattr(school, attribute) == wanted]
        if len(found) == 1:  # an ambiguous id is left for an admin to decide
            return found[0]
    return None


def discover(
    district_id: str,
    sync_id: str,
    schools: list[School],
    shared: list[CleverSchoolRecord],
    *,
    first_sync: bool,
) -> Discovery:
    result = Discovery()
    by_clever_id = {school.clever_school_id: school for school in schools if school.clever_school_id}
    candidates = [school for school in schools if not school.clever_school_id]
    shared_ids = {record.id for record in shared}
    result.no_longer_shared = [school for cid, school in by_clever_id.items() if cid not in shared_ids]
    for record in shared:
        if record.id in by_clever_id:
            result.matched[record.id] = by_clever_id[record.id]
            continue
        school = _auto_match(record, candidates)
        if school is not None:
            candidates.remove(school)
            school = school.model_copy(
                update={"clever_school_id": record.id, "status": SchoolStatus.CONNECTED}
            )
            result.auto_matched.append(school)
        elif first_sync:
            school = School(
                district_id=district_id,
                school_id=school_id_for(record.id),
                name=record.name,
                clever_school_id=record.id,
                nces_id=record.nces_id,
                state_id=record.state_id,
                status=SchoolStatus.CONNECTED,
            )
            result.created.append(school)
        else:
            result.unmatched.append(
                CleverSchool(
                    district_id=district_id,
                    clever_school_id=record.id,
                    name=record.name,
                    nces_id=record.nces_id,
                    state_id=record.state_id,
                    first_seen_sync_id=sync_id,
                )
            )
            continue
        result.matched[record.id] = school
    return result
