"""A generated district of any size, computed record by record from a seed.

Nothing is materialised up front: a record is rebuilt from (seed, kind, index) when a page needs
it, and scenario mutations are kept as small overlays (removed indices, re-issued id generations,
added contacts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clever_simulator.ids import IdCodec, Kind
from clever_simulator.layout import DistrictLayout
from clever_simulator.listing import Segment, SegmentListing
from clever_simulator.records import TERMS, ExtraContact, RecordFactory
from clever_simulator.roster import Listing, Record, Resource, Role

_ROLE_KINDS: dict[Role, tuple[Kind, ...]] = {
    Role.STUDENT: (Kind.STUDENT,),
    Role.TEACHER: (Kind.TEACHER,),
    Role.STAFF: (Kind.STAFF,),
    Role.DISTRICT_ADMIN: (Kind.DISTRICT_ADMIN,),
    Role.CONTACT: (Kind.CONTACT, Kind.EXTRA_CONTACT),
}
_RESOURCE_KINDS: dict[Resource, tuple[Kind, ...]] = {
    Resource.DISTRICTS: (Kind.DISTRICT,),
    Resource.SCHOOLS: (Kind.SCHOOL,),
    Resource.SECTIONS: (Kind.SECTION,),
    Resource.TERMS: (Kind.TERM,),
    Resource.COURSES: (Kind.COURSE,),
    Resource.USERS: tuple(kind for kinds in _ROLE_KINDS.values() for kind in kinds),
}
NYC_SHAPE: dict[str, Any] = {"schools": 1800, "students": 1_000_000, "contacts_per_student": 1.5}
"""New York City's district: ~1,800 schools, ~1 M students (about 555 a school), ~1.5 M contacts."""


class GeneratedDistrict:
    """A deterministic synthetic Clever district; from three schools up to NYC scale."""

    def __init__(
        self,
        seed: int = 7,
        *,
        schools: int = 3,
        students: int = 1000,
        contacts_per_student: float = 1.5,
        students_per_teacher: int = 15,
        students_per_section: int = 25,
        staff_per_school: int = 4,
        district_admins: int = 2,
        dual_enrollment_share: float = 0.03,
        co_teaching_share: float = 0.1,
        unshared_schools: int = 0,
        state: str = "running",
        admin_emails: Sequence[str] = (),
    ) -> None:
        """`admin_emails` replace the generated e-mails of the first district admins (the devstack
        makes its sign-in address one of them)."""
        self.seed = seed
        self.layout = DistrictLayout(
            seed=seed,
            schools=schools,
            students=students,
            contacts_per_student=contacts_per_student,
            students_per_teacher=students_per_teacher,
            students_per_section=students_per_section,
            staff_per_school=staff_per_school,
            dual_enrollment_share=dual_enrollment_share,
            co_teaching_share=co_teaching_share,
        )
        self.district_admins = max(district_admins, len(admin_emails))
        self.admin_emails = tuple(admin_emails)
        self.unshared_schools = unshared_schools
        self.codec = IdCodec(seed)
        self._district_id = self.codec.encode(Kind.DISTRICT, 0)
        self._removed_students: set[int] = set()
        self._generations: dict[tuple[Kind, int], int] = {}
        self._extra_contacts: list[ExtraContact] = []
        self._withdrawn_contacts: set[int] = set()  # added contacts a scenario's undo took away
        self._shared_extra_schools: set[int] = set()  # unshared schools Clever started sharing
        self._pause: dict[str, Any] = {}  # the district record's state and pause dates, when set
        self._records = RecordFactory(
            self.layout, self._district_id, self.id_of, self._extra_contacts.__getitem__, state
        )

    @classmethod
    def nyc(cls, seed: int = 7, **overrides: Any) -> GeneratedDistrict:
        """New York City's shape: 1,800 schools of about 550 students, 1.5 contacts per student.

        Every page is still computed on demand: serving it costs memory for one page, not the district.
        """
        return cls(seed, **(NYC_SHAPE | overrides))

    # -- identity --

    @property
    def district_id(self) -> str:
        return self._district_id

    @property
    def records_built(self) -> int:
        """How many record objects have been materialised so far (a laziness probe for tests)."""
        return self._records.built

    def id_of(self, kind: Kind, index: int) -> str:
        """The id a record is currently served under."""
        return self.codec.encode(kind, index, self._generations.get((kind, index), 0))

    def _count(self, kind: Kind) -> int:
        layout = self.layout
        counts = {
            Kind.DISTRICT: 1,
            Kind.DISTRICT_CONTACT: 1,
            Kind.SCHOOL: layout.schools + self.unshared_schools,
            Kind.TERM: len(TERMS),
            Kind.COURSE: layout.courses,
            Kind.SECTION: layout.sections,
            Kind.STUDENT: layout.students,
            Kind.TEACHER: layout.teachers,
            Kind.STAFF: layout.staff,
            Kind.DISTRICT_ADMIN: self.district_admins,
            Kind.CONTACT: layout.contacts,
            Kind.EXTRA_CONTACT: len(self._extra_contacts),
        }
        return counts[kind]

    def _exists(self, kind: Kind, index: int) -> bool:
        if kind is Kind.SCHOOL:
            return index < self.layout.schools or index in self._shared_extra_schools
        if kind is Kind.STUDENT:
            return index not in self._removed_students
        if kind is Kind.CONTACT:
            return self.layout.student_of_contact(index) not in self._removed_students
        if kind is Kind.EXTRA_CONTACT:
            extra = self._extra_contacts[index]
            return index not in self._withdrawn_contacts and extra.student not in self._removed_students
        return True

    def _resolve(self, record_id: str, kinds: Sequence[Kind]) -> tuple[Kind, int] | None:
        decoded = self.codec.decode(record_id)
        if decoded is None or decoded.kind not in kinds or decoded.index >= self._count(decoded.kind):
            return None
        if decoded.generation != self._generations.get((decoded.kind, decoded.index), 0):
            return None
        if not self._exists(decoded.kind, decoded.index):
            return None
        return decoded.kind, decoded.index

    # -- records --

    def _build(self, kind: Kind, index: int) -> Record:
        records = self._records
        builders: dict[Kind, Callable[[int], Record]] = {
            Kind.SCHOOL: records.school,
            Kind.TERM: records.term,
            Kind.COURSE: records.course,
            Kind.STUDENT: records.student,
            Kind.TEACHER: records.teacher,
            Kind.STAFF: records.staff,
            Kind.DISTRICT_ADMIN: records.district_admin,
            Kind.CONTACT: records.contact,
            Kind.EXTRA_CONTACT: records.extra_contact,
        }
        if kind is Kind.DISTRICT:
            return records.district() | self._pause
        if kind is Kind.SECTION:
            return records.section(index, lambda student: student not in self._removed_students)
        record = builders[kind](index)
        if kind is Kind.DISTRICT_ADMIN and index < len(self.admin_emails):
            record["email"] = self.admin_emails[index]
        return record

    def district_record(self) -> Record:
        return self._records.district() | self._pause

    def set_pause(self, state: str, pause_start: str | None, pause_end: str | None) -> None:
        self._pause = {"state": state, "pause_start": pause_start, "pause_end": pause_end}

    def unshared_school_records(self) -> list[Record]:
        """Schools of the district not shared with the app at first (served only once shared).

        The devstack can create them on its own side to show a ``not_connected`` school.
        """
        first = self.layout.schools
        return [self._records.school(first + offset) for offset in range(self.unshared_schools)]

    def get(self, resource: Resource, record_id: str) -> Record | None:
        found = self._resolve(record_id, _RESOURCE_KINDS[resource])
        return None if found is None else self._build(*found)

    # -- listings --

    def _listing(self, segments: Sequence[Segment]) -> SegmentListing:
        return SegmentListing(self.codec, segments, self._exists, self._build)

    def _whole(self, kind: Kind) -> Segment:
        return Segment(kind, 0, self._count(kind))

    def listing(self, resource: Resource, role: Role | None = None) -> Listing:
        if resource is Resource.USERS and role is not None:
            kinds = _ROLE_KINDS[role]
        else:
            kinds = _RESOURCE_KINDS[resource]
        return self._listing([self._whole(kind) for kind in kinds])

    def _school_index(self, school_id: str) -> int | None:
        found = self._resolve(school_id, (Kind.SCHOOL,))
        return None if found is None else found[1]

    def _member_segments(self, kind: Kind, starts: list[int], school: int) -> list[Segment]:
        """A school's own block plus the members of the previous school's block who also attend it."""
        layout = self.layout
        segments = [Segment(kind, starts[school], starts[school + 1])]
        previous = layout.previous_school(school)
        if previous != school:
            shared = layout.is_dual_enrolled if kind is Kind.STUDENT else layout.teaches_at_two_schools
            segments.append(Segment(kind, starts[previous], starts[previous + 1], shared))
        return segments

    def _has_roster(self, school: int) -> bool:
        """Whether the layout places people in the school (a once-unshared school has nobody)."""
        return school < self.layout.schools

    def school_users(self, school_id: str, role: Role | None = None) -> Listing | None:
        school = self._school_index(school_id)
        if school is None:
            return None
        if not self._has_roster(school):
            return self._listing([])
        layout = self.layout
        per_role = {
            Role.STUDENT: lambda: self._member_segments(Kind.STUDENT, layout.student_starts, school),
            Role.TEACHER: lambda: self._member_segments(Kind.TEACHER, layout.teacher_starts, school),
            Role.STAFF: lambda: [
                Segment(Kind.STAFF, school * layout.staff_per_school, (school + 1) * layout.staff_per_school)
            ],
        }
        roles = [role] if role is not None else list(per_role)
        segments = [segment for r in roles if r in per_role for segment in per_role[r]()]
        return self._listing(segments)

    def school_sections(self, school_id: str) -> Listing | None:
        school = self._school_index(school_id)
        if school is None:
            return None
        if not self._has_roster(school):
            return self._listing([])
        starts = self.layout.section_starts
        return self._listing([Segment(Kind.SECTION, starts[school], starts[school + 1])])

    def _contact_segments(self, student: int) -> list[Segment]:
        layout = self.layout
        extras = self._extra_contacts
        return [
            Segment(Kind.CONTACT, layout.first_contact(student), layout.first_contact(student + 1)),
            Segment(Kind.EXTRA_CONTACT, 0, len(extras), lambda index: extras[index].student == student),
        ]

    def user_contacts(self, user_id: str) -> Listing | None:
        found = self._resolve(user_id, _RESOURCE_KINDS[Resource.USERS])
        if found is None:
            return None
        kind, index = found
        return self._listing(self._contact_segments(index) if kind is Kind.STUDENT else [])

    # -- mutations used by the scenarios --

    def school_ids(self) -> list[str]:
        return [self.id_of(Kind.SCHOOL, school) for school in range(self.layout.schools)]

    def unshared_school_ids(self) -> list[str]:
        first = self.layout.schools
        return [
            self.id_of(Kind.SCHOOL, school)
            for school in range(first, first + self.unshared_schools)
            if school not in self._shared_extra_schools
        ]

    def _extra_school_index(self, school_id: str) -> int:
        decoded = self.codec.decode(school_id)
        first = self.layout.schools
        if decoded is None or decoded.kind is not Kind.SCHOOL:
            raise KeyError(school_id)
        if not first <= decoded.index < first + self.unshared_schools:
            raise KeyError(school_id)
        return decoded.index

    def share_school(self, school_id: str) -> None:
        self._shared_extra_schools.add(self._extra_school_index(school_id))

    def unshare_school(self, school_id: str) -> None:
        self._shared_extra_schools.discard(self._extra_school_index(school_id))

    def student_ids_of_school(self, school_id: str) -> list[str]:
        school = self._school_index(school_id)
        if school is None:
            raise KeyError(school_id)
        if not self._has_roster(school):
            return []
        starts = self.layout.student_starts
        return [
            self.id_of(Kind.STUDENT, index)
            for index in range(starts[school], starts[school + 1])
            if self._exists(Kind.STUDENT, index)
        ]

    def _student_index(self, student_id: str) -> int:
        found = self._resolve(student_id, (Kind.STUDENT,))
        if found is None:
            raise KeyError(student_id)
        return found[1]

    def contact_ids_of_student(self, student_id: str) -> list[str]:
        student = self._student_index(student_id)
        listing = self._listing(self._contact_segments(student))
        return [self.id_of(kind, index) for kind, index in listing.positions()]

    def contact_ids_without_sis_id(self, limit: int) -> list[str]:
        found: list[str] = []
        listing = self._listing([self._whole(Kind.CONTACT), self._whole(Kind.EXTRA_CONTACT)])
        for kind, index in listing.positions():
            if len(found) >= limit:
                break
            if kind is Kind.CONTACT:
                without = not self._records.contact_has_sis_id(index)
            else:
                without = not self._extra_contacts[index].with_sis_id
            if without:
                found.append(self.id_of(kind, index))
        return found

    def remove_students(self, student_ids: Sequence[str]) -> list[str]:
        orphaned: list[str] = []
        for student_id in student_ids:
            orphaned.extend(self.contact_ids_of_student(student_id))
            self._removed_students.add(self._student_index(student_id))
        return orphaned

    def add_contact(self, student_id: str, contact_type: str, relationship: str, with_sis_id: bool) -> str:
        student = self._student_index(student_id)
        self._extra_contacts.append(ExtraContact(student, contact_type, relationship, with_sis_id))
        return self.id_of(Kind.EXTRA_CONTACT, len(self._extra_contacts) - 1)

    def _reissue(self, record_id: str, kinds: Sequence[Kind]) -> str:
        found = self._resolve(record_id, kinds)
        if found is None:
            raise KeyError(record_id)
        self._generations[found] = self._generations.get(found, 0) + 1
        return self.id_of(*found)

    def reissue_student_id(self, student_id: str) -> str:
        return self._reissue(student_id, (Kind.STUDENT,))

    def reissue_contact_id(self, contact_id: str) -> str:
        return self._reissue(contact_id, _ROLE_KINDS[Role.CONTACT])

    # -- undoing one scenario (ids as the scenario reported them) --

    def _decoded(self, record_id: str) -> tuple[Kind, int, int]:
        decoded = self.codec.decode(record_id)
        if decoded is None:
            raise KeyError(record_id)
        return decoded.kind, decoded.index, decoded.generation

    def restore_students(self, student_ids: Sequence[str]) -> None:
        for student_id in student_ids:
            kind, index, _ = self._decoded(student_id)
            if kind is Kind.STUDENT:
                self._removed_students.discard(index)

    def restore_ids(self, reissued: Mapping[str, str]) -> None:
        for old_id, new_id in reissued.items():
            kind, index, old_generation = self._decoded(old_id)
            new_generation = self._decoded(new_id)[2]
            # only while the id is still the one this scenario issued (a later re-key supersedes it)
            if self._generations.get((kind, index), 0) == new_generation:
                if old_generation:
                    self._generations[(kind, index)] = old_generation
                else:
                    self._generations.pop((kind, index), None)

    def withdraw_contacts(self, contact_ids: Sequence[str]) -> None:
        for contact_id in contact_ids:
            kind, index, _ = self._decoded(contact_id)
            if kind is Kind.EXTRA_CONTACT and index < len(self._extra_contacts):
                self._withdrawn_contacts.add(index)

    def reset(self) -> None:
        self._pause = {}
        self._removed_students.clear()
        self._generations.clear()
        self._extra_contacts.clear()
        self._withdrawn_contacts.clear()
        self._shared_extra_schools.clear()
