"""Apply safe changes: the split of a held change set (DESIGN §7), by example and by property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sis_sync.changes import Change, ChangeSet, apply_change_set, diff
from sis_sync.rules import change_key, evaluate, guardian_triggers, judge
from sis_sync.safe_changes import safe_records, split
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import RECORD_TYPES, Record, Records
from tests.unit.strategies import CONTACT_TYPES, rosters
from tests.unit.test_changes import contact, roster, student
from tests.unit.test_rules import guardians, rel, students

DEFAULTS = HoldThresholds()
PROPERTY_SETTINGS = settings(max_examples=100, derandomize=True, deadline=None)


def newcomers(count: int) -> list[Record]:
    return [student(f"new{n:03d}", f"sis-new-{n}", first_name=f"New{n}") for n in range(count)]


def keys(change_set: ChangeSet) -> list[tuple[str, str, str]]:
    return sorted((change.kind, *change_key(change)) for change in change_set)


def only(change_set: ChangeSet, change: Change) -> ChangeSet:
    return ChangeSet(changes={change.record_type: [change]}, previous_counts=dict(change_set.previous_counts))


@st.composite
def thresholds(draw: st.DrawFn) -> HoldThresholds:
    minimum = draw(st.integers(1, 4))
    return HoldThresholds(
        removal_min_count=minimum,
        removal_pct=draw(st.sampled_from([1.0, 10.0, 50.0])),
        removal_max_count=draw(st.integers(minimum, 8)),
        max_guardians=draw(st.integers(2, 3)),
        blocked_contact_types=tuple(draw(st.sets(st.sampled_from(CONTACT_TYPES)))),
    )


# --- by example ------------------------------------------------------------------------------------


def test_new_students_apply_while_a_large_removal_waits() -> None:
    # Given 100 applied students / When 20 leave and 5 arrive
    previous = roster(student=students(100))
    current = roster(student=students(100)[20:] + newcomers(5))

    parts = split(evaluate(previous, current, DEFAULTS).change_set, previous, DEFAULTS)

    # Then the 5 additions are safe and the 20 removals wait
    assert {change.kind for change in parts.safe} == {"added"}
    assert len(parts.safe) == 5
    assert {change.kind for change in parts.held} == {"removed"}
    assert len(parts.held) == 20


def test_a_contact_that_could_bring_a_student_to_the_limit_waits_even_if_another_leaves() -> None:
    # Given a student with 5 guardians / When one guardian leaves and another arrives (still 5)
    previous = roster(student=[student("s1", "1")], contact=guardians("s1", 5))
    current = roster(
        student=[student("s1", "1")],
        contact=[
            *guardians("s1", 5)[1:],
            contact(
                "new0", name="Someone Else", email="else@example.org", relationships=[rel("s1", "Parent")]
            ),
        ],
    )

    parts = split(evaluate(previous, current, DEFAULTS).change_set, previous, DEFAULTS)

    # Then the new guardian waits: applied without the removal it would make a sixth
    assert not len(parts.safe)
    assert keys(parts.held) == [("added", "contact", "new0"), ("removed", "contact", "g0")]


def test_a_guardian_of_a_student_who_already_had_the_limit_applies_now() -> None:
    # Given a student who already had max_guardians (6) guardians when last applied
    previous = roster(student=[student("s1", "1")], contact=guardians("s1", 6))
    # When a seventh guardian arrives
    current = roster(student=[student("s1", "1")], contact=guardians("s1", 7))
    change_set = evaluate(previous, current, DEFAULTS).change_set

    parts = split(change_set, previous, DEFAULTS)

    # Then it applies now: the rule holds a student reaching the limit, never one already there
    # (`before < limit`, not `<=`), so applied alone it fires nothing
    assert not evaluate(previous, current, DEFAULTS).held
    assert guardian_triggers(change_set, previous, DEFAULTS) == []
    assert keys(parts.safe) == [("added", "contact", "g6")]
    assert not len(parts.held)


def test_a_new_emergency_contact_waits_and_a_new_parent_applies() -> None:
    previous = roster(student=[student("s1", "1")])
    current = roster(
        student=[student("s1", "1")],
        contact=[
            contact("c1", name="Parent", relationships=[rel("s1", "Parent/Guardian")]),
            contact("c2", name="Neighbour", relationships=[rel("s1", "emergency")]),
        ],
    )

    parts = split(evaluate(previous, current, DEFAULTS).change_set, previous, DEFAULTS)

    assert keys(parts.safe) == [("added", "contact", "c1")]
    assert keys(parts.held) == [("added", "contact", "c2")]


def test_a_contact_linking_a_reissued_student_waits_with_the_student() -> None:
    # Given a student whose Clever id is re-issued / When a new parent links the new id
    previous = roster(student=[student("s1", "sis-1")])
    current = roster(
        student=[student("s9", "sis-1")],
        contact=[contact("c1", name="Parent", relationships=[rel("s9", "Parent/Guardian")])],
    )

    parts = split(evaluate(previous, current, DEFAULTS).change_set, previous, DEFAULTS)

    # Then both wait: the applied roster has no student s9 to link
    assert not len(parts.safe)
    assert keys(parts.held) == [("added", "contact", "c1"), ("source_id_changed", "student", "s9")]


def test_the_held_part_keeps_its_holds_against_the_roster_the_safe_part_leaves() -> None:
    previous = roster(student=students(100))
    current = roster(student=students(100)[20:] + newcomers(50))
    evaluation = evaluate(previous, current, DEFAULTS)
    parts = split(evaluation.change_set, previous, DEFAULTS)

    # When the held part is judged after the safe part was applied (50 more students)
    remaining = judge(parts.held, safe_records(previous, parts), current, DEFAULTS)

    # Then it is still held for the same reason, measured against the count it was held on
    assert remaining.reasons == evaluation.reasons
    assert remaining.holds[0].detail["types"]["student"]["previous"] == 100


# --- properties -------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(rosters(), rosters(), thresholds())
def test_safe_and_held_parts_partition_the_change_set(
    previous: Records, current: Records, limits: HoldThresholds
) -> None:
    change_set = evaluate(previous, current, limits).change_set

    parts = split(change_set, previous, limits)

    assert sorted(keys(parts.safe) + keys(parts.held)) == keys(change_set)
    assert not {change_key(c) for c in parts.safe} & {change_key(c) for c in parts.held}
    for record_type in RECORD_TYPES:  # each part keeps the change set's order
        whole = change_set.of_type(record_type)
        for part in (parts.safe, parts.held):
            kept = part.of_type(record_type)
            assert kept == [change for change in whole if change in kept]


@PROPERTY_SETTINGS
@given(rosters(), rosters(), thresholds())
def test_the_safe_part_fires_no_rule_together_or_change_by_change(
    previous: Records, current: Records, limits: HoldThresholds
) -> None:
    change_set = evaluate(previous, current, limits).change_set

    parts = split(change_set, previous, limits)

    together = evaluate(previous, safe_records(previous, parts), limits)
    assert not together.held, together.holds
    for change in parts.safe:
        alone = evaluate(previous, apply_change_set(previous, only(change_set, change)), limits)
        assert not alone.held, (change, alone.holds)


@PROPERTY_SETTINGS
@given(rosters(), rosters(), thresholds())
def test_applying_the_safe_part_leaves_exactly_the_held_part_to_apply(
    previous: Records, current: Records, limits: HoldThresholds
) -> None:
    change_set = evaluate(previous, current, limits).change_set
    parts = split(change_set, previous, limits)
    after_safe = safe_records(previous, parts)

    # the apply path writes diff(applied, safe roster): exactly the safe part
    assert keys(diff(previous, after_safe)) == keys(parts.safe)
    # and Clear holds then writes diff(safe roster, new roster): exactly the held part
    assert keys(diff(after_safe, current)) == keys(parts.held)


@PROPERTY_SETTINGS
@given(rosters(), rosters(), thresholds())
def test_a_held_change_set_stays_held_once_its_safe_part_is_applied(
    previous: Records, current: Records, limits: HoldThresholds
) -> None:
    evaluation = evaluate(previous, current, limits)
    parts = split(evaluation.change_set, previous, limits)

    remaining = judge(parts.held, safe_records(previous, parts), current, limits)

    assert set(evaluation.reasons) <= set(remaining.reasons)


# --- the hold mail -----------------------------------------------------------------------------------


def test_the_hold_mail_says_what_was_applied_and_that_the_rest_waits() -> None:
    from datetime import UTC, datetime

    from sis_sync.mail_content import HoldMailLinks, render_hold_mail
    from sis_sync.model import District, SafeApplied, School
    from sis_sync.rules import Hold, HoldReason

    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    district = District(district_id="d", name="Springfield", clever_district_id="c")
    applied = SafeApplied(
        sync_id="s002", at=at, actor="system", changes={"added": 3, "updated": 2, "removed": 0}
    )
    links = HoldMailLinks(
        school_url="https://x/s", csv_url="https://x/c", district_url="https://x", expires_at=at
    )
    hold = Hold(reason=HoldReason.EMERGENCY_CONTACTS, detail={})

    def mail(school: School) -> str:
        rendered = render_hold_mail(district, school, "s002", [hold], links)
        return rendered.text + rendered.html

    school = School(district_id="d", school_id="s", name="Elm")
    with_safe = mail(school.model_copy(update={"safe_applied": applied}))
    older_sync = mail(
        school.model_copy(update={"safe_applied": applied.model_copy(update={"sync_id": "s001"})})
    )

    assert "were applied already (3 added, 2 updated)" in with_safe
    assert "the rest waits until you review it" in with_safe
    assert "Nothing of this sync is" not in with_safe
    assert "applied already" not in older_sync
    assert "Nothing of this sync is" in older_sync
