"""Pydantic models of Clever's v3.0 wire format.

Strict where a mistake would corrupt a roster (ids, the list envelope), lenient where Clever
evolves (unknown fields are kept, unknown enum values are kept and logged, never a crash).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from sis_sync.observability import logger

CleverId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _without_blanks(value: Any) -> Any:
    return [item for item in value if item != ""] if isinstance(value, list) else value


# A record's own id is strict: it is the roster key. A reference to another record (its school,
# district, teachers, students) is only looked up: the spec allows "" there and Clever sends it for
# "none", so "" reads as no reference, and a value that names nothing Clever listed is a dangling
# reference for the snapshot to quarantine, never a reason to refuse the whole record.
Reference = Annotated[str | None, BeforeValidator(_blank_is_none)]
References = Annotated[list[str], BeforeValidator(_without_blanks)]

GRADES: Final = frozenset(
    {"InfantToddler", "Preschool", "PreKindergarten", "TransitionalKindergarten", "Kindergarten"}
    | {str(n) for n in range(1, 14)}
    | {"PostGraduate", "Ungraded", "Other", ""}
)
CONTACT_TYPES: Final = frozenset(
    {"Parent/Guardian", "Emergency", "Primary", "Secondary", "Family", "Other", ""}
)
RELATIONSHIPS: Final = frozenset({"Parent", "Grandparent", "Self", "Aunt/Uncle", "Sibling", "Other", ""})
PHONE_TYPES: Final = frozenset({"Cell", "Home", "Work", "Other", ""})
DISTRICT_STATES: Final = frozenset({"running", "pending", "error", "paused", "success", ""})
SUBJECTS: Final = frozenset(
    {
        "english/language arts",
        "math",
        "science",
        "social studies",
        "language",
        "homeroom/advisory",
        "interventions/online learning",
        "technology and engineering",
        "PE and health",
        "arts and music",
        "other",
        "",
    }
)

_reported_unknown: set[tuple[str, str]] = set()


def _known(value: str, allowed: frozenset[str], field: str) -> str:
    """Keep an enum value Clever added after this code was written; say so once per value."""
    if value not in allowed and (field, value) not in _reported_unknown:
        _reported_unknown.add((field, value))
        logger.warning("unknown Clever enum value kept", field=field, value=value)
    return value


class CleverModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """Clever sends null for many optional (x-nullable) fields: treat it as absent, not as an error."""
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data


class Name(CleverModel):
    first: str = ""
    middle: str = ""
    last: str = ""


class StudentRelationship(CleverModel):
    student: str = ""  # "" (or absent) links no student: the snapshot quarantines it as dangling
    type: str = ""
    relationship: str = ""

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _known(value, CONTACT_TYPES, "contact.type")

    @field_validator("relationship")
    @classmethod
    def _relationship(cls, value: str) -> str:
        return _known(value, RELATIONSHIPS, "contact.relationship")


class StudentRole(CleverModel):
    sis_id: str = ""
    state_id: str = ""
    student_number: str = ""
    dob: str = ""
    grade: str = ""
    school: Reference = None
    schools: References = Field(default_factory=list)

    @field_validator("grade")
    @classmethod
    def _grade(cls, value: str) -> str:
        return _known(value, GRADES, "student.grade")


class TeacherRole(CleverModel):
    sis_id: str = ""
    state_id: str = ""
    teacher_number: str = ""
    title: str = ""
    school: Reference = None
    schools: References = Field(default_factory=list)


class StaffRole(CleverModel):
    staff_id: str = ""
    title: str = ""
    department: str = ""
    schools: References = Field(default_factory=list)

    @property
    def sis_id(self) -> str:
        return self.staff_id


class ContactRole(CleverModel):
    sis_id: str = ""
    phone: str = ""
    phone_type: str = ""
    student_relationships: list[StudentRelationship] = Field(default_factory=list)

    @field_validator("phone_type")
    @classmethod
    def _phone_type(cls, value: str) -> str:
        return _known(value, PHONE_TYPES, "contact.phone_type")


class DistrictAdminRole(CleverModel):
    title: str = ""


class Roles(CleverModel):
    student: StudentRole | None = None
    teacher: TeacherRole | None = None
    staff: StaffRole | None = None
    contact: ContactRole | None = None
    district_admin: DistrictAdminRole | None = None


class User(CleverModel):
    id: CleverId
    district: Reference = None
    email: str = ""
    name: Name = Field(default_factory=Name)
    roles: Roles = Field(default_factory=Roles)


class District(CleverModel):
    id: CleverId
    name: str = ""
    state: str = ""
    error: str = ""
    pause_start: str = ""
    pause_end: str = ""
    last_sync: str = ""
    nces_id: str = ""

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        return _known(value, DISTRICT_STATES, "district.state")


class School(CleverModel):
    id: CleverId
    district: Reference = None
    name: str = ""
    nces_id: str = ""
    state_id: str = ""
    sis_id: str = ""
    school_number: str = ""
    low_grade: str = ""
    high_grade: str = ""


class Section(CleverModel):
    id: CleverId
    school: Reference = None  # none: the snapshot quarantines the section `without_school`
    district: Reference = None
    name: str = ""
    sis_id: str = ""
    subject: str = ""
    grade: str = ""
    period: str = ""
    course: Reference = None
    term_id: Reference = None
    teacher: Reference = None
    teachers: References = Field(default_factory=list)
    students: References = Field(default_factory=list)

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        return _known(value, SUBJECTS, "section.subject")


class Term(CleverModel):
    id: CleverId
    name: str = ""
    start_date: str = ""
    end_date: str = ""


class Course(CleverModel):
    id: CleverId
    name: str = ""
    number: str = ""


class Link(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    rel: str
    uri: str


class Envelope(BaseModel):
    """One item of a list: `{"data": {...}, "uri": "..."}`, strict on shape, the record kept raw."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    data: dict[str, Any]
    uri: str = ""


class Single(BaseModel):
    """One record by id (`GET /v3.0/users/{id}`): `{"data": {...}, "links": [...]}`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    data: dict[str, Any]


class Page(BaseModel):
    """One page of a Clever list response."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    data: list[Envelope]
    links: list[Link] = Field(default_factory=list)

    @property
    def next_uri(self) -> str | None:
        return next((link.uri for link in self.links if link.rel == "next"), None)


# The app's district tokens (`GET https://clever.com/oauth/tokens?owner_type=district`) ----------------


class TokenOwner(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    type: str
    id: CleverId


class DistrictToken(BaseModel):
    """One district's authorization of the app: the token is a SecretStr so that no log, repr or
    error message can show it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str = ""
    created: str = ""
    owner: TokenOwner
    access_token: SecretStr = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)

    @property
    def district_id(self) -> str:
        """The Clever id of the district that granted the token."""
        return self.owner.id


class TokenPage(BaseModel):
    """One page of the tokens list: unlike the Data API, its items are not wrapped in envelopes."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    data: list[DistrictToken]
    links: list[Link] = Field(default_factory=list)

    @property
    def next_uri(self) -> str | None:
        return next((link.uri for link in self.links if link.rel == "next"), None)
