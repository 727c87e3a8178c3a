"""Hold rules (DESIGN §1) on hand-made rosters, plus threshold properties."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sis_sync.rules import Evaluation, HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Record, Records
from tests.unit.strategies import CONTACT_TYPES, reissue_ids, rosters
from tests.unit.test_changes import contact, roster, student

DEFAULTS = HoldThresholds()
PROPERTY_SETTINGS = settings(max_examples=100, derandomize=True, deadline=None)


def students(count: int, prefix: str = "s") -> list[Record]:
    return [student(f"{prefix}{n:04d}", f"sis-{n}", first_name=f"Kid{n}") for n in range(count)]


def guardians(target: str, count: int, prefix: str = "g", kind: str = "Parent/Guardian") -> list[Record]:
    return [
        contact(f"{prefix}{n}", name=f"Guardian {n}", relationships=[rel(target, kind)]) for n in range(count)
    ]


def rel(student_id: str, kind: str) -> dict[str, str]:
    return {"student": student_id, "type": kind, "relationship": "Parent"}


def reasons(evaluation: Evaluation) -> set[str]:
    return {str(reason) for reason in evaluation.reasons}


def detail(evaluation: Evaluation, reason: HoldReason) -> dict[str, Any]:
    return next(hold.detail for hold in evaluation.holds if hold.reason == reason)


# --- large_removals --------------------------------------------------------------------------


def test_ten_percent_and_ten_records_removed_is_a_hold() -> None:
    # Given 100 applied students / When 10 are gone
    previous = roster(student=students(100))
    current = roster(student=students(100)[10:])

    evaluation = evaluate(previous, current, DEFAULTS)

    # Then large_removals fires on the pct threshold, every removal row carries the reason
    assert reasons(evaluation) == {"large_removals"}
    types = detail(evaluation, HoldReason.LARGE_REMOVALS)["types"]
    assert types == {
        "student": {
            "removed": 10,
            "source_id_changed": 0,
            "previous": 100,
            "pct": 10.0,
            "threshold": "removal_pct",
        }
    }
    assert all(evaluation.reasons_for(change) == ("large_removals",) for change in evaluation.change_set)


def test_a_removal_hold_shows_the_thresholds_it_was_measured_against() -> None:
    # Given a school whose own thresholds differ from the defaults
    thresholds = HoldThresholds(removal_min_count=3, removal_pct=25.0, removal_max_count=40)

    # When 3 of its 10 students are gone
    evaluation = evaluate(roster(student=students(10)), roster(student=students(10)[3:]), thresholds)

    # Then the hold names those settings by name (the admin decides against them), not the defaults
    assert detail(evaluation, HoldReason.LARGE_REMOVALS)["thresholds"] == {
        "removal_min_count": 3,
        "removal_pct": 25.0,
        "removal_max_count": 40,
    }


def test_fewer_than_the_minimum_count_is_no_hold_whatever_the_share() -> None:
    evaluation = evaluate(roster(student=students(9)), roster(), DEFAULTS)

    assert not evaluation.held


def test_just_under_the_share_is_no_hold() -> None:
    evaluation = evaluate(roster(student=students(101)), roster(student=students(101)[10:]), DEFAULTS)

    assert not evaluation.held  # 10 / 101 = 9.9 %


def test_the_share_removed_is_shown_to_one_decimal() -> None:
    # Given 30 applied students / When 10 are gone (33.33... %)
    evaluation = evaluate(roster(student=students(30)), roster(student=students(30)[10:]), DEFAULTS)

    # Then the hold shows 33.3 %, not a share rounded to a whole percent the admin would misread
    assert detail(evaluation, HoldReason.LARGE_REMOVALS)["types"]["student"]["pct"] == 33.3


def test_the_maximum_count_fires_whatever_the_share() -> None:
    thresholds = HoldThresholds(removal_max_count=20)
    previous = roster(student=students(1000))

    evaluation = evaluate(previous, roster(student=students(1000)[20:]), thresholds)

    assert (
        detail(evaluation, HoldReason.LARGE_REMOVALS)["types"]["student"]["threshold"] == "removal_max_count"
    )


def test_reissued_ids_count_as_removals_and_examples_are_capped() -> None:
    # Given 30 students whose Clever ids were all re-issued (same sis_id)
    previous = roster(student=students(30))
    current = roster(student=students(30, prefix="new"))

    evaluation = evaluate(previous, current, DEFAULTS)

    found = detail(evaluation, HoldReason.LARGE_REMOVALS)
    assert found["types"]["student"]["source_id_changed"] == 30
    examples = found["examples"]
    assert isinstance(examples, list)
    assert len(examples) == 20
    assert examples[0] == {
        "record_type": "student", "change": "source_id_changed", "clever_id": "new0000",
        "previous_clever_id": "s0000", "name": "Kid0 Diaz",
    }  # fmt: skip


def test_first_sync_never_fires_removals() -> None:
    evaluation = evaluate(None, roster(student=students(50)), DEFAULTS)

    assert not evaluation.held


def test_added_and_updated_records_do_not_count_as_removals() -> None:
    previous = roster(student=students(20))
    current = roster(student=[s | {"grade": "9"} for s in students(20)] + students(20, prefix="x"))

    assert not evaluate(previous, current, DEFAULTS).held


# --- too_many_parent_connections ----------------------------------------------------------------


def test_a_sixth_guardian_is_a_hold_on_the_contact_that_linked() -> None:
    # Given a student with five guardians / When a sixth is linked
    kids = students(2)
    previous = roster(student=kids, contact=guardians("s0000", 5))
    current = roster(student=kids, contact=guardians("s0000", 6))

    evaluation = evaluate(previous, current, DEFAULTS)

    # Then the guardian rule fires and only the new contact's row carries it; the example names the
    # student and each guardian, the newly linked one marked
    assert reasons(evaluation) == {"too_many_parent_connections"}
    assert detail(evaluation, HoldReason.TOO_MANY_PARENT_CONNECTIONS) == {
        "max_guardians": 6,
        "students": 1,
        "contacts": 1,
        "examples": [
            {
                "clever_id": "s0000", "name": "Kid0 Diaz", "guardians": 6, "previously": 5,
                "contacts": [
                    {"clever_id": f"g{n}", "name": f"Guardian {n}", "new": n == 5} for n in range(6)
                ],
            }
        ],
    }  # fmt: skip
    [change] = evaluation.change_set
    assert evaluation.reasons_for(change) == ("too_many_parent_connections",)


def test_a_guardian_is_new_only_to_the_student_it_newly_links() -> None:
    # Given Kid1 with five guardians, one of whom (g0) now also links Kid0, and five new contacts
    # for Kid0 and one for Kid1
    kids = students(2)
    applied = guardians("s0001", 5)
    both = applied[0] | {"relationships": [rel("s0001", "Parent/Guardian"), rel("s0000", "Parent/Guardian")]}
    added = [*guardians("s0000", 5, prefix="h"), *guardians("s0001", 1, prefix="k")]
    current = roster(student=kids, contact=[both, *applied[1:], *added])

    found = detail(
        evaluate(roster(student=kids, contact=applied), current, DEFAULTS),
        HoldReason.TOO_MANY_PARENT_CONNECTIONS,
    )

    # Then g0 is a new guardian of Kid0 but an old one of Kid1; each student lists its six
    new = {e["clever_id"]: {c["clever_id"] for c in e["contacts"] if c["new"]} for e in found["examples"]}
    assert new == {"s0000": {"g0", "h0", "h1", "h2", "h3", "h4"}, "s0001": {"k0"}}
    assert [len(e["contacts"]) for e in found["examples"]] == [6, 6]
    assert found["contacts"] == 7  # the rows carrying the reason: g0, h0..h4, k0


def test_a_new_phone_for_a_guardian_of_a_student_one_below_the_limit_is_no_hold() -> None:
    # Given a student with max_guardians - 1 applied guardians
    kids = students(1)
    applied = guardians("s0000", DEFAULTS.max_guardians - 1)
    previous = roster(student=kids, contact=applied)

    # When one guardian's phone changes (the contact stays linked, as before)
    current = roster(student=kids, contact=[applied[0] | {"phone": "5550199"}, *applied[1:]])
    evaluation = evaluate(previous, current, DEFAULTS)

    # Then it is not counted as a new link on top of the old one: one update, no hold
    assert [change.kind for change in evaluation.change_set] == ["updated"]
    assert not evaluation.held


def test_only_the_contacts_that_linked_the_held_student_carry_the_guardian_reason() -> None:
    # Given one student with five guardians and another with one
    kids = students(2)
    applied = [*guardians("s0000", 5), *guardians("s0001", 1, prefix="other")]
    previous = roster(student=kids, contact=applied)

    # When a sixth guardian links the first, and the second's guardian gets a new phone
    current = roster(student=kids, contact=[*guardians("s0000", 6), applied[5] | {"phone": "5550199"}])
    evaluation = evaluate(previous, current, DEFAULTS)

    # Then only the sixth guardian's change names the guardian rule (it is what the admin reviews)
    marked = {change.clever_id: evaluation.reasons_for(change) for change in evaluation.change_set}
    assert marked == {"g5": ("too_many_parent_connections",), "other0": ()}


def test_a_student_already_over_the_limit_is_not_held_again() -> None:
    kids = students(1)
    evaluation = evaluate(
        roster(student=kids, contact=guardians("s0000", 6)),
        roster(student=kids, contact=guardians("s0000", 7)),
        DEFAULTS,
    )

    assert not evaluation.held


def test_first_sync_with_six_guardians_is_a_hold() -> None:
    evaluation = evaluate(None, roster(student=students(1), contact=guardians("s0000", 6)), DEFAULTS)

    assert reasons(evaluation) == {"too_many_parent_connections"}
    assert len([c for c in evaluation.change_set if evaluation.reasons_for(c)]) == 6


def test_two_relationships_of_one_contact_to_a_student_are_one_connection() -> None:
    kids = students(1)
    doubled = [
        contact(
            f"g{n}", name=f"G{n}", relationships=[rel("s0000", "Family"), rel("s0000", "Parent/Guardian")]
        )
        for n in range(3)
    ]
    evaluation = evaluate(None, roster(student=kids, contact=doubled), HoldThresholds(max_guardians=4))

    assert not evaluation.held


def test_a_reissued_student_keeps_the_guardians_it_had() -> None:
    # Given a student with 6 guardians, already applied / When Clever re-issues the student's id
    previous = roster(student=students(1), contact=guardians("s0000", 6))
    current = roster(student=students(1, prefix="new"), contact=guardians("new0000", 6))

    evaluation = evaluate(previous, current, DEFAULTS)

    # Then the student did have that many: no guardian hold
    assert HoldReason.TOO_MANY_PARENT_CONNECTIONS not in evaluation.reasons


def test_a_reissued_student_who_gains_a_sixth_guardian_is_held() -> None:
    # Given a student with five applied guardians
    previous = roster(student=students(1), contact=guardians("s0000", 5))

    # When Clever re-issues the student's id and a sixth guardian arrives with the new id
    current = roster(student=students(1, prefix="new"), contact=guardians("new0000", 6))
    evaluation = evaluate(previous, current, DEFAULTS)

    # Then the five applied guardians are counted under the old id: 5 -> 6 is a hold
    # (the five re-linked guardians are not new to the student: only the sixth is)
    assert detail(evaluation, HoldReason.TOO_MANY_PARENT_CONNECTIONS)["examples"] == [
        {
            "clever_id": "new0000", "name": "Kid0 Diaz", "guardians": 6, "previously": 5,
            "contacts": [
                {"clever_id": f"g{n}", "name": f"Guardian {n}", "new": n == 5} for n in range(6)
            ],
        }
    ]  # fmt: skip


# --- emergency_contacts --------------------------------------------------------------------------


def test_a_new_emergency_relationship_is_a_hold_in_any_case() -> None:
    for kind in ("Emergency", "emergency", "SECONDARY"):
        kids = students(1)
        evaluation = evaluate(
            roster(student=kids), roster(student=kids, contact=guardians("s0000", 1, kind=kind)), DEFAULTS
        )

        assert reasons(evaluation) == {"emergency_contacts"}, kind
        found = detail(evaluation, HoldReason.EMERGENCY_CONTACTS)
        assert found["examples"] == [
            {"clever_id": "g0", "name": "Guardian 0", "student": "s0000", "type": kind}
        ]


def test_an_emergency_hold_counts_relationships_and_contacts_separately() -> None:
    # Given two new contacts: one emergency contact of two students, one secondary of one student
    kids = students(2)
    current = roster(
        student=kids,
        contact=[
            contact("e1", name="Em", relationships=[rel("s0000", "Emergency"), rel("s0001", "Emergency")]),
            contact("e2", name="Sec", relationships=[rel("s0000", "Secondary")]),
        ],
    )

    # When evaluated against a roster without them
    found = detail(evaluate(roster(student=kids), current, DEFAULTS), HoldReason.EMERGENCY_CONTACTS)

    # Then the admin sees 3 relationships from 2 contacts, per type, and the types that are blocked
    assert {key: found[key] for key in ("blocked_contact_types", "relationships", "contacts", "by_type")} == {
        "blocked_contact_types": ["Emergency", "Secondary"],
        "relationships": 3,
        "contacts": 2,
        "by_type": {"Emergency": 2, "Secondary": 1},
    }


def test_an_emergency_relationship_already_applied_is_no_hold() -> None:
    kids = students(2)
    previous = roster(student=kids, contact=guardians("s0000", 1, kind="Emergency"))
    moved_phone = [c | {"phone": "555"} for c in guardians("s0000", 1, kind="emergency")]

    assert not evaluate(previous, roster(student=kids, contact=moved_phone), DEFAULTS).held


def test_a_family_contact_becoming_emergency_is_a_hold() -> None:
    kids = students(1)
    previous = roster(student=kids, contact=guardians("s0000", 1, kind="Family"))
    current = roster(student=kids, contact=guardians("s0000", 1, kind="Emergency"))

    assert reasons(evaluate(previous, current, DEFAULTS)) == {"emergency_contacts"}


def test_a_reissued_emergency_contact_is_not_newly_present() -> None:
    # Given an applied emergency contact without sis_id / When only its Clever id changes
    kids = students(1)
    previous = roster(student=kids, contact=guardians("s0000", 1, prefix="old", kind="Emergency"))
    current = roster(student=kids, contact=guardians("s0000", 1, prefix="new", kind="Emergency"))

    evaluation = evaluate(previous, current, DEFAULTS)

    # Then it is one source_id_changed and no hold
    assert [c.kind for c in evaluation.change_set] == ["source_id_changed"]
    assert not evaluation.held


def test_no_blocked_types_means_no_contact_hold() -> None:
    kids = students(1)
    thresholds = HoldThresholds(blocked_contact_types=())

    evaluation = evaluate(
        None, roster(student=kids, contact=guardians("s0000", 1, kind="Emergency")), thresholds
    )

    assert not evaluation.held


def test_hold_reason_codes_are_the_documented_ones() -> None:
    # The codes are shown by the API, the CSV and e-mails and stored with holds (DESIGN §1): a
    # changed value would leave stored holds and the dashboard's words behind
    assert [reason.value for reason in HoldReason] == [
        "large_removals",
        "too_many_parent_connections",
        "emergency_contacts",
        "disconnected",
        "undone",
        "after_pause",
    ]


def test_a_raised_hold_cannot_be_relabelled() -> None:
    # Given a hold the evaluation raised (the CSV, the store and the e-mail all read the same object)
    evaluation = evaluate(roster(student=students(10)), roster(), DEFAULTS)
    [hold] = evaluation.holds

    # When code tries to change its reason / Then it is refused
    with pytest.raises(ValidationError):
        hold.reason = HoldReason.DISCONNECTED  # type: ignore[misc]


def test_holds_serialise_to_json() -> None:
    previous = roster(student=students(20))
    evaluation = evaluate(previous, roster(contact=guardians("s0000", 1, kind="Emergency")), DEFAULTS)

    payload = orjson.loads(orjson.dumps([hold.model_dump(mode="json") for hold in evaluation.holds]))

    assert [hold["reason"] for hold in payload] == ["large_removals", "emergency_contacts"]
    assert payload[1]["detail"]["by_type"] == {"Emergency": 1}


# --- threshold properties ---------------------------------------------------------------------


def fired(previous: Records, current: Records, thresholds: HoldThresholds) -> set[str]:
    return reasons(evaluate(previous, current, thresholds))


REMOVAL_SETTINGS = ("removal_min_count", "removal_pct", "removal_max_count")


@st.composite
def raised_removal_thresholds(draw: st.DrawFn) -> tuple[HoldThresholds, HoldThresholds]:
    """Valid thresholds, and the same with one removal setting raised (the cap kept above the floor)."""
    lower = HoldThresholds(
        removal_min_count=draw(st.integers(1, 4)),
        removal_pct=draw(st.sampled_from([1.0, 10.0, 33.3, 50.0])),
        removal_max_count=draw(st.integers(4, 8)),
    )
    setting = draw(st.sampled_from(REMOVAL_SETTINGS))
    if setting == "removal_pct":
        raised = lower.model_copy(update={"removal_pct": draw(st.floats(lower.removal_pct, 100.0))})
    else:
        raised = lower.model_copy(update={setting: getattr(lower, setting) + draw(st.integers(1, 5))})
    if raised.removal_max_count < raised.removal_min_count:
        raised = raised.model_copy(update={"removal_max_count": raised.removal_min_count})
    return lower, raised


@PROPERTY_SETTINGS
@given(rosters(), rosters(), raised_removal_thresholds())
def test_raising_a_removal_threshold_never_adds_a_hold(
    previous: Records, current: Records, thresholds: tuple[HoldThresholds, HoldThresholds]
) -> None:
    # Given thresholds, and the same thresholds with one removal setting raised
    lower, raised = thresholds

    # Then whatever fires with the raised setting fired before
    assert fired(previous, current, raised) <= fired(previous, current, lower)


@PROPERTY_SETTINGS
@given(rosters(), rosters(), st.sets(st.sampled_from(CONTACT_TYPES)), st.sampled_from(CONTACT_TYPES))
def test_unblocking_a_contact_type_never_adds_a_hold(
    previous: Records, current: Records, blocked: set[str], unblocked: str
) -> None:
    before = HoldThresholds(blocked_contact_types=tuple(sorted(blocked)))
    after = HoldThresholds(
        blocked_contact_types=tuple(sorted(t for t in blocked if t.casefold() != unblocked.casefold()))
    )

    assert fired(previous, current, after) <= fired(previous, current, before)


@PROPERTY_SETTINGS
@given(rosters(), rosters(), st.integers(2, 4), st.integers(1, 3))
def test_raising_max_guardians_only_holds_students_already_over_the_lower_limit(
    previous: Records, current: Records, limit: int, raise_by: int
) -> None:
    # The rule fires on *crossing* the limit, so it is not monotone in max_guardians (see the next
    # test). What holds: a student flagged only under the higher limit had already reached the lower
    # one in the applied roster, which the admin had accepted.
    lower, raised = HoldThresholds(max_guardians=limit), HoldThresholds(max_guardians=limit + raise_by)
    flagged_lower = flagged_students(previous, current, lower)

    for thresholds in (lower, raised):
        for example in flagged_students(previous, current, thresholds).values():
            assert example["guardians"] >= thresholds.max_guardians > example["previously"]
    for student_id, example in flagged_students(previous, current, raised).items():
        assert student_id in flagged_lower or example["previously"] >= limit


@PROPERTY_SETTINGS
@given(rosters(), rosters(), st.integers(2, 3), st.booleans())
def test_a_flagged_students_guardian_counts_are_those_of_the_rosters(
    previous: Records, current: Records, limit: int, reissue: bool
) -> None:
    # Given any applied and new rosters, the new one's ids possibly all re-issued (the rule counts
    # from the change set, not the rosters: this recounts from the rosters themselves)
    current = reissue_ids(current) if reissue else current
    thresholds = HoldThresholds(max_guardians=limit)

    # When the rule fires
    evaluation = evaluate(previous, current, thresholds)
    examples = {
        e["clever_id"]: e for h in evaluation.holds for e in h.detail.get("examples", ()) if "guardians" in e
    }
    applied_id = {
        change.clever_id: change.previous_clever_id
        for change in evaluation.change_set.of_type("student")
        if change.kind == "source_id_changed"
    }

    # Then each flagged student's counts are its linked contacts now, and under its applied id before
    def linked(records: Records, student_id: str) -> int:
        return sum(any(r["student"] == student_id for r in c["relationships"]) for c in records["contact"])

    for student_id, example in examples.items():
        assert example["guardians"] == linked(current, student_id) >= limit
        assert example["previously"] == linked(previous, applied_id.get(student_id, student_id)) < limit


@PROPERTY_SETTINGS
@given(rosters(), rosters(), st.booleans())
def test_reasons_by_change_is_a_mapping_by_change_key_in_the_holds_order(
    previous: Records, current: Records, reissue: bool
) -> None:
    # Given any change set held for several reasons at once (low thresholds, after a pause: the
    # reasons of a rule that fired later are added to those of the first, kept per record type)
    current = reissue_ids(current) if reissue else current
    thresholds = HoldThresholds(removal_min_count=1, removal_pct=1, max_guardians=2)
    evaluation = evaluate(previous, current, thresholds, pause={"paused_at": "2026-06-20"})
    reasons = evaluation.reasons_by_change

    # Then it maps each (record_type, clever_id) with a reason, and only those, to its reasons,
    # in the holds' order, each once
    by_key = {
        (change.record_type, change.clever_id): evaluation.reasons_for(change)
        for change in evaluation.change_set
    }
    marked = {key: held_for for key, held_for in by_key.items() if held_for}
    assert dict(reasons.items()) == marked
    assert (len(reasons), set(reasons)) == (len(marked), marked.keys())
    assert all(reasons.get(key, ()) == held_for for key, held_for in by_key.items())
    assert ("student", "no-such-id") not in reasons
    for held_for in marked.values():
        assert held_for == tuple(reason for reason in evaluation.reasons if reason in held_for)


def flagged_students(
    previous: Records, current: Records, thresholds: HoldThresholds
) -> dict[str, dict[str, int]]:
    evaluation = evaluate(previous, current, thresholds)
    holds = [h for h in evaluation.holds if h.reason == HoldReason.TOO_MANY_PARENT_CONNECTIONS]
    return {e["clever_id"]: e for h in holds for e in h.detail["examples"]}


def test_a_higher_max_guardians_can_hold_a_student_the_lower_one_had_accepted() -> None:
    # Given a student with 7 applied guardians who now has 8
    previous = roster(student=students(1), contact=guardians("s0000", 7))
    current = roster(student=students(1), contact=guardians("s0000", 8))

    # Then 6 does not fire (already had 6 or more), 8 does (crossed 8 now): DESIGN §1 as written
    assert not evaluate(previous, current, HoldThresholds(max_guardians=6)).held
    assert evaluate(previous, current, HoldThresholds(max_guardians=8)).reasons == (
        "too_many_parent_connections",
    )
