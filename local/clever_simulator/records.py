"""Builds the v3.0 wire-shape record of any generated object from its index alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clever_simulator.determinism import Draw, mix
from clever_simulator.ids import Kind
from clever_simulator.layout import HIGH, LEVELS, DistrictLayout
from clever_simulator.roster import Record
from clever_simulator.vocabulary import (
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    GRADE_LABELS,
    LAST_NAMES,
    MIDDLE_INITIALS,
    PLACE_NAMES,
    RACES,
    STAFF_TITLES,
    TEACHER_TITLES,
)

SCHOOL_YEAR = 2025
_EPOCH = datetime(SCHOOL_YEAR, 6, 1, tzinfo=UTC)
_YEAR_START = f"{SCHOOL_YEAR}-08-25T00:00:00.000Z"
_YEAR_END = f"{SCHOOL_YEAR + 1}-06-20T00:00:00.000Z"
TERMS = (
    ("Full Year", _YEAR_START, _YEAR_END),
    ("Semester 1", _YEAR_START, f"{SCHOOL_YEAR + 1}-01-23T00:00:00.000Z"),
    ("Semester 2", f"{SCHOOL_YEAR + 1}-01-26T00:00:00.000Z", _YEAR_END),
)
_FIRST_CONTACT_TYPES = (("Parent/Guardian", 88), ("Primary", 7), ("Family", 5))
_OTHER_CONTACT_TYPES = (("Parent/Guardian", 62), ("Family", 18), ("Other", 14), ("Primary", 6))
_RELATIONSHIPS = {
    "Parent/Guardian": (("Parent", 85), ("Grandparent", 10), ("Aunt/Uncle", 5)),
    "Primary": (("Parent", 90), ("Grandparent", 10)),
    "Family": (("Grandparent", 45), ("Aunt/Uncle", 35), ("Sibling", 20)),
    "Other": (("Other", 100),),
}


@dataclass(frozen=True, slots=True)
class ExtraContact:
    """A contact a scenario added (beyond the generated ones), linked to one student."""

    student: int
    contact_type: str
    relationship: str
    with_sis_id: bool


def _format(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _timestamps(*key: int) -> tuple[str, str]:
    """(created, last_modified) of a record: within the summer before the school year, in order."""
    value = mix(*key)
    created = _EPOCH + timedelta(milliseconds=value % (45 * 86_400_000))
    modified = created + timedelta(milliseconds=(value >> 32) % (30 * 86_400_000))
    return _format(created), _format(modified)


class RecordFactory:
    """Turns (kind, index) into a record; ``id_of`` supplies ids as currently issued."""

    def __init__(
        self,
        layout: DistrictLayout,
        district_id: str,
        id_of: Callable[[Kind, int], str],
        extra_contact: Callable[[int], ExtraContact],
        state: str,
    ) -> None:
        self._layout = layout
        self._seed = layout.seed
        self._district_id = district_id
        self._id_of = id_of
        self._extra_contact = extra_contact
        self._state = state
        draw = Draw(self._seed, 0xD157)
        self._place = draw.choice(PLACE_NAMES)
        self._city, self._state_code, self._zip_prefix = draw.choice(CITIES)
        self._nces = draw.digits(7)
        self.built = 0

    # -- shared pieces --

    def _name(self, kind: Kind, index: int) -> tuple[str, str, str]:
        draw = Draw(self._seed, 0x4E, kind, index)
        return draw.choice(FIRST_NAMES), draw.choice(MIDDLE_INITIALS), draw.choice(LAST_NAMES)

    def _legacy_id(self, kind: Kind, index: int) -> str:
        return f"{mix(self._seed, 0x1E6, kind, index):016x}{mix(self._seed, 0x1E7, kind, index) >> 32:08x}"

    def _user(self, kind: Kind, index: int, name: Record, email: str | None, roles: Record) -> Record:
        self.built += 1
        created, modified = _timestamps(self._seed, kind, index)
        record: Record = {
            "created": created,
            "district": self._district_id,
            "id": self._id_of(kind, index),
            "last_modified": modified,
            "name": name,
            "roles": roles,
        }
        if email is not None:
            record["email"] = email
        return record

    def _location(self, draw: Draw) -> Record:
        return {
            "address": f"{100 + draw.below(9000)} {draw.choice(LAST_NAMES)} St",
            "city": self._city,
            "state": self._state_code,
            "zip": f"{self._zip_prefix}{draw.digits(2)}",
        }

    # -- district, schools, terms, courses --

    def district(self) -> Record:
        self.built += 1
        contact_first, _, contact_last = self._name(Kind.DISTRICT_CONTACT, 0)
        return {
            "district_contact": {
                "district": self._district_id,
                "email": f"{contact_first}.{contact_last}@{self._place.lower().replace(' ', '')}.example.org",
                "id": self._id_of(Kind.DISTRICT_CONTACT, 0),
                "name": {"first": contact_first, "last": contact_last},
                "title": "Director of Technology",
            },
            "error": "",
            "id": self._district_id,
            "last_sync": _timestamps(self._seed, Kind.DISTRICT, 1)[1],
            "launch_date": f"{SCHOOL_YEAR}-07-15",
            "login_methods": ["Clever Badges", "Clever Passwords"],
            "mdr_number": str(1000000 + mix(self._seed, 0x3D) % 9000000),
            "name": f"{self._place} Unified School District",
            "nces_id": self._nces,
            "pause_end": None,
            "pause_start": None,
            "portal_url": f"https://clever.com/in/{self._place.lower().replace(' ', '-')}-{self._seed}",
            "sis_type": "sftp",
            "state": self._state,
        }

    def school_name(self, school: int) -> str:
        level = self._layout.level(school)
        place = PLACE_NAMES[(school // len(LEVELS) + self._seed) % len(PLACE_NAMES)]
        if school < len(LEVELS) * len(PLACE_NAMES):
            return f"{place} {level.name}"
        return f"P.S. {school + 1} {place} {level.name}"

    def school(self, school: int) -> Record:
        self.built += 1
        level = self._layout.level(school)
        draw = Draw(self._seed, Kind.SCHOOL, school)
        created, modified = _timestamps(self._seed, Kind.SCHOOL, school)
        principal_first, _, principal_last = self._name(Kind.SCHOOL, school)
        return {
            "created": created,
            "district": self._district_id,
            "high_grade": GRADE_LABELS[level.grades[-1]],
            "id": self._id_of(Kind.SCHOOL, school),
            "last_modified": modified,
            "location": self._location(draw),
            "low_grade": GRADE_LABELS[level.grades[0]],
            "mdr_number": str(2000000 + mix(self._seed, 0x3D, school) % 8000000),
            "name": self.school_name(school),
            "nces_id": f"{self._nces}{school + 1:05d}",
            "phone": f"(555) {draw.digits(3)}-{draw.digits(4)}",
            "principal": {
                "email": f"{principal_first[0].lower()}{principal_last.lower()}@{EMAIL_DOMAINS[0]}",
                "name": f"{principal_first} {principal_last}",
            },
            "school_number": str(100 + school),
            "sis_id": str(100 + school),
            "state_id": f"{self._state_code}-{self._nces[-3:]}-{school + 1:04d}",
        }

    def term(self, index: int) -> Record:
        self.built += 1
        name, start, end = TERMS[index]
        return {
            "district": self._district_id,
            "end_date": end,
            "id": self._id_of(Kind.TERM, index),
            "name": f"{SCHOOL_YEAR}-{SCHOOL_YEAR + 1} {name}",
            "start_date": start,
        }

    def course(self, index: int) -> Record:
        self.built += 1
        slot = self._layout.course_slot(index)
        subject = slot.level.subjects[slot.period]
        return {
            "district": self._district_id,
            "id": self._id_of(Kind.COURSE, index),
            "name": f"{subject.title()} {GRADE_LABELS[slot.grade]}",
            "number": f"C{index + 1:04d}",
        }

    # -- people --

    def student(self, index: int) -> Record:
        layout = self._layout
        school = layout.school_of_student(index)
        grade = layout.grade_of_student(index)
        schools = [school]
        if layout.is_dual_enrolled(index):
            schools.append(layout.second_school(school))
        school_ids = [self._id_of(Kind.SCHOOL, s) for s in schools]
        draw = Draw(self._seed, Kind.STUDENT, index)
        created, modified = _timestamps(self._seed, Kind.STUDENT, index)
        first, middle, last = self._name(Kind.STUDENT, index)
        month = 9 + draw.below(12)
        birth_year = SCHOOL_YEAR - 6 - grade + (month > 12)
        sis_id = str(100000000 + index)
        email = f"{first.lower()}.{last.lower()}{index}@students.{EMAIL_DOMAINS[0]}"
        role: Record = {
            "created": created,
            "credentials": {"district_username": f"{first.lower()}{last[0].lower()}{index}"},
            "dob": f"{(month - 1) % 12 + 1}/{1 + draw.below(28)}/{birth_year}",
            "ell_status": draw.weighted((("N", 85), ("Y", 12), ("", 3))),
            "enrollments": [
                {"end_date": _YEAR_END, "school": school_id, "start_date": _YEAR_START}
                for school_id in school_ids
            ],
            "gender": draw.weighted((("F", 49), ("M", 49), ("X", 2))),
            "grade": GRADE_LABELS[grade],
            "graduation_year": str(SCHOOL_YEAR + 13 - grade),
            "hispanic_ethnicity": draw.weighted((("N", 70), ("Y", 28), ("", 2))),
            "last_modified": modified,
            "legacy_id": self._legacy_id(Kind.STUDENT, index),
            "location": self._location(draw),
            "race": draw.weighted(RACES),
            "school": school_ids[0],
            "schools": school_ids,
            "sis_id": sis_id,
            "state_id": str(500000000 + mix(self._seed, Kind.STUDENT, index, 3) % 400000000),
            "student_number": sis_id,
        }
        name = {"first": first, "last": last, "middle": middle}
        return self._user(Kind.STUDENT, index, name, email, {"student": role})

    def teacher(self, index: int) -> Record:
        layout = self._layout
        school = layout.school_of_teacher(index)
        schools = [school]
        if layout.teaches_at_two_schools(index):
            schools.append(layout.second_school(school))
        school_ids = [self._id_of(Kind.SCHOOL, s) for s in schools]
        draw = Draw(self._seed, Kind.TEACHER, index)
        created, modified = _timestamps(self._seed, Kind.TEACHER, index)
        first, middle, last = self._name(Kind.TEACHER, index)
        role: Record = {
            "created": created,
            "credentials": {"district_username": f"{first[0].lower()}{last.lower()}{index}"},
            "district": self._district_id,
            "last_modified": modified,
            "legacy_id": self._legacy_id(Kind.TEACHER, index),
            "school": school_ids[0],
            "schools": school_ids,
            "sis_id": f"T{10000 + index}",
            "state_id": str(700000000 + mix(self._seed, Kind.TEACHER, index, 3) % 200000000),
            "teacher_number": str(200000 + index),
            "title": draw.choice(TEACHER_TITLES),
        }
        email = f"{first[0].lower()}{last.lower()}{index}@{EMAIL_DOMAINS[0]}"
        name = {"first": first, "last": last, "middle": middle}
        return self._user(Kind.TEACHER, index, name, email, {"teacher": role})

    def staff(self, index: int) -> Record:
        school = self._layout.school_of_staff(index)
        first, middle, last = self._name(Kind.STAFF, index)
        title, department = STAFF_TITLES[index % len(STAFF_TITLES)]
        role: Record = {
            "credentials": {"district_username": f"{first[0].lower()}{last.lower()}.staff{index}"},
            "department": department,
            "legacy_id": self._legacy_id(Kind.STAFF, index),
            "roles": ["staff"],
            "schools": [self._id_of(Kind.SCHOOL, school)],
            "staff_id": f"S{10000 + index}",
            "title": title,
        }
        email = f"{first[0].lower()}{last.lower()}.staff{index}@{EMAIL_DOMAINS[0]}"
        name = {"first": first, "last": last, "middle": middle}
        return self._user(Kind.STAFF, index, name, email, {"staff": role})

    def district_admin(self, index: int) -> Record:
        first, _, last = self._name(Kind.DISTRICT_ADMIN, index)
        role: Record = {
            "legacy_id": self._legacy_id(Kind.DISTRICT_ADMIN, index),
            "title": "District Administrator",
        }
        email = f"{first.lower()}.{last.lower()}@{EMAIL_DOMAINS[0]}"
        return self._user(
            Kind.DISTRICT_ADMIN, index, {"first": first, "last": last}, email, {"district_admin": role}
        )

    def contact_has_sis_id(self, index: int) -> bool:
        return Draw(self._seed, 0x515, index).chance(0.75)

    def contact(self, index: int) -> Record:
        layout = self._layout
        student = layout.student_of_contact(index)
        ordinal = index - layout.first_contact(student)
        draw = Draw(self._seed, Kind.CONTACT, index)
        contact_type = draw.weighted(_FIRST_CONTACT_TYPES if ordinal == 0 else _OTHER_CONTACT_TYPES)
        relationship = draw.weighted(_RELATIONSHIPS[contact_type])
        sis_id = f"P{300000000 + index}" if self.contact_has_sis_id(index) else ""
        return self._contact_record(Kind.CONTACT, index, draw, student, contact_type, relationship, sis_id)

    def extra_contact(self, index: int) -> Record:
        extra = self._extra_contact(index)
        draw = Draw(self._seed, Kind.EXTRA_CONTACT, index)
        sis_id = f"X{400000000 + index}" if extra.with_sis_id else ""
        return self._contact_record(
            Kind.EXTRA_CONTACT, index, draw, extra.student, extra.contact_type, extra.relationship, sis_id
        )

    def _contact_record(
        self,
        kind: Kind,
        index: int,
        draw: Draw,
        student: int,
        contact_type: str,
        relationship: str,
        sis_id: str,
    ) -> Record:
        _, _, student_last = self._name(Kind.STUDENT, student)
        first = draw.choice(FIRST_NAMES)
        last = student_last if draw.chance(0.8) else draw.choice(LAST_NAMES)
        has_phone = draw.chance(0.85)
        email = (
            f"{first.lower()}.{last.lower()}{index}@{draw.choice(EMAIL_DOMAINS)}"
            if draw.chance(0.8)
            else None
        )
        role: Record = {
            "legacy_id": self._legacy_id(kind, index),
            "phone": f"(555) {draw.digits(3)}-{draw.digits(4)}" if has_phone else "",
            "phone_type": draw.weighted((("Cell", 70), ("Home", 20), ("Work", 10))) if has_phone else "",
            "sis_id": sis_id,
            "student_relationships": [
                {
                    "relationship": relationship,
                    "student": self._id_of(Kind.STUDENT, student),
                    "type": contact_type,
                }
            ],
        }
        return self._user(kind, index, {"last": f"{first} {last}"}, email, {"contact": role})

    # -- sections --

    def section(self, index: int, student_exists: Callable[[int], bool]) -> Record:
        self.built += 1
        layout = self._layout
        slot = layout.section_slot(index)
        created, modified = _timestamps(self._seed, Kind.SECTION, index)
        level = layout.level(slot.school)
        grade = level.grades[slot.grade_block]
        subject = level.subjects[slot.period]
        teacher_indices = layout.section_teachers(slot)
        teachers = [self._id_of(Kind.TEACHER, t) for t in teacher_indices]
        _, _, teacher_last = self._name(Kind.TEACHER, teacher_indices[0])
        term = 1 + (slot.period + slot.group) % 2 if level is HIGH else 0
        return {
            "course": self._id_of(Kind.COURSE, layout.course_of_section(slot)),
            "created": created,
            "district": self._district_id,
            "grade": GRADE_LABELS[grade],
            "id": self._id_of(Kind.SECTION, index),
            "last_modified": modified,
            "name": f"{subject.title()} {GRADE_LABELS[grade]} - {teacher_last} - {slot.group + 1}",
            "period": str(slot.period + 1),
            "school": self._id_of(Kind.SCHOOL, slot.school),
            "section_number": f"{slot.period + 1}{slot.group + 1:02d}",
            "sis_id": str(5000 + index),
            "students": [
                self._id_of(Kind.STUDENT, s) for s in layout.section_students(slot) if student_exists(s)
            ],
            "subject": subject,
            "teacher": teachers[0],
            "teachers": teachers,
            "term_id": self._id_of(Kind.TERM, term),
        }
