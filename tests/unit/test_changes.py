"""Change sets: the diff between the applied roster and a new snapshot."""

from __future__ import annotations

import gc

import orjson
import pytest
from hypothesis import given, settings

import sis_sync.changes
from sis_sync.changes import (
    CHANGE_KINDS,
    Change,
    ChangeSet,
    apply_change_set,
    changed_fields,
    collector_paused,
    diff,
    from_document,
    to_document,
)
from sis_sync.snapshot import RECORD_TYPES, Record, Records
from tests.unit.strategies import reissue_ids, rosters

PROPERTY_SETTINGS = settings(max_examples=120, derandomize=True, deadline=None)


def roster(**records: list[Record]) -> Records:
    return {record_type: records.get(record_type, []) for record_type in RECORD_TYPES}


def student(clever_id: str, sis_id: str = "", **fields: str) -> Record:
    record = {
        "id": clever_id, "sis_id": sis_id, "first_name": "Ana", "middle_name": "", "last_name": "Diaz",
        "email": "", "dob": "2010-01-01", "grade": "3", "student_number": "", "state_id": "",
    }  # fmt: skip
    return record | fields


def contact(clever_id: str, *kids: str, sis_id: str = "", **fields: object) -> Record:
    record = {
        "id": clever_id, "sis_id": sis_id, "name": "Maria Diaz", "email": "maria@example.org",
        "phone": "", "phone_type": "",
        "relationships": [{"student": s, "type": "Parent/Guardian", "relationship": "Parent"} for s in kids],
    }  # fmt: skip
    return record | fields


def section(clever_id: str, *students: str) -> Record:
    return {
        "id": clever_id, "sis_id": f"sec-{clever_id}", "name": "Math", "subject": "math", "grade": "3",
        "period": "1", "course": "", "term_id": "", "teacher": "", "teachers": [], "students": list(students),
    }  # fmt: skip


def kinds(change_set: ChangeSet) -> list[tuple[str, str, str]]:
    return [(change.kind, change.record_type, change.clever_id) for change in change_set]


def identifiable(record_type: str, record: Record) -> bool:
    """Whether a record carries something that survives a re-issued Clever id."""
    if record["sis_id"]:
        return True
    if record_type == "contact":
        return bool(record["email"] or record["phone"])
    if record_type == "student":
        return bool((record["first_name"] + record["last_name"]).strip() and record["dob"])
    return False


# --- properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(rosters())
def test_a_roster_diffed_with_itself_has_no_changes(records: Records) -> None:
    # Given a roster / When it is diffed with itself / Then nothing changed
    change_set = diff(records, records)

    assert len(change_set) == 0
    assert change_set.summary()["added"] == 0


@PROPERTY_SETTINGS
@given(rosters(), rosters())
def test_applying_the_diff_gives_the_new_roster(previous: Records, current: Records) -> None:
    # Given two rosters that share ids, sis_ids and names
    # When the diff is applied to the first
    result = apply_change_set(previous, diff(previous, current))

    # Then it is the second
    assert result == current


def test_a_first_sync_lists_its_additions_in_id_order_like_every_other_diff() -> None:
    # Given a first sync whose records arrive out of id order
    current = roster(student=[student("s3"), student("s1"), student("s2")])

    # Then the change set (and so the CSV) lists them by id, as a later diff would
    assert [change.clever_id for change in diff(None, current)] == ["s1", "s2", "s3"]


@PROPERTY_SETTINGS
@given(rosters())
def test_first_sync_adds_everything(current: Records) -> None:
    change_set = diff(None, current)

    assert {change.kind for change in change_set} <= {"added"}
    assert len(change_set) == sum(len(records) for records in current.values())
    assert apply_change_set(None, change_set) == current


@PROPERTY_SETTINGS
@given(rosters())
def test_a_pure_reissue_of_ids_is_never_removed_plus_added(previous: Records) -> None:
    # Given the same roster with every Clever id re-issued (references too)
    current = reissue_ids(previous)

    # When diffed
    change_set = diff(previous, current)

    # Then every record with a sis_id (or a contact/student identity) is one source_id_changed
    for record_type in RECORD_TYPES:
        expected = {"new-" + r["id"] for r in previous[record_type] if identifiable(record_type, r)}
        reissued = {c.clever_id for c in change_set.of_type(record_type) if c.kind == "source_id_changed"}
        assert reissued == expected
        added = {c.clever_id for c in change_set.of_type(record_type) if c.kind == "added"}
        assert not added & expected
        assert not any(c.kind == "updated" for c in change_set.of_type(record_type))
    assert apply_change_set(previous, change_set) == current


@PROPERTY_SETTINGS
@given(rosters(), rosters())
def test_the_stored_form_reloads_to_the_same_change_set(previous: Records, current: Records) -> None:
    change_set = diff(previous, current)

    reloaded = from_document(orjson.loads(orjson.dumps(to_document(change_set))))

    assert list(reloaded) == list(change_set)
    assert reloaded.previous_counts == change_set.previous_counts


@PROPERTY_SETTINGS
@given(rosters(), rosters())
def test_summary_counts_every_change_once(previous: Records, current: Records) -> None:
    change_set = diff(previous, current)
    summary = change_set.summary()

    assert sum(summary[kind] for kind in CHANGE_KINDS) == len(change_set)
    for kind in CHANGE_KINDS:
        assert sum(counts[kind] for counts in summary["by_type"].values()) == summary[kind]


@PROPERTY_SETTINGS
@given(rosters(), rosters())
def test_every_update_and_reissue_lists_the_fields_its_two_versions_differ_in(
    previous: Records, current: Records
) -> None:
    # Given two rosters that share ids and sis_ids / When diffed
    change_set = diff(previous, current)

    # Then each change that pairs two versions names the fields `changed_fields` finds between them
    for change in change_set:
        if change.kind in ("updated", "source_id_changed"):
            assert change.previous is not None
            assert change.record is not None
            assert change.changed_fields == changed_fields(change.previous, change.record)


def test_changed_fields_ignore_the_id_and_see_missing_fields() -> None:
    assert changed_fields({"id": "a", "x": 1, "y": 2}, {"id": "b", "x": 1, "z": 3}) == ("y", "z")


def test_a_field_only_the_previous_record_has_is_changed() -> None:
    assert changed_fields({"id": "a", "x": 1, "y": 2}, {"id": "b", "x": 1}) == ("y",)
    assert changed_fields({"id": "a", "x": 1}, {"id": "b", "x": 1, "y": 2}) == ("y",)


# --- examples --------------------------------------------------------------------------------


def test_an_updated_record_lists_its_changed_fields() -> None:
    # Given a student whose grade and e-mail changed
    previous = roster(student=[student("s1", "100")])
    current = roster(student=[student("s1", "100", grade="4", email="ana@example.org")])

    # When diffed
    [change] = diff(previous, current)

    # Then it is one update naming both fields, carrying both versions
    assert change.kind == "updated"
    assert change.changed_fields == ("email", "grade")
    assert change.previous is previous["student"][0]
    assert change.record is current["student"][0]


def test_a_contact_linked_to_a_new_student_is_an_update_of_its_relationships() -> None:
    previous = roster(student=[student("s1"), student("s2", first_name="Bo")], contact=[contact("c1", "s1")])
    current = roster(
        student=[student("s1"), student("s2", first_name="Bo")], contact=[contact("c1", "s1", "s2")]
    )

    [change] = diff(previous, current)

    assert (change.kind, change.record_type, change.changed_fields) == (
        "updated",
        "contact",
        ("relationships",),
    )


def test_a_student_moved_between_sections_updates_both_sections() -> None:
    previous = roster(student=[student("s1")], section=[section("m1", "s1"), section("m2")])
    current = roster(student=[student("s1")], section=[section("m1"), section("m2", "s1")])

    change_set = diff(previous, current)

    assert kinds(change_set) == [("updated", "section", "m1"), ("updated", "section", "m2")]
    assert all(change.changed_fields == ("students",) for change in change_set)


def test_same_sis_id_under_a_new_clever_id_is_a_source_id_change() -> None:
    previous = roster(student=[student("old", "100")])
    current = roster(student=[student("new", "100", grade="4")])

    [change] = diff(previous, current)

    assert (change.kind, change.clever_id, change.previous_clever_id) == ("source_id_changed", "new", "old")
    assert change.changed_fields == ("grade",)


def test_re_issued_records_of_another_shape_list_the_fields_they_gained_or_lost() -> None:
    # Given re-issued students: one unchanged, one with a new grade, one with an extra field and
    # one whose state_id field was renamed (records of a type need not all have one shape)
    renamed = {name: value for name, value in student("d2", "4").items() if name != "state_id"}
    previous = roster(
        student=[student("a1", "1"), student("b1", "2"), student("c1", "3"), student("d1", "4")]
    )
    for current_students, expected in (
        (
            [student("a2", "1"), student("b2", "2", grade="4"), student("c2", "3") | {"nickname": "Cy"}],
            [(), ("grade",), ("nickname",)],
        ),
        ([renamed | {"alias": ""}, student("a2", "1")], [("alias", "state_id"), ()]),
        ([student("a2", "1"), renamed | {"alias": ""}], [(), ("alias", "state_id")]),
    ):
        # When diffed
        change_set = diff(previous, roster(student=current_students))

        # Then each re-issued record lists what differs from its own applied version
        reissued = [change for change in change_set if change.kind == "source_id_changed"]
        assert [change.clever_id for change in reissued] == sorted(r["id"] for r in current_students)
        by_id = {change.clever_id: change.changed_fields for change in reissued}
        assert [by_id[record["id"]] for record in current_students] == expected


def test_a_phone_written_with_non_ascii_characters_still_identifies_a_contact() -> None:
    # Given a contact without sis_id whose phone came back with a non-breaking space and an en dash
    previous = roster(contact=[contact("c-old", email="", phone="555 010 0100")])
    current = roster(contact=[contact("c-new", email="", phone="555\u00a0010\u20130100")])

    # Then the digits are what match: one re-issued contact
    [change] = diff(previous, current)
    assert (change.kind, change.previous_clever_id) == ("source_id_changed", "c-old")


def test_a_contact_without_sis_id_is_recognised_by_name_and_phone() -> None:
    # Given a contact without sis_id whose e-mail changed, so Clever issued a new id
    previous = roster(contact=[contact("c-old", phone="(555) 010-0100", email="old@example.org")])
    current = roster(
        contact=[contact("c-new", name=" maria  DIAZ", phone="555-010-0100", email="new@example.org")]
    )

    [change] = diff(previous, current)

    assert (change.kind, change.previous_clever_id) == ("source_id_changed", "c-old")
    assert change.changed_fields == ("email", "name", "phone")


def test_contacts_re_issued_with_and_without_sis_id_are_each_paired_and_the_rest_left() -> None:
    # Given new ids for a contact with sis_id, one without (known by name and e-mail) and one whose
    # sis_id changed too
    previous = roster(
        contact=[contact("a1", sis_id="P1"), contact("b1", name="Bo Kim"), contact("c1", sis_id="P3")]
    )
    current = roster(
        contact=[contact("a2", sis_id="P1"), contact("b2", name="Bo Kim"), contact("c2", sis_id="P4")]
    )

    # When diffed
    change_set = diff(previous, current)

    # Then the first two are re-issued ids, by sis_id and by name, and the third is removed + added
    assert kinds(change_set) == [
        ("added", "contact", "c2"),
        ("removed", "contact", "c1"),
        ("source_id_changed", "contact", "a2"),
        ("source_id_changed", "contact", "b2"),
    ]
    assert [change.previous_clever_id for change in change_set][2:] == ["a1", "b1"]


def test_a_student_without_sis_id_is_recognised_by_name_and_dob() -> None:
    previous = roster(student=[student("old", first_name="Zoë")])
    current = roster(student=[student("new", first_name="ZOË")])

    assert kinds(diff(previous, current)) == [("source_id_changed", "student", "new")]


def test_a_student_whose_name_differs_only_in_unicode_composition_is_the_same_student() -> None:
    # Given a student without sis_id whose name the SIS stored decomposed ("e" + combining diaeresis)
    previous = roster(student=[student("old", first_name="Zoe\u0308")])

    # When Clever re-issues the id and the name comes back composed ("\u00eb")
    current = roster(student=[student("new", first_name="Zo\u00eb")])

    # Then it is one source_id_changed, not a removal plus an addition
    assert kinds(diff(previous, current)) == [("source_id_changed", "student", "new")]


def test_two_students_with_different_sis_ids_are_never_paired_by_name_and_dob() -> None:
    # Given a student with sis_id 100 who left
    previous = roster(student=[student("old", "100")])

    # When another student with the same name and birthday but sis_id 200 joins
    current = roster(student=[student("new", "200")])

    # Then they are two people: removed + added, not one student re-issued (the sis_id decides)
    assert kinds(diff(previous, current)) == [("added", "student", "new"), ("removed", "student", "old")]


def test_two_contacts_with_different_sis_ids_are_never_paired_by_name_and_email() -> None:
    previous = roster(contact=[contact("c-old", sis_id="p1", phone="5550100")])
    current = roster(contact=[contact("c-new", sis_id="p2", phone="5550100")])

    assert kinds(diff(previous, current)) == [("added", "contact", "c-new"), ("removed", "contact", "c-old")]


def test_two_students_with_the_same_name_and_no_birthday_are_never_paired() -> None:
    # Given a student without sis_id or dob who left, and another of the same name who joined
    previous = roster(student=[student("old", dob="")])
    current = roster(student=[student("new", dob="")])

    # Then a name alone is not an identity: removed + added
    assert kinds(diff(previous, current)) == [("added", "student", "new"), ("removed", "student", "old")]


def test_a_name_split_differently_into_first_and_last_is_another_student() -> None:
    # Given "Ann Adiaz" left and "Anna Diaz", born the same day, joined (neither has a sis_id)
    previous = roster(student=[student("old", first_name="Ann", last_name="Adiaz")])
    current = roster(student=[student("new", first_name="Anna", last_name="Diaz")])

    # Then they are two people: the words of a name are kept apart when names are compared
    assert kinds(diff(previous, current)) == [("added", "student", "new"), ("removed", "student", "old")]


def test_two_contacts_with_the_same_name_and_no_phone_are_never_paired_by_the_missing_phone() -> None:
    # Given two different "Maria Diaz" without sis_id or phone, one leaving and one joining
    previous = roster(contact=[contact("c-old", email="maria.a@example.org")])
    current = roster(contact=[contact("c-new", email="maria.b@example.org")])

    # Then a missing phone (or e-mail) is no match: removed + added
    assert kinds(diff(previous, current)) == [("added", "contact", "c-new"), ("removed", "contact", "c-old")]


def test_two_contacts_with_the_same_name_and_no_email_are_never_paired_by_the_missing_email() -> None:
    previous = roster(contact=[contact("c-old", email="", phone="5550100")])
    current = roster(contact=[contact("c-new", email="", phone="5550199")])

    assert kinds(diff(previous, current)) == [("added", "contact", "c-new"), ("removed", "contact", "c-old")]


def test_twins_without_sis_id_are_never_taken_for_one_student() -> None:
    # Given a twin who left and the other twin who joined (same last name and birthday) ...
    previous = roster(student=[student("old", first_name="Ana")])
    current = roster(student=[student("new", first_name="Bo")])
    # ... or two children with the same first name and birthday but other families
    other_family = roster(student=[student("new", last_name="Ruiz")])

    # Then each is removed + added: the whole name identifies a student, with the dob
    removed_and_added = [("added", "student", "new"), ("removed", "student", "old")]
    assert kinds(diff(previous, current)) == removed_and_added
    assert kinds(diff(roster(student=[student("old")]), other_family)) == removed_and_added


def test_two_parents_sharing_a_family_email_are_two_contacts() -> None:
    # Given a parent without sis_id who left, and the other parent, with the same e-mail, who joined
    previous = roster(contact=[contact("c-old", name="Maria Diaz", email="family@example.org")])
    current = roster(contact=[contact("c-new", name="Jose Diaz", email="family@example.org")])

    # Then they are not one contact re-issued: the name is part of a contact's identity
    assert kinds(diff(previous, current)) == [("added", "contact", "c-new"), ("removed", "contact", "c-old")]


def test_one_vanished_record_is_paired_with_at_most_one_new_record() -> None:
    # Given one applied student, and two new ids that both carry its sis_id
    previous = roster(student=[student("old", "100")])
    current = roster(student=[student("x", "100"), student("y", "100", first_name="Bo")])

    # Then one of them is the re-issued student and the other is new, never both re-issued
    assert kinds(diff(previous, current)) == [
        ("added", "student", "y"),
        ("source_id_changed", "student", "x"),
    ]


def test_changes_are_listed_by_kind_then_clever_id_whatever_the_snapshot_order() -> None:
    # Given snapshots listed in no particular order (the CSV and the hold examples follow this order)
    previous = roster(student=[student("s9", "9"), student("s5", "5"), student("s2", "2")])
    current = roster(student=[student("s8", "8"), student("s5", "5", grade="4"), student("s1", "1")])

    # Then the change set is in a stable order an admin can scan
    assert kinds(diff(previous, current)) == [
        ("added", "student", "s1"),
        ("added", "student", "s8"),
        ("updated", "student", "s5"),
        ("removed", "student", "s2"),
        ("removed", "student", "s9"),
    ]


def test_a_teacher_who_is_no_longer_a_guardian_is_noted_as_still_a_teacher() -> None:
    # Given a teacher who is also a parent in the school (one Clever user, two roles)
    teacher = student("u1", "t1", first_name="Di", last_name="Ray")
    guardian = contact("u1", "s1", name="Di Ray")
    kid = student("s1", "100")

    # When the contact role is gone and the teacher role stays
    change_set = diff(
        roster(student=[kid], teacher=[teacher], contact=[guardian]), roster(student=[kid], teacher=[teacher])
    )

    # Then the contact's removal says the person is still a teacher (not someone who left)
    assert [(c.kind, c.record_type, c.changed_fields) for c in change_set] == [
        ("removed", "contact", ("roles=teacher",))
    ]


def test_a_student_worker_who_stops_being_a_student_is_noted_as_still_staff() -> None:
    worker = student("u2", "w2")

    change_set = diff(roster(student=[worker], staff=[worker]), roster(staff=[worker]))

    assert [(c.kind, c.record_type, c.changed_fields) for c in change_set] == [
        ("removed", "student", ("roles=staff",))
    ]


def test_the_collector_runs_again_after_a_diff() -> None:
    # Given the cyclic garbage collector on, as in a fresh Lambda container
    assert gc.isenabled()

    # When a diff pauses it
    diff(roster(student=[student("s1")]), roster(student=[student("s2")]))

    # Then it is on again: a warm container must not keep running without it
    assert gc.isenabled()


def test_a_collector_the_caller_paused_stays_paused_after_a_diff() -> None:
    gc.disable()
    try:
        diff(None, roster(student=[student("s1")]))

        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_change_set_stored_in_format_1_still_reloads() -> None:
    # Given a change set as format 1 stored it in S3 (a held school's set may wait there for weeks)
    stored = {
        "format": 1,
        "previous_counts": {"student": 1},
        "changes": [
            {"kind": "updated", "type": "student", "id": "s1", "fields": ["grade"],
             "record": student("s1", "100", grade="4"), "previous_values": {"grade": "3"}},
        ],
    }  # fmt: skip

    # When it is reloaded by this version
    [change] = from_document(stored)

    # Then it is the same change, old values restored
    assert (change.kind, change.clever_id, change.changed_fields) == ("updated", "s1", ("grade",))
    assert change.previous == student("s1", "100")


def test_a_section_change_is_shown_by_the_section_name() -> None:
    [change] = diff(None, roster(section=[section("m1")]))

    assert change.name == "Math"


def test_the_collector_is_off_while_paused() -> None:
    # Pausing it is what keeps a 100k-student diff from rescanning both snapshots on every collection
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_stored_change_set_of_another_format_is_refused() -> None:
    # Given a stored change set written in another layout (or by no known version)
    document = to_document(diff(None, roster(student=[student("s1")])))

    # When it is reloaded / Then it is refused rather than read as the current layout
    for stored_format in (2, None):
        with pytest.raises(ValueError, match="unsupported change set format"):
            from_document(document | {"format": stored_format})


def test_a_student_without_sis_id_and_a_different_dob_is_removed_and_added() -> None:
    previous = roster(student=[student("old")])
    current = roster(student=[student("new", dob="2011-01-01")])

    assert kinds(diff(previous, current)) == [("added", "student", "new"), ("removed", "student", "old")]


def test_a_section_without_sis_id_has_no_identity_to_match() -> None:
    previous = roster(section=[section("m1") | {"sis_id": ""}])
    current = roster(section=[section("m2") | {"sis_id": ""}])

    assert kinds(diff(previous, current)) == [("added", "section", "m2"), ("removed", "section", "m1")]


def test_colliding_sis_ids_pair_each_record_once_with_its_closest_match() -> None:
    # Given two students sharing a sis_id (bad SIS data), both re-issued
    previous = roster(student=[student("a", "100", first_name="Ana"), student("b", "100", first_name="Bo")])
    current = roster(student=[student("x", "100", first_name="Bo"), student("y", "100", first_name="Ana")])

    change_set = diff(previous, current)

    # Then each new id is paired with the same person, none removed or added
    pairs = {(c.previous_clever_id, c.clever_id) for c in change_set}
    assert pairs == {("b", "x"), ("a", "y")}
    assert all(not c.changed_fields for c in change_set)


def test_summary_has_totals_and_per_type_counts() -> None:
    previous = roster(student=[student("s1", "1"), student("s2", "2")], contact=[contact("c1", "s1")])
    current = roster(student=[student("s1", "1", grade="5"), student("s3", "2")], contact=[])

    summary = diff(previous, current).summary()

    assert summary["updated"] == 1
    assert summary["source_id_changed"] == 1
    assert summary["removed"] == 1
    assert summary["added"] == 0
    assert summary["by_type"]["student"] == {"added": 0, "updated": 1, "removed": 0, "source_id_changed": 1}
    assert summary["by_type"]["contact"]["removed"] == 1
    assert orjson.loads(orjson.dumps(summary)) == summary


def test_changes_share_records_with_the_snapshots() -> None:
    # Speed: records are referenced, never copied
    current = roster(student=[student("s1")])

    [change] = diff(None, current)

    assert change.record is current["student"][0]
    assert isinstance(change, Change)


def test_a_re_key_lists_field_by_field_only_the_text_records_that_changed_beyond_their_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Speed: in a re-key nearly every student, teacher and staff record differs in nothing but its
    # id, and those are compared whole; contacts and sections (lists) are compared a pair at a time
    compared: list[str] = []

    def counting_changed_fields(old: Record, new: Record) -> tuple[str, ...]:
        compared.append(new["id"])
        return changed_fields(old, new)

    monkeypatch.setattr(sis_sync.changes, "changed_fields", counting_changed_fields)
    previous = roster(
        student=[student("a1", "1"), student("b1", "2"), student("c1", "3")],
        contact=[contact("k1", sis_id="P1"), contact("m1", sis_id="P2")],
    )
    current = roster(
        student=[student("a2", "1"), student("b2", "2", grade="4"), student("c2", "3")],
        contact=[contact("k2", sis_id="P1"), contact("m2", sis_id="P2")],
    )

    # When diffed
    change_set = diff(previous, current)

    # Then only the student whose grade changed, and every contact, were compared field by field
    assert compared == ["b2", "k2", "m2"]
    assert [change.changed_fields for change in change_set] == [(), ("grade",), (), (), ()]
