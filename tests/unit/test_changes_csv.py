"""The changes CSV: exact header, one row per change, contact types and linked students on contact
rows, injection guard, UTF-8, streamed to S3."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from sis_sync import changes_csv
from sis_sync.changes_csv import (
    CONTENT_TYPE,
    CSV_HEADER,
    changes_csv_bytes,
    csv_line,
    csv_rows,
    iter_changes_csv,
    linked_student_names,
    neutralise_cell,
    upload_changes_csv,
    write_changes_csv,
)
from sis_sync.rules import Evaluation, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Records
from tests.unit.strategies import reissue_ids, rosters
from tests.unit.test_changes import contact, roster, section, student

HEADER_LINE = (
    b"change_type,record_type,clever_id,previous_clever_id,sis_id,name,email,changed_fields,hold_reasons,"
    b"contact_type,students\r\n"
)  # DESIGN §4, exactly
BUCKET = "sis-sync-test-changes"
NO_CONTACTS: dict[str, str] = {}  # the student names of a change set without contact changes


def parse(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def csv_of(previous: Records | None, current: Records, thresholds: HoldThresholds | None = None) -> bytes:
    """Evaluate and write the CSV as evaluation does: students named from the new, then applied roster."""
    evaluation = evaluate(previous, current, thresholds or HoldThresholds())
    rosters = (current,) if previous is None else (current, previous)
    return changes_csv_bytes(evaluation, linked_student_names(evaluation.change_set, *rosters))


def mixed_evaluation() -> Evaluation:
    """One school where a new emergency contact fires a hold next to harmless changes."""
    previous = roster(
        student=[student("s1", "100"), student("s2", "200", first_name="Bo")],
        contact=[contact("c-old", "s1", phone="5550100")],
    )
    current = roster(
        student=[student("s1", "100", grade="4"), student("s3", "300", first_name="Zoë", last_name="Ñúñez")],
        contact=[
            contact("c-new", "s1", phone="5550100"),
            contact("c2", name="Pat", email="pat@example.org", relationships=[
                {"student": "s1", "type": "Emergency", "relationship": "Other"},
            ]),
        ],
    )  # fmt: skip
    return evaluate(previous, current, HoldThresholds())


MIXED_NAMES = {"s1": "Ana Diaz"}  # the students mixed_evaluation's contacts link


def test_the_header_is_exactly_the_documented_one() -> None:
    body = changes_csv_bytes(evaluate(None, roster(), HoldThresholds()), NO_CONTACTS)

    assert body == HEADER_LINE
    assert ",".join(CSV_HEADER).encode() + b"\r\n" == HEADER_LINE


def test_one_row_per_change_with_reasons_only_where_a_rule_fired() -> None:
    # Given a change set where only the new emergency contact makes a rule fire
    evaluation = mixed_evaluation()

    # When written as CSV
    rows = parse(changes_csv_bytes(evaluation, MIXED_NAMES))

    # Then every change has its row and only the firing row names the reason
    assert len(rows) == len(evaluation.change_set)
    by_id = {row["clever_id"]: row for row in rows}
    assert by_id["c2"]["hold_reasons"] == "emergency_contacts"
    assert [row["clever_id"] for row in rows if row["hold_reasons"]] == ["c2"]
    assert by_id["s1"] == {
        "change_type": "updated", "record_type": "student", "clever_id": "s1", "previous_clever_id": "",
        "sis_id": "100", "name": "Ana Diaz", "email": "", "changed_fields": "grade", "hold_reasons": "",
        "contact_type": "", "students": "",
    }  # fmt: skip
    assert by_id["s2"]["change_type"] == "removed"
    assert by_id["s2"]["name"] == "Bo Diaz"  # a removed row shows the applied record
    assert (by_id["c-new"]["change_type"], by_id["c-new"]["previous_clever_id"]) == (
        "source_id_changed",
        "c-old",
    )
    assert by_id["c2"]["name"] == "Pat"
    assert by_id["c2"]["email"] == "pat@example.org"


def test_a_section_row_has_an_empty_email_cell() -> None:
    # Given a new class (sections have a SIS id but no e-mail field)
    rows = parse(
        csv_of(
            roster(student=[student("s1", "100")]),
            roster(student=[student("s1", "100")], section=[section("x1", "s1")]),
        )
    )

    # Then its row leaves the e-mail empty, not some filler an admin would read as an address
    assert [(row["record_type"], row["email"]) for row in rows] == [("section", "")]


def test_several_changed_fields_and_hold_reasons_are_separated_by_semicolons() -> None:
    # Given a student with five guardians, one of whom gets a new e-mail and phone, and a sixth
    # contact who is an emergency contact (two rules fire on that one change)
    kid = student("s1", "100")
    guardians = [contact(f"g{n}", "s1", sis_id=f"p{n}", name=f"G{n}") for n in range(5)]
    previous = roster(student=[kid], contact=guardians)
    sixth = contact("g5", sis_id="p5", name="G5", relationships=[
        {"student": "s1", "type": "Emergency", "relationship": "Other"},
    ])  # fmt: skip
    moved = guardians[0] | {"email": "new@example.org", "phone": "5550100"}
    current = roster(student=[kid], contact=[moved, *guardians[1:], sixth])

    # When written as CSV
    rows = {row["clever_id"]: row for row in parse(csv_of(previous, current))}

    # Then each cell lists every item, one separator apart
    assert rows["g0"]["changed_fields"] == "email;phone"
    assert rows["g5"]["hold_reasons"] == "too_many_parent_connections;emergency_contacts"


def test_non_ascii_names_round_trip_in_utf8() -> None:
    rows = parse(changes_csv_bytes(mixed_evaluation(), MIXED_NAMES))

    assert {row["name"] for row in rows if row["clever_id"] == "s3"} == {"Zoë Ñúñez"}


def rel(student_id: str, kind: str = "Parent/Guardian") -> dict[str, str]:
    return {"student": student_id, "type": kind, "relationship": "Parent"}


def test_a_contact_row_names_its_relationship_types_and_its_students() -> None:
    # Given a new contact who is the parent of one student and the emergency contact of two,
    # next to a student whose grade changed
    kids = [student("s1", "100"), student("s2", "200", first_name="Bo")]
    relationships = [rel("s1"), rel("s2", "Emergency"), rel("s1", "Emergency")]
    current = roster(
        student=[kids[0] | {"grade": "4"}, kids[1]],
        contact=[contact("c1", name="Pat", relationships=relationships)],
    )

    # When written as CSV
    rows = {row["clever_id"]: row for row in parse(csv_of(roster(student=kids), current))}

    # Then the contact row lists each type and each student once, in Clever's order, students as
    # "Name (clever_id)"; people of other types leave both cells empty
    assert (rows["c1"]["contact_type"], rows["c1"]["students"]) == (
        "Parent/Guardian;Emergency",
        "Ana Diaz (s1);Bo Diaz (s2)",
    )
    assert (rows["s1"]["contact_type"], rows["s1"]["students"]) == ("", "")


@pytest.mark.parametrize(
    ("relationships", "cells"),
    [
        ([], ("", "")),
        ([rel("s1", "Emergency")], ("Emergency", "Ana Diaz (s1)")),
        ([rel("s9")], ("Parent/Guardian", "s9")),  # a student in neither roster: the id alone
    ],
    ids=["none", "one", "one-unnamed"],
)
def test_a_contact_with_no_or_one_relationship_has_its_cells_too(
    relationships: list[dict[str, str]], cells: tuple[str, str]
) -> None:
    # Given a new contact with no relationship, or just one
    current = roster(student=[student("s1", "100")], contact=[contact("c1", relationships=relationships)])

    # When written as CSV
    rows = {row["clever_id"]: row for row in parse(csv_of(roster(student=[student("s1", "100")]), current))}

    # Then its type and students cells say so
    assert (rows["c1"]["contact_type"], rows["c1"]["students"]) == cells


def test_a_contact_row_names_students_from_the_new_roster_then_the_applied_one() -> None:
    # Given a removed contact whose student left too, a contact of a student renamed in Clever, and
    # a contact linking a student in neither roster
    previous = roster(
        student=[student("s1", "100"), student("s9", "900", first_name="Gone")],
        contact=[contact("c9", "s9", name="Old"), contact("c1", "s1", name="Pat")],
    )
    current = roster(
        student=[student("s1", "100", first_name="Anna")],
        contact=[contact("c1", "s1", "s404", name="Pat")],
    )

    # When written as CSV
    rows = {row["clever_id"]: row for row in parse(csv_of(previous, current))}

    # Then the gone student is named as the applied roster knew them, the renamed one by the new
    # name, and an unknown student by id alone
    assert rows["c9"]["change_type"] == "removed"
    assert rows["c9"]["students"] == "Gone Diaz (s9)"
    assert rows["c1"]["students"] == "Anna Diaz (s1);s404"


def test_only_the_students_the_changed_contacts_link_are_looked_up() -> None:
    # Given a large roster where one new contact links one student
    kids = [student(f"s{n:04d}", f"{n}", first_name=f"Kid{n}") for n in range(500)]
    previous = roster(student=kids, contact=[contact("c0", "s0000", name="Kept")])
    current = roster(student=kids, contact=[contact("c0", "s0000", name="Kept"), contact("c1", "s0042")])
    evaluation = evaluate(previous, current, HoldThresholds())

    # When the names for its CSV are gathered
    names = linked_student_names(evaluation.change_set, current, previous)

    # Then just that student is named: the lookup stays small whatever the school's size
    assert names == {"s0042": "Kid42 Diaz"}


def test_contact_type_and_students_cells_are_neutralised() -> None:
    # Given a contact whose Clever type and linked student's name start with formula characters
    current = roster(
        student=[student("s1", "100", first_name="+evil"), student("s2", "200", first_name="=x")],
        contact=[contact("c1", name="Pat", relationships=[rel("s1", "=cmd()"), rel("s2")])],
    )

    [row] = [row for row in parse(csv_of(None, current)) if row["record_type"] == "contact"]

    # Then each cell starts with a quote (only a cell's first character makes it a formula)
    assert row["contact_type"] == "'=cmd();Parent/Guardian"
    assert row["students"] == "'+evil Diaz (s1);=x Diaz (s2)"


def test_a_guardians_hold_row_names_the_student_the_contact_links() -> None:
    # Given a student with five guardians who gets a sixth
    kid = student("s1", "100", first_name="Sam")
    guardians = [contact(f"g{n}", "s1", sis_id=f"p{n}", name=f"G{n}") for n in range(6)]
    previous = roster(student=[kid], contact=guardians[:5])

    # When written as CSV
    [row] = parse(csv_of(previous, roster(student=[kid], contact=guardians)))

    # Then the held row is the new guardian, and it names the student to fix in the SIS
    assert (row["clever_id"], row["name"], row["hold_reasons"]) == ("g5", "G5", "too_many_parent_connections")
    assert (row["contact_type"], row["students"]) == ("Parent/Guardian", "Sam Diaz (s1)")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("Ana", "Ana"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_formula_cells_are_neutralised(cell: str, expected: str) -> None:
    assert neutralise_cell(cell) == expected


def test_names_that_look_like_formulas_are_neutralised_in_the_file() -> None:
    # Given people whose Clever fields start with formula characters
    current = roster(
        student=[
            student("s1", '=HYPERLINK("http://evil.example","x")'),
            student("s2", "+1", first_name="-2"),
            student("s3", "@x", email="\tcmd@example.org"),
        ]
    )

    rows = parse(csv_of(None, current))

    # Then every such cell starts with a quote
    assert rows[0]["sis_id"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (rows[1]["sis_id"], rows[1]["name"]) == ("'+1", "'-2 Diaz")
    assert (rows[2]["sis_id"], rows[2]["email"]) == ("'@x", "'\tcmd@example.org")


def written_in_one_piece(evaluation: Evaluation) -> bytes:
    """The expected file, written by the csv module in one go: independent of the chunking."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(csv_rows(evaluation, NO_CONTACTS))
    return text.getvalue().encode("utf-8")


def written_by_csv_module(row: list[str]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow(row)
    return text.getvalue()


@pytest.mark.parametrize(
    "row",
    [
        ["plain", "cells", ""],
        ["a,b", "c"],
        ['say "hi"', "x"],
        ["two\nlines", "x"],
        ["carriage\rreturn", "x"],
        [""],
        ["", ""],
        [],
        ["'=1+1", "Zoë ; Ana (id1)"],
    ],
)
def test_a_row_is_written_exactly_as_the_csv_module_writes_it(row: list[str]) -> None:
    assert csv_line(row) == written_by_csv_module(row)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab ,;\"\r\n'=Zë")), max_size=6), max_size=12))
def test_any_row_is_written_exactly_as_the_csv_module_writes_it(row: list[str]) -> None:
    assert csv_line(row) == written_by_csv_module(row)


def test_the_batch_check_finds_every_formula_start_after_a_comma_but_line_breaks() -> None:
    # (line breaks in cells are found by counting lines; this keeps the pattern and the guard in step)
    found = {
        start for start in map(chr, range(128)) if changes_csv._FORMULA_AFTER_COMMA.search(f"a,{start}b")
    }

    assert found == set(changes_csv._FORMULA_STARTS) - {"\r", "\n"}


CLEVER_TEXT = st.text(alphabet=st.sampled_from(list("ab ,;\"\r\n'=+-@\tZë")), max_size=4)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.tuples(CLEVER_TEXT, CLEVER_TEXT, CLEVER_TEXT, CLEVER_TEXT), min_size=1, max_size=10))
def test_rows_checked_a_batch_at_a_time_are_written_as_the_csv_module_writes_the_guarded_rows(
    people: list[tuple[str, str, str, str]],
) -> None:
    # Given re-keyed students and their new contacts whose Clever fields (ids, sis ids, names,
    # e-mails, relationship types) may start like formulas or hold commas, quotes and line breaks
    previous = roster(student=[student(f"old{n}", f"{sis}#{n}") for n, (_, sis, _, _) in enumerate(people)])
    current = roster(
        student=[
            student(f"{text}~{n}", f"{sis}#{n}", first_name=text, email=text)
            for n, (text, sis, _, _) in enumerate(people)
        ],
        contact=[
            contact(f"{text}c{n}", f"{text}~{n}", name=name, email=text, relationships=[
                {"student": f"{text}~{n}", "type": kind, "relationship": "Parent"},
            ])
            for n, (text, _, name, kind) in enumerate(people)
        ],
    )  # fmt: skip
    evaluation = evaluate(previous, current, HoldThresholds(removal_min_count=1, removal_pct=1))
    students = linked_student_names(evaluation.change_set, current, previous)

    # When the file is written with batches of a few rows, plain and not plain ones mixed
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes_csv, "ROWS_CHECKED_AT_ONCE", 3)
        body = changes_csv_bytes(evaluation, students)

    # Then it is what csv.writer writes of the rows, every Clever cell guarded
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(csv_rows(evaluation, students))
    assert body == text.getvalue().encode("utf-8")


OPTIONAL_FIELDS = ("sis_id", "email", "name", "first_name", "last_name", "relationships")


@settings(max_examples=100, derandomize=True, deadline=None)
@given(rosters(), rosters(), st.booleans(), st.sets(st.sampled_from(OPTIONAL_FIELDS)))
def test_any_change_set_is_written_a_batch_at_a_time_as_the_csv_module_writes_its_rows(
    previous: Records, current: Records, reissue: bool, dropped: set[str]
) -> None:
    # Given any applied and new rosters of every record type: contacts with several relationships,
    # some to one student, some to a student in neither roster; removals, shown by their applied
    # version; ids possibly all re-issued; and new records lacking some of the cells' fields
    current = reissue_ids(current) if reissue else current
    thresholds = HoldThresholds(removal_min_count=1, removal_pct=1, max_guardians=2)
    evaluation = evaluate(previous, current, thresholds)
    students = linked_student_names(evaluation.change_set, current, previous)
    for record in (record for records in current.values() for record in records):
        for field in dropped:
            record.pop(field, None)  # (after the rules, which read some of them)

    # When the file is written a few rows at a time (the lines built a batch at a time, per type)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes_csv, "ROWS_CHECKED_AT_ONCE", 3)
        body = changes_csv_bytes(evaluation, students)

    # Then it is what csv.writer writes of the rows made one by one (names by display_name)
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(csv_rows(evaluation, students))
    assert body == text.getvalue().encode("utf-8")


@pytest.mark.parametrize("chunk_chars", [1, 40, 300, 64 * 1024])
def test_a_csv_longer_than_one_chunk_is_the_same_file_as_one_written_in_one_piece(chunk_chars: int) -> None:
    # Given a change set whose CSV spans several chunks of the given size
    evaluation = large_evaluation(40)

    # When it is streamed chunk by chunk
    streamed = b"".join(iter_changes_csv(evaluation, NO_CONTACTS, chunk_chars=chunk_chars))

    # Then no chunk repeats or loses bytes of the one before
    assert streamed == written_in_one_piece(evaluation)


@pytest.mark.parametrize("size", [len(HEADER_LINE), 1000], ids=["a-line-each", "several-lines-each"])
def test_a_chunk_is_sent_as_soon_as_it_holds_chunk_chars_characters(size: int) -> None:
    # Given chunks of the header's length (or of several rows), and a change set of many rows
    evaluation = large_evaluation(40)

    # When streamed, rows checked a few at a time (batches that fit in a chunk, and ones that do not)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes_csv, "ROWS_CHECKED_AT_ONCE", 3)
        chunks = [
            chunk.decode("utf-8") for chunk in iter_changes_csv(evaluation, NO_CONTACTS, chunk_chars=size)
        ]

    # Then every chunk but the last reaches the size and would not without its last row (the header
    # goes alone in chunks of its length): rows leave as they are written, the file never sits in memory
    assert chunks[0].encode() == HEADER_LINE or size != len(HEADER_LINE)
    for chunk in chunks[:-1]:
        rows = chunk.split("\r\n")[:-1]
        assert len(chunk) >= size > len(chunk) - len(rows[-1]) - 2
    assert len(chunks) > 2
    assert chunks[-1]


def test_writes_into_any_binary_stream_such_as_gzip() -> None:
    evaluation = mixed_evaluation()
    compressed = io.BytesIO()

    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as stream:
        write_changes_csv(evaluation, MIXED_NAMES, stream)

    assert gzip.decompress(compressed.getvalue()) == changes_csv_bytes(evaluation, MIXED_NAMES)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def large_evaluation(students: int) -> Evaluation:
    """A first sync big enough that the CSV exceeds one 8 MiB multipart part."""
    names = "Ñúñez-" * 8
    current = roster(
        student=[student(f"s{n:06d}", f"{n}", first_name=f"Zoë{n}", last_name=names) for n in range(students)]
    )
    return evaluate(None, current, HoldThresholds())


@pytest.mark.parametrize("students", [3, 90_000], ids=["single-put", "multipart"])
def test_the_s3_upload_streams_the_same_bytes_as_the_in_memory_writer(s3: object, students: int) -> None:
    # Given an evaluation, small or over one multipart part
    evaluation = large_evaluation(students)
    expected = written_in_one_piece(evaluation)
    assert changes_csv_bytes(evaluation, NO_CONTACTS) == expected

    # When it is streamed to S3
    upload_changes_csv(s3, BUCKET, "d1/school-1/sync-1/changes.csv", evaluation, NO_CONTACTS)  # type: ignore[arg-type]

    # Then the object holds exactly those bytes, as UTF-8 CSV
    stored = s3.get_object(Bucket=BUCKET, Key="d1/school-1/sync-1/changes.csv")  # type: ignore[attr-defined]
    assert stored["Body"].read() == expected
    assert stored["ContentType"] == CONTENT_TYPE
    multipart = students > 3
    assert (len(expected) > 8 * 1024 * 1024) == multipart
    assert ("-" in stored["ETag"]) == multipart  # a multipart ETag ends in -<parts>
