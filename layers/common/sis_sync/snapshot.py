"""Per-school canonical snapshots: Clever's district-wide lists partitioned by school.

A snapshot is what one school's roster looked like in Clever at one poll, reduced to the fields
sis-sync acts on, sorted, and serialised canonically so that an unchanged school hashes the same
and costs nothing downstream. Records are plain dicts (they are diffed by the hundred thousand);
their shapes are the TypedDicts below.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import shutil
import sqlite3
import tempfile
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypedDict, cast

import orjson
from isal import igzip

from sis_sync.clever.models import Section, User
from sis_sync.collector import collector_paused

RecordType = Literal["student", "teacher", "staff", "contact", "section"]
RECORD_TYPES: Final[tuple[RecordType, ...]] = ("student", "teacher", "staff", "contact", "section")
FORMAT_VERSION: Final = 1


class PersonFields(TypedDict):
    """What every student, teacher and staff record has."""

    id: str
    sis_id: str
    first_name: str
    middle_name: str
    last_name: str
    email: str


class StudentRecord(PersonFields):
    dob: str
    grade: str
    student_number: str
    state_id: str


class TeacherRecord(PersonFields):
    title: str
    teacher_number: str
    state_id: str


class StaffRecord(PersonFields):
    title: str
    department: str


class Relationship(TypedDict):
    student: str
    type: str
    relationship: str


class ContactRecord(TypedDict):
    id: str
    sis_id: str
    name: str
    email: str
    phone: str
    phone_type: str
    relationships: list[Relationship]


class SectionRecord(TypedDict):
    id: str
    sis_id: str
    name: str
    subject: str
    grade: str
    period: str
    course: str
    term_id: str
    teacher: str
    teachers: list[str]
    students: list[str]


Record = dict[str, Any]
Records = dict[RecordType, list[Record]]


@dataclass(frozen=True)
class Snapshot:
    """One school's canonical roster at one poll."""

    district_id: str
    school_id: str
    clever_school_id: str
    records: Records

    def to_document(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "district_id": self.district_id,
            "school_id": self.school_id,
            "clever_school_id": self.clever_school_id,
            "records": self.records,
        }

    def counts(self) -> dict[RecordType, int]:
        return {kind: len(self.records.get(kind, [])) for kind in RECORD_TYPES}


@dataclass(frozen=True)
class EncodedSnapshot:
    body: bytes  # gzip of the canonical JSON
    sha256: str  # of the canonical JSON, so gzip settings never change identity


def encode(snapshot: Snapshot) -> EncodedSnapshot:
    canonical = orjson.dumps(snapshot.to_document(), option=orjson.OPT_SORT_KEYS)
    return EncodedSnapshot(
        body=gzip.compress(canonical, compresslevel=6, mtime=0), sha256=hashlib.sha256(canonical).hexdigest()
    )


def decode(body: bytes) -> Snapshot:
    # ISA-L's inflate reads the same gzip ~2.5x faster than zlib's: a third of a 100k roster's
    # decode was its gunzip, paid for both snapshots of every school evaluated
    raw = igzip.decompress(body)
    with collector_paused():  # an acyclic document: collections during the parse only rescan it
        document = orjson.loads(raw)
    if document.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported snapshot format {document.get('format')!r}")
    records: Records = {kind: document["records"].get(kind, []) for kind in RECORD_TYPES}
    return Snapshot(
        district_id=document["district_id"],
        school_id=document["school_id"],
        clever_school_id=document["clever_school_id"],
        records=records,
    )


QuarantineReason = Literal["duplicate_ids", "dangling_references", "without_school", "no_role"]
QUARANTINE_REASONS: Final[tuple[QuarantineReason, ...]] = (
    "duplicate_ids",
    "dangling_references",
    "without_school",
    "no_role",
)
PERSON_ROLES: Final = ("student", "teacher", "staff", "contact")
EXAMPLES_PER_REASON: Final = 20


class QuarantinedRecord(TypedDict):
    """One record or reference set aside, as the admin is shown it (the sync run keeps a few)."""

    reason: QuarantineReason
    record_type: RecordType
    clever_id: str
    name: str
    detail: str  # what could not be placed: "student:ghost", "school:", "term:t9", a role
    clever_school_ids: list[str]  # where it was to be placed, when known; [] = no school


@dataclass
class Quarantine:
    """Records and references set aside instead of crashing the run or silently dropping them.

    Each reason keeps every entry as "type:id" (or "type:id->type:ref" for a reference), plus the
    first few as `QuarantinedRecord`s with a name and a school, for the report and the sync status.
    """

    duplicate_ids: list[str] = field(default_factory=list)
    dangling_references: list[str] = field(default_factory=list)
    without_school: list[str] = field(default_factory=list)
    no_role: list[str] = field(default_factory=list)  # in a role's listing without that role
    examples: list[QuarantinedRecord] = field(default_factory=list)

    def add(
        self,
        reason: QuarantineReason,
        record_type: RecordType,
        clever_id: str,
        *,
        name: str = "",
        detail: str = "",
        schools: Iterable[str] = (),
    ) -> None:
        entries: list[str] = getattr(self, reason)
        entries.append(f"{record_type}:{clever_id}" + (f"->{detail}" if detail else ""))
        if len(entries) <= EXAMPLES_PER_REASON:
            self.examples.append(
                QuarantinedRecord(
                    reason=reason,
                    record_type=record_type,
                    clever_id=clever_id,
                    name=name,
                    detail=detail,
                    clever_school_ids=sorted(schools),
                )
            )

    def summary(self) -> dict[str, int]:
        return {reason: len(getattr(self, reason)) for reason in QUARANTINE_REASONS}


def _person(user: User, sis_id: str) -> PersonFields:
    """The fields every student, teacher and staff record shares."""
    name = user.name
    return PersonFields(
        id=user.id,
        sis_id=sis_id,
        first_name=name.first,
        middle_name=name.middle,
        last_name=name.last,
        email=user.email,
    )


def student_record(user: User) -> StudentRecord:
    role = user.roles.student
    assert role is not None
    return StudentRecord(
        **_person(user, role.sis_id),
        dob=role.dob,
        grade=role.grade,
        student_number=role.student_number,
        state_id=role.state_id,
    )


def teacher_record(user: User) -> TeacherRecord:
    role = user.roles.teacher
    assert role is not None
    return TeacherRecord(
        **_person(user, role.sis_id),
        title=role.title,
        teacher_number=role.teacher_number,
        state_id=role.state_id,
    )


def staff_record(user: User) -> StaffRecord:
    role = user.roles.staff
    assert role is not None
    return StaffRecord(**_person(user, role.staff_id), title=role.title, department=role.department)


def contact_record(user: User) -> ContactRecord:
    """A contact with every relationship Clever sent; `for_school` narrows it to one school."""
    role = user.roles.contact
    assert role is not None
    relationships = sorted(
        (
            Relationship(student=rel.student, type=rel.type, relationship=rel.relationship)
            for rel in role.student_relationships
        ),
        key=lambda rel: (rel["student"], rel["type"], rel["relationship"]),
    )
    # Clever keeps a contact's whole name in name.last; join whatever parts were sent.
    name = " ".join(part for part in (user.name.first, user.name.middle, user.name.last) if part)
    return ContactRecord(
        id=user.id,
        sis_id=role.sis_id,
        name=name,
        email=user.email,
        phone=role.phone,
        phone_type=role.phone_type,
        relationships=relationships,
    )


def for_school(contact: ContactRecord, students: set[str]) -> ContactRecord:
    """The contact as one school sees it: only its relationships to that school's students."""
    kept = [rel for rel in contact["relationships"] if rel["student"] in students]
    if len(kept) == len(contact["relationships"]):
        return contact  # the common case: every student of the contact is in this school
    return contact | {"relationships": kept}


def section_record(section: Section, students: list[str]) -> SectionRecord:
    return SectionRecord(
        id=section.id,
        sis_id=section.sis_id,
        name=section.name,
        subject=section.subject,
        grade=section.grade,
        period=section.period,
        course=section.course or "",
        term_id=section.term_id or "",
        teacher=section.teacher or "",
        teachers=sorted(set(section.teachers)),
        students=sorted(set(students)),
    )


def _schools_of(school: str | None, schools: list[str]) -> list[str]:
    return sorted(set(schools) | ({school} if school else set()))


def _roles_of(user: User) -> tuple[str, ...]:
    return tuple(role for role in PERSON_ROLES if getattr(user.roles, role) is not None)


class PlacedRole(TypedDict):
    record: Record
    schools: list[str]  # where Clever says the role is held ([] for a contact: through its students)


class Person(TypedDict):
    """A user as the partitioner reads it: plain JSON, so a page can be converted once, when it is
    stored, and partitioned in a later invocation without validating it again."""

    id: str
    name: str  # for the quarantine report
    held: list[str]  # every role the user has
    roles: dict[str, PlacedRole]  # the roles read from this listing, with their records


class PendingSection(TypedDict):
    """A section before its students are known: placed once every student is."""

    record: SectionRecord
    school: str
    term_id: str
    students: list[str]


def person_of(user: User, listed_as: str | None = None) -> Person:
    """`user` as `Partitioner.add_person` reads it: only the role of its listing (`listed_as`),
    or every role it holds."""
    held = _roles_of(user)
    wanted = held if listed_as is None else tuple(role for role in held if role == listed_as)
    roles = user.roles
    placed: dict[str, PlacedRole] = {}
    for role in wanted:
        if role == "student" and roles.student:
            record = cast(Record, student_record(user))
            placed[role] = PlacedRole(
                record=record, schools=_schools_of(roles.student.school, roles.student.schools)
            )
        elif role == "teacher" and roles.teacher:
            record = cast(Record, teacher_record(user))
            placed[role] = PlacedRole(
                record=record, schools=_schools_of(roles.teacher.school, roles.teacher.schools)
            )
        elif role == "staff" and roles.staff:
            placed[role] = PlacedRole(
                record=cast(Record, staff_record(user)), schools=sorted(set(roles.staff.schools))
            )
        elif role == "contact":
            placed[role] = PlacedRole(record=cast(Record, contact_record(user)), schools=[])
    return Person(
        id=user.id,
        name=" ".join(part for part in (user.name.first, user.name.last) if part),
        held=list(held),
        roles=placed,
    )


def pending_section(section: Section) -> PendingSection:
    return PendingSection(
        record=section_record(section, []),
        school=section.school or "",
        term_id=section.term_id or "",
        students=section.students,
    )


class Partitioner:
    """Builds per-Clever-school record lists from a district's lists, one record at a time.

    Feed it users (any role, any order) and sections, then `finish()` (or `schools()` /
    `records_of()`, one school at a time). Contacts are placed last, in the schools of their
    students, because a contact only has a school through its students. A record that cannot be
    placed (no school, a school Clever did not list, a user in a role's listing without that role)
    is quarantined with its reason; the rest of the district goes on.

    Everything that grows with the district (the placed records, the student -> schools index, the
    ids seen) lives in an SQLite file in a temporary folder (Lambda's /tmp), with a bounded page
    cache: memory stays flat from a 300-student district to a 1,000,000-student one.
    """

    def __init__(self, folder: str | None = None) -> None:
        self._folder = tempfile.mkdtemp(prefix="partition-", dir=folder)
        self._db = sqlite3.connect(
            Path(self._folder) / "partition.db", isolation_level=None, check_same_thread=False
        )
        self._cleanup = weakref.finalize(self, _remove, self._db, self._folder)
        for pragma in _PRAGMAS:
            self._db.execute(pragma)
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._term_ids: set[str] | None = None
        self._school_ids: set[str] | None = None
        self._closed = False
        self.quarantine = Quarantine()

    def close(self) -> None:
        """Delete the spill file (also done when the partitioner is garbage collected)."""
        self._cleanup()

    def __enter__(self) -> Partitioner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def multi_role(self) -> int:
        """People with more than one role (a teacher who is also staff): one person, not duplicates."""
        return int(self._db.execute("SELECT count(*) FROM multi_role").fetchone()[0])

    def _first_time(self, kind: RecordType, record_id: str, name: str = "") -> bool:
        if not self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (kind, record_id)).rowcount:
            self.quarantine.add("duplicate_ids", kind, record_id, name=name)
            return False
        return True

    def _placeable(self, kind: RecordType, record_id: str, name: str, schools: set[str]) -> set[str]:
        """The schools of `schools` that Clever listed; each other one is a dangling reference."""
        if self._school_ids is None:
            return schools
        for school in sorted(schools - self._school_ids):
            self.quarantine.add(
                "dangling_references", kind, record_id, name=name, detail=f"school:{school}", schools=[school]
            )
        return schools & self._school_ids

    def _place(self, kind: RecordType, record: Record, schools: set[str], name: str) -> set[str]:
        """Put the record in each of its schools Clever listed; the schools it went to."""
        placeable = self._placeable(kind, record["id"], name, schools)
        if not placeable:
            self.quarantine.add("without_school", kind, record["id"], name=name)
        body = orjson.dumps(record)
        self._db.executemany(
            "INSERT INTO placed VALUES (?, ?, ?, ?)",
            ((school, kind, record["id"], body) for school in placeable),
        )
        return placeable

    def add_schools(self, school_ids: Iterable[str]) -> None:
        """The schools Clever listed: a record placed only in others is quarantined, not lost."""
        self._school_ids = set(school_ids)

    def add_user(self, user: User, listed_as: str | None = None) -> None:
        """One user of a listing. `listed_as` is the role of the listing (`/users?role=teacher`):
        only that role is read from it, so a teacher who is also staff, listed once under each
        role, is one person with two roles; without it every role of the user is read."""
        self.add_person(person_of(user, listed_as), listed_as)

    def add_person(self, person: Person, listed_as: str | None = None) -> None:
        """`add_user` of a user already converted by `person_of(user, listed_as)`."""
        user_id, name = person["id"], person["name"]
        if len(person["held"]) > 1:
            self._db.execute("INSERT OR IGNORE INTO multi_role VALUES (?)", (user_id,))
        if listed_as is not None and listed_as not in person["held"]:
            self.quarantine.add("no_role", _record_type(listed_as), user_id, name=name, detail=listed_as)
            return
        for role, placed in person["roles"].items():
            kind = _record_type(role)
            if not self._first_time(kind, user_id, name):
                continue
            if kind == "contact":
                self._db.execute("INSERT INTO contact (body) VALUES (?)", (orjson.dumps(placed["record"]),))
                continue
            schools = self._place(kind, placed["record"], set(placed["schools"]), name)
            if kind == "student":
                # a student placed nowhere is still known (NULL): its contacts are not dangling
                self._db.executemany(
                    "INSERT INTO student_school VALUES (?, ?)",
                    ((user_id, school) for school in schools or [None]),
                )

    def add_terms(self, term_ids: Iterable[str]) -> None:
        """The district's terms: a section naming another term is kept, its reference quarantined."""
        self._term_ids = set(term_ids)

    def add_section(self, section: Section) -> None:
        self.add_pending_section(pending_section(section))

    def add_pending_section(self, pending: PendingSection) -> None:
        """`add_section` of a section already converted by `pending_section`."""
        record = pending["record"]
        if self._first_time("section", record["id"], record["name"]):
            self._db.execute("INSERT INTO section (body) VALUES (?)", (orjson.dumps(pending),))

    def _dangling(
        self, kind: RecordType, record: Record, name: str, reference: str, school: str = ""
    ) -> None:
        """A reference of `record` to something Clever did not list (a term, a student)."""
        self.quarantine.add(
            "dangling_references",
            kind,
            record["id"],
            name=name,
            detail=reference,
            schools=[school] if school else [],
        )

    def _schools_of_students(self, students: list[str]) -> dict[str, list[str | None]]:
        """Each of `students` Clever listed, with its schools (None: placed in none); one query
        per chunk, not one per student (a NYC pull has ~5 M section and contact memberships)."""
        found: defaultdict[str, list[str | None]] = defaultdict(list)
        unique = list(dict.fromkeys(students))
        for start in range(0, len(unique), _QUERY_CHUNK):
            chunk = unique[start : start + _QUERY_CHUNK]
            rows = self._db.execute(
                f"SELECT id, school FROM student_school WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608 (placeholders only)
                chunk,
            )
            for student, school in rows:
                found[student].append(school)
        return found

    def _place_sections(self) -> None:
        for (body,) in self._db.execute("SELECT body FROM section ORDER BY seq"):
            pending = orjson.loads(body)
            record, school = pending["record"], pending["school"]
            if self._term_ids is not None and pending["term_id"] and pending["term_id"] not in self._term_ids:
                self._dangling("section", record, record["name"], f"term:{pending['term_id']}", school)
            students = []
            schools_of = self._schools_of_students(pending["students"]) if school else {}
            for student in pending["students"]:
                if school in schools_of.get(student, ()):
                    students.append(student)
                else:
                    self._dangling("section", record, record["name"], f"student:{student}", school)
            record["students"] = sorted(set(students))
            self._place("section", record, {school} if school else set(), record["name"])

    def _place_contacts(self) -> None:
        for (body,) in self._db.execute("SELECT body FROM contact ORDER BY seq"):
            contact: ContactRecord = orjson.loads(body)
            students_by_school: defaultdict[str, set[str]] = defaultdict(set)
            schools_of = self._schools_of_students([rel["student"] for rel in contact["relationships"]])
            for rel in contact["relationships"]:
                schools = schools_of.get(rel["student"], [])
                if not schools:
                    self._dangling(
                        "contact", cast(Record, contact), contact["name"], f"student:{rel['student']}"
                    )
                for school in schools:
                    if school is not None:
                        students_by_school[school].add(rel["student"])
            if not students_by_school:
                self.quarantine.add("without_school", "contact", contact["id"], name=contact["name"])
            self._db.executemany(
                "INSERT INTO placed VALUES (?, 'contact', ?, ?)",
                (
                    (school, contact["id"], orjson.dumps(for_school(contact, linked)))
                    for school, linked in students_by_school.items()
                ),
            )

    def _close_lists(self) -> None:
        """Place sections and contacts (every student is known now), then index by school."""
        if self._closed:
            return
        self._db.execute("CREATE INDEX student_school_by_id ON student_school (id, school)")
        self._place_sections()
        self._place_contacts()
        self._db.execute("CREATE INDEX placed_by_school ON placed (school, kind, id)")
        self._closed = True

    def records_of(self, school: str) -> Records:
        """One Clever school's records, every type sorted by id ({} for a school with none)."""
        self._close_lists()
        rows = self._db.execute(
            "SELECT kind, body FROM placed WHERE school = ? ORDER BY kind, id", (school,)
        ).fetchall()
        return _records_from(rows)

    def schools(self) -> Iterator[tuple[str, Records]]:
        """Every Clever school with a record, with its records (as `records_of`), by school id."""
        self._close_lists()
        rows = self._db.execute("SELECT school, kind, body FROM placed ORDER BY school, kind, id")
        for school, group in itertools.groupby(rows, key=lambda row: row[0]):
            yield school, _records_from((kind, body) for _, kind, body in group)

    def finish(self) -> dict[str, Records]:
        """Per Clever school id, every record type sorted by id."""
        return dict(self.schools())


_QUERY_CHUNK: Final = 500  # ids per IN (...) query: below any SQLite's limit of 999 variables
_PRAGMAS: Final = (
    "PRAGMA journal_mode = OFF",  # a scratch file: a crash loses nothing that is not refetched
    "PRAGMA synchronous = OFF",
    "PRAGMA temp_store = FILE",  # index builds sort on disk, not in memory
    "PRAGMA cache_size = -32768",  # 32 MB of pages, whatever the district's size
)
_SCHEMA: Final = """
CREATE TABLE seen (kind TEXT, id TEXT, PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE multi_role (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE placed (school TEXT, kind TEXT, id TEXT, body BLOB);
CREATE TABLE student_school (id TEXT, school TEXT);
CREATE TABLE contact (seq INTEGER PRIMARY KEY, body BLOB);
CREATE TABLE section (seq INTEGER PRIMARY KEY, body BLOB);
"""


def _records_from(rows: Iterable[tuple[str, bytes]]) -> Records:
    records: Records = {}
    for kind, body in rows:
        if not records:
            records = {k: [] for k in RECORD_TYPES}
        records[cast(RecordType, kind)].append(orjson.loads(body))
    return records


def _remove(db: sqlite3.Connection, folder: str) -> None:
    db.close()
    shutil.rmtree(folder, ignore_errors=True)


def _record_type(role: str) -> RecordType:
    if role not in PERSON_ROLES:
        raise ValueError(f"not a roster role: {role}")
    return cast(RecordType, role)
