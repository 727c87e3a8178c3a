"""What the HTTP layer and the scenarios need from a district, generated or fixed."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]
"""One Clever object in v3.0 wire shape (the ``data`` of an envelope item)."""


class Resource(enum.StrEnum):
    DISTRICTS = "districts"
    SCHOOLS = "schools"
    USERS = "users"
    SECTIONS = "sections"
    TERMS = "terms"
    COURSES = "courses"


class Role(enum.StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    STAFF = "staff"
    DISTRICT_ADMIN = "district_admin"
    CONTACT = "contact"


SCHOOL_ROLES = (Role.STUDENT, Role.TEACHER, Role.STAFF)
"""Roles a school's nested ``/schools/{id}/users`` listing serves (contacts are district-wide only)."""


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    has_more: bool


class Listing(Protocol):
    """An id-ordered collection that serves one page at a time."""

    def page(self, starting_after: str | None, limit: int) -> Page: ...


class RosterSource(Protocol):
    """A district the simulator serves, with the few mutations the scenarios are built from."""

    @property
    def district_id(self) -> str: ...

    def district_record(self) -> Record: ...

    def listing(self, resource: Resource, role: Role | None = None) -> Listing: ...

    def school_users(self, school_id: str, role: Role | None = None) -> Listing | None:
        """A school's students/teachers/staff, or None when the school is unknown."""
        ...

    def school_sections(self, school_id: str) -> Listing | None: ...

    def user_contacts(self, user_id: str) -> Listing | None: ...

    def get(self, resource: Resource, record_id: str) -> Record | None: ...

    # -- mutations (ids are the ids as currently served) --

    def school_ids(self) -> list[str]: ...

    def student_ids_of_school(self, school_id: str) -> list[str]:
        """Current students whose primary school is ``school_id``, in id order."""
        ...

    def contact_ids_of_student(self, student_id: str) -> list[str]: ...

    def contact_ids_without_sis_id(self, limit: int) -> list[str]: ...

    def remove_students(self, student_ids: Sequence[str]) -> list[str]:
        """Drops students with their enrolments; returns the ids of contacts left without a student."""
        ...

    def add_contact(self, student_id: str, contact_type: str, relationship: str, with_sis_id: bool) -> str:
        """Adds a contact linked to one student; returns its id."""
        ...

    def reissue_student_id(self, student_id: str) -> str: ...

    def reissue_contact_id(self, contact_id: str) -> str: ...

    def unshared_school_ids(self) -> list[str]:
        """Schools of the district that Clever does not share with the app (now)."""
        ...

    def share_school(self, school_id: str) -> None:
        """Clever starts sharing one of the unshared schools (KeyError for any other id)."""
        ...

    def unshare_school(self, school_id: str) -> None: ...

    def set_pause(self, state: str, pause_start: str | None, pause_end: str | None) -> None:
        """Sets the district's Clever sync `state` and pause dates (ISO 8601, None: unset)."""
        ...

    # -- undoing one scenario: each takes the ids the scenario reported --

    def restore_students(self, student_ids: Sequence[str]) -> None:
        """Brings removed students back, with their enrolments and contacts."""
        ...

    def restore_ids(self, reissued: Mapping[str, str]) -> None:
        """Gives re-issued records (old id -> new id) their old ids back."""
        ...

    def withdraw_contacts(self, contact_ids: Sequence[str]) -> None:
        """Takes away contacts a scenario added."""
        ...

    def reset(self) -> None:
        """Undoes every mutation."""
        ...
