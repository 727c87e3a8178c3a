"""A district served from fixed, fully materialised records (Clever's demo district, fixtures)."""

from __future__ import annotations

import copy
import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from clever_simulator.roster import SCHOOL_ROLES, Page, Record, Resource, Role


class RecordListing:
    """Pages through an id-sorted list of records."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = sorted(records, key=lambda record: str(record["id"]))
        self._ids = [str(record["id"]) for record in self._records]

    def page(self, starting_after: str | None, limit: int) -> Page:
        start = 0 if starting_after is None else bisect_right(self._ids, starting_after)
        chosen = self._records[start : start + limit]
        return Page([copy.deepcopy(record) for record in chosen], has_more=start + limit < len(self._ids))


def _role_of(user: Record) -> Role:
    return Role(next(iter(user["roles"])))


def _user_schools(user: Record) -> set[str]:
    role = user["roles"][_role_of(user)]
    schools = set(role.get("schools") or [])
    if role.get("school"):
        schools.add(role["school"])
    return schools


@dataclass(frozen=True)
class _Removal:
    """What removing one student took away, so that an undo can put it back."""

    student: Record
    contacts: list[Record]  # the student's contacts as they were before
    section_ids: list[str]


def _new_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:24]


class FixedDistrict:
    """Serves given records as they are; scenario mutations edit a working copy."""

    def __init__(
        self,
        district: Record,
        *,
        schools: Sequence[Record],
        users: Sequence[Record],
        sections: Sequence[Record],
        terms: Sequence[Record] = (),
        courses: Sequence[Record] = (),
    ) -> None:
        self._original: dict[Resource, list[Record]] = {
            Resource.DISTRICTS: [district],
            Resource.SCHOOLS: list(schools),
            Resource.USERS: list(users),
            Resource.SECTIONS: list(sections),
            Resource.TERMS: list(terms),
            Resource.COURSES: list(courses),
        }
        self._data: dict[Resource, dict[str, Record]] = {}
        self._added_contacts = 0
        self._removals: dict[str, _Removal] = {}
        self.reset()

    # -- reading --

    @property
    def district_id(self) -> str:
        return str(self._original[Resource.DISTRICTS][0]["id"])

    def district_record(self) -> Record:
        return copy.deepcopy(self._data[Resource.DISTRICTS][self.district_id])

    def set_pause(self, state: str, pause_start: str | None, pause_end: str | None) -> None:
        record = self._data[Resource.DISTRICTS][self.district_id]
        record.update(state=state, pause_start=pause_start, pause_end=pause_end)

    def _users(self, keep: Callable[[Record], bool]) -> list[Record]:
        return [user for user in self._data[Resource.USERS].values() if keep(user)]

    def listing(self, resource: Resource, role: Role | None = None) -> RecordListing:
        if resource is Resource.USERS and role is not None:
            return RecordListing(self._users(lambda user: _role_of(user) is role))
        return RecordListing(self._data[resource].values())

    def school_users(self, school_id: str, role: Role | None = None) -> RecordListing | None:
        if school_id not in self._data[Resource.SCHOOLS]:
            return None
        roles = (role,) if role is not None else SCHOOL_ROLES
        return RecordListing(
            self._users(lambda user: _role_of(user) in roles and school_id in _user_schools(user))
        )

    def school_sections(self, school_id: str) -> RecordListing | None:
        if school_id not in self._data[Resource.SCHOOLS]:
            return None
        sections = self._data[Resource.SECTIONS].values()
        return RecordListing(section for section in sections if section.get("school") == school_id)

    def _contacts_of(self, student_id: str) -> list[Record]:
        return self._users(
            lambda user: (
                _role_of(user) is Role.CONTACT
                and any(
                    link.get("student") == student_id
                    for link in user["roles"]["contact"]["student_relationships"]
                )
            )
        )

    def user_contacts(self, user_id: str) -> RecordListing | None:
        if user_id not in self._data[Resource.USERS]:
            return None
        return RecordListing(self._contacts_of(user_id))

    def get(self, resource: Resource, record_id: str) -> Record | None:
        found = self._data[resource].get(record_id)
        return None if found is None else copy.deepcopy(found)

    # -- mutations used by the scenarios --

    def school_ids(self) -> list[str]:
        return sorted(self._data[Resource.SCHOOLS])

    def _student(self, student_id: str) -> Record:
        user = self._data[Resource.USERS].get(student_id)
        if user is None or _role_of(user) is not Role.STUDENT:
            raise KeyError(student_id)
        return user

    def student_ids_of_school(self, school_id: str) -> list[str]:
        if school_id not in self._data[Resource.SCHOOLS]:
            raise KeyError(school_id)
        students = self._users(
            lambda user: (
                _role_of(user) is Role.STUDENT and user["roles"]["student"].get("school") == school_id
            )
        )
        return sorted(str(user["id"]) for user in students)

    def contact_ids_of_student(self, student_id: str) -> list[str]:
        self._student(student_id)
        return sorted(str(contact["id"]) for contact in self._contacts_of(student_id))

    def contact_ids_without_sis_id(self, limit: int) -> list[str]:
        contacts = self._users(
            lambda user: _role_of(user) is Role.CONTACT and not user["roles"]["contact"].get("sis_id")
        )
        return sorted(str(contact["id"]) for contact in contacts)[:limit]

    def remove_students(self, student_ids: Sequence[str]) -> list[str]:
        orphaned: list[str] = []
        for student_id in student_ids:
            self._removals[student_id] = _Removal(
                copy.deepcopy(self._student(student_id)),
                copy.deepcopy(self._contacts_of(student_id)),
                [
                    section_id
                    for section_id, section in self._data[Resource.SECTIONS].items()
                    if student_id in section.get("students", [])
                ],
            )
            for contact in self._contacts_of(student_id):
                links = contact["roles"]["contact"]["student_relationships"]
                links[:] = [link for link in links if link.get("student") != student_id]
                if not links:
                    orphaned.append(str(contact["id"]))
                    del self._data[Resource.USERS][contact["id"]]
            del self._data[Resource.USERS][student_id]
            for section in self._data[Resource.SECTIONS].values():
                if student_id in section.get("students", []):
                    section["students"] = [s for s in section["students"] if s != student_id]
        return orphaned

    def add_contact(self, student_id: str, contact_type: str, relationship: str, with_sis_id: bool) -> str:
        self._student(student_id)
        self._added_contacts += 1
        number = self._added_contacts
        contact_id = _new_id(self.district_id, "added-contact", str(number))
        self._data[Resource.USERS][contact_id] = {
            "created": "2025-09-01T12:00:00.000Z",
            "district": self.district_id,
            "email": f"added.contact{number}@example.org",
            "id": contact_id,
            "last_modified": "2025-09-01T12:00:00.000Z",
            "name": {"last": f"Added Contact {number}"},
            "roles": {
                "contact": {
                    "phone": f"(555) 010-{number:04d}",
                    "phone_type": "Cell",
                    "sis_id": f"ADDED{number}" if with_sis_id else "",
                    "student_relationships": [
                        {"relationship": relationship, "student": student_id, "type": contact_type}
                    ],
                }
            },
        }
        return contact_id

    def _reissue(self, old_id: str, new_id: str | None = None) -> str:
        users = self._data[Resource.USERS]
        new_id = new_id or _new_id(self.district_id, "reissued", old_id)
        user = users.pop(old_id)
        user["id"] = new_id
        users[new_id] = user
        return new_id

    def reissue_student_id(self, student_id: str, new_id: str | None = None) -> str:
        self._student(student_id)
        contacts = self._contacts_of(student_id)
        new_id = self._reissue(student_id, new_id)
        for contact in contacts:
            for link in contact["roles"]["contact"]["student_relationships"]:
                if link.get("student") == student_id:
                    link["student"] = new_id
        for section in self._data[Resource.SECTIONS].values():
            section["students"] = [new_id if s == student_id else s for s in section.get("students", [])]
        return new_id

    def reissue_contact_id(self, contact_id: str) -> str:
        user = self._data[Resource.USERS].get(contact_id)
        if user is None or _role_of(user) is not Role.CONTACT:
            raise KeyError(contact_id)
        return self._reissue(contact_id)

    def unshared_school_ids(self) -> list[str]:
        return []  # the records given are all shared

    def share_school(self, school_id: str) -> None:
        raise KeyError(school_id)

    def unshare_school(self, school_id: str) -> None:
        raise KeyError(school_id)

    def restore_students(self, student_ids: Sequence[str]) -> None:
        users, sections = self._data[Resource.USERS], self._data[Resource.SECTIONS]
        for student_id in student_ids:
            removal = self._removals.pop(student_id, None)
            if removal is None or student_id in users:
                continue
            users[student_id] = copy.deepcopy(removal.student)
            for before in removal.contacts:
                links = [
                    link
                    for link in before["roles"]["contact"]["student_relationships"]
                    if link.get("student") == student_id
                ]
                contact = users.setdefault(
                    str(before["id"]),
                    {
                        **copy.deepcopy(before),
                        "roles": {"contact": {**before["roles"]["contact"], "student_relationships": []}},
                    },
                )
                contact["roles"]["contact"]["student_relationships"].extend(copy.deepcopy(links))
            for section_id in removal.section_ids:
                if section_id in sections:
                    sections[section_id]["students"] = sorted(
                        [*sections[section_id].get("students", []), student_id]
                    )

    def restore_ids(self, reissued: Mapping[str, str]) -> None:
        users = self._data[Resource.USERS]
        for old_id, new_id in reissued.items():
            user = users.get(new_id)
            if user is None or old_id in users:
                continue
            if _role_of(user) is Role.STUDENT:
                self.reissue_student_id(new_id, old_id)
            else:
                self._reissue(new_id, old_id)

    def withdraw_contacts(self, contact_ids: Sequence[str]) -> None:
        for contact_id in contact_ids:
            self._data[Resource.USERS].pop(contact_id, None)

    def reset(self) -> None:
        self._removals.clear()
        self._data = {
            resource: {str(record["id"]): copy.deepcopy(record) for record in records}
            for resource, records in self._original.items()
        }
        self._added_contacts = 0
