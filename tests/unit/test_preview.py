"""Threshold preview: a stored change set judged again gives what evaluating the snapshots gives."""

from __future__ import annotations

import gzip

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis_sync.changes import diff
from sis_sync.preview import compare, decode_change_set, encode_change_set, judge_stored
from sis_sync.rules import HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Records
from tests.unit.strategies import CONTACT_TYPES, rosters
from tests.unit.test_changes import contact, roster
from tests.unit.test_rules import guardians, rel, students

PROPERTY_SETTINGS = settings(max_examples=150, derandomize=True, deadline=None)

thresholds = st.builds(
    HoldThresholds,
    removal_min_count=st.integers(1, 4),
    removal_pct=st.sampled_from([1.0, 10.0, 50.0, 100.0]),
    removal_max_count=st.integers(4, 8),
    max_guardians=st.integers(2, 4),
    blocked_contact_types=st.lists(st.sampled_from(CONTACT_TYPES), max_size=2).map(tuple),
)


def stored(previous: Records | None, current: Records) -> bytes:
    return encode_change_set(diff(previous, current), previous)


@PROPERTY_SETTINGS
@given(previous=st.none() | rosters(), current=rosters(), at_evaluation=thresholds, proposed=thresholds)
def test_a_stored_change_set_is_judged_as_evaluating_the_snapshots_would_judge_it(
    previous: Records | None, current: Records, at_evaluation: HoldThresholds, proposed: HoldThresholds
) -> None:
    # Given a change set stored when it was evaluated (under whatever thresholds were in force)
    body = stored(previous, current)
    assert evaluate(previous, current, at_evaluation) is not None

    # When it is judged again under other thresholds
    verdict = judge_stored(decode_change_set(body), proposed)

    # Then held and reasons are what evaluating the two snapshots under them gives
    expected = evaluate(previous, current, proposed)
    assert (verdict.held, verdict.reasons) == (expected.held, expected.reasons)


def test_only_the_applied_contacts_the_guardian_rule_can_read_are_stored() -> None:
    # Given 50 students with one guardian each, and one student who gains two more guardians
    kids = students(50)
    applied = roster(
        student=kids, contact=[c for n, kid in enumerate(kids) for c in guardians(kid["id"], 1, f"g{n}-")]
    )
    new = roster(
        student=kids,
        contact=[*applied["contact"], *guardians("s0007", 2, "extra-")],
    )

    # When its change set is stored
    document = orjson.loads(gzip.decompress(stored(applied, new)))

    # Then only that student's applied guardian is kept beside the changes
    assert [c["id"] for c in document["applied_contacts"]] == ["g7-0"]


def test_the_guardian_rule_counts_the_applied_guardians_under_any_limit() -> None:
    # Given a student with 3 applied guardians who gains 1 more (4 in all)
    applied = roster(student=students(1), contact=guardians("s0000", 3))
    new = roster(student=students(1), contact=[*guardians("s0000", 3), *guardians("s0000", 1, "new")])
    change_set = decode_change_set(stored(applied, new))

    # When judged with a limit of 4, then of 5 and of 3 (reached before: not newly reached)
    held = [judge_stored(change_set, HoldThresholds(max_guardians=limit)).held for limit in (4, 5, 3)]

    # Then only the limit of 4 holds it
    assert held == [True, False, False]


def test_a_stored_change_set_of_an_unknown_format_is_refused() -> None:
    body = gzip.compress(orjson.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format"):
        decode_change_set(body)


def test_compare_judges_each_change_set_under_both_thresholds_and_marks_the_missing_ones() -> None:
    # Given one stored change set that removes 6 of 100 students, and one that is not stored
    applied = roster(student=students(100))
    removed = roster(student=students(100)[6:])
    kept = {"s1": decode_change_set(stored(applied, removed))}

    # When compared under the defaults (10 %) and under 5 %
    compared = compare(
        ["s1", "s0"], kept.get, HoldThresholds(), HoldThresholds(removal_min_count=5, removal_pct=5)
    )

    # Then the first would be held only under 5 %; the second is unknown
    first, missing = compared
    assert first.current is not None
    assert first.proposed is not None
    assert (first.current.held, first.proposed.reasons) == (False, (HoldReason.LARGE_REMOVALS,))
    assert (missing.sync_id, missing.current, missing.proposed) == ("s0", None, None)


def test_a_new_blocked_relationship_is_judged_from_the_stored_previous_relationships() -> None:
    # Given a contact whose Parent link to a student gains an Emergency link to the same student
    before = contact("c1", name="Pat", relationships=[rel("s0000", "Parent/Guardian")])
    after = contact(
        "c1", name="Pat", relationships=[rel("s0000", "Emergency"), rel("s0000", "Parent/Guardian")]
    )
    change_set = decode_change_set(
        stored(roster(student=students(1), contact=[before]), roster(student=students(1), contact=[after]))
    )

    # When judged with Emergency blocked, then with nothing blocked
    blocked = judge_stored(change_set, HoldThresholds())
    allowed = judge_stored(change_set, HoldThresholds(blocked_contact_types=()))

    # Then only the first holds it, for emergency contacts
    assert (blocked.reasons, allowed.held) == ((HoldReason.EMERGENCY_CONTACTS,), False)
