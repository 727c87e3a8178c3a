"""Which Clever school feeds which school: first-sync adoption, NCES/state-id matching, unmatched."""

from __future__ import annotations

from sis_sync.clever.models import School as CleverSchool
from sis_sync.discovery import discover, school_id_for
from sis_sync.model import School, SchoolStatus


def clever(cid: str, nces: str = "", state: str = "") -> CleverSchool:
    return CleverSchool(id=cid, name=f"Clever {cid}", nces_id=nces, state_id=state)


def platform(sid: str, nces: str = "", state: str = "", clever_id: str | None = None) -> School:
    return School(
        district_id="d", school_id=sid, name=sid, nces_id=nces, state_id=state, clever_school_id=clever_id
    )


def test_first_sync_adopts_every_shared_school() -> None:
    found = discover("d", "s1", [], [clever("c1"), clever("c2")], first_sync=True)
    assert [s.school_id for s in found.created] == [school_id_for("c1"), school_id_for("c2")]
    assert set(found.matched) == {"c1", "c2"}
    assert all(s.status is SchoolStatus.CONNECTED for s in found.created)


def test_later_syncs_match_by_nces_id_then_state_id_and_list_the_rest() -> None:
    schools = [platform("a", nces="N1"), platform("b", state="S2"), platform("c")]
    shared = [clever("c1", nces="N1", state="S9"), clever("c2", state="S2"), clever("c3", nces="N3")]
    found = discover("d", "s2", schools, shared, first_sync=False)
    assert {s.school_id: s.clever_school_id for s in found.auto_matched} == {"a": "c1", "b": "c2"}
    assert [c.clever_school_id for c in found.unmatched] == ["c3"]
    assert found.created == []


def test_an_ambiguous_nces_id_is_left_for_an_admin() -> None:
    schools = [platform("a", nces="N1"), platform("b", nces="N1")]
    found = discover("d", "s2", schools, [clever("c1", nces="N1")], first_sync=False)
    assert found.auto_matched == []
    assert [c.clever_school_id for c in found.unmatched] == ["c1"]


def test_already_matched_schools_stay_matched_and_unshared_ones_are_reported() -> None:
    schools = [platform("a", clever_id="c1"), platform("b", clever_id="gone")]
    found = discover("d", "s2", schools, [clever("c1")], first_sync=False)
    assert found.matched["c1"].school_id == "a"
    assert [s.school_id for s in found.no_longer_shared] == ["b"]
