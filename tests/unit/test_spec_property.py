"""A district generated from Clever's own OpenAPI definitions (../shared/clever/spec/v3.0.yml, read
at test time): every record the spec allows is placed or quarantined with a reason, the poll never
fails for it, and no field it is placed with is mangled (issue 10, "Spec conformance")."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sis_sync.clever.client import CleverClient
from sis_sync.polling import CleverPull, pull
from sis_sync.snapshot import RECORD_TYPES, RecordType

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "clever" / "spec" / "v3.0.yml"
pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Clever's OpenAPI spec is not at {SPEC}")

Wire = dict[str, Any]
Strategy = st.SearchStrategy[Any]
SCHOOLS = ("5a25ff950a5f621109000001", "5a25ff950a5f621109000002")
ROLES = ("student", "teacher", "staff", "contact")
STUDENT_IDS = tuple(f"5a25ffb0c1bc2a00360000{n:02d}" for n in range(6))
# Reference fields draw from what the district lists, "" (none, where the spec allows it) and
# ids it does not list; own ids are assigned, unique per listing, as Clever does.
REFERENCES: dict[str, Strategy] = {
    "school": st.sampled_from((*SCHOOLS, "", "5a25ff950a5f6211090000ff")),
    "student": st.sampled_from((*STUDENT_IDS, "", "5a25ffb0c1bc2a00360000ff")),
}
OTHER_REFERENCE = st.sampled_from(("", "5a25ff950a5f621109000abc"))
REFERENCE_FIELDS = {"district", "teacher", "teachers", "course", "term_id", "students", "schools"}
PROPERTY_SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def definitions() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return dict(spec["definitions"])


def from_schema(schema: dict[str, Any], defs: dict[str, Any], field: str = "") -> Strategy:
    """A strategy for any value `schema` allows (null where it is x-nullable)."""
    is_list = schema.get("type") == "array"
    if "$ref" in schema:
        strategy = from_schema(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    elif field == "id":
        strategy = st.just("")  # replaced by a unique id
    elif field.removesuffix("s") in REFERENCES:
        reference = REFERENCES[field.removesuffix("s")]
        strategy = st.lists(reference, max_size=3) if is_list else reference
    elif field in REFERENCE_FIELDS:
        strategy = st.lists(OTHER_REFERENCE, max_size=2) if is_list else OTHER_REFERENCE
    elif "enum" in schema:
        strategy = st.sampled_from(schema["enum"])
    elif schema.get("type") == "array":
        strategy = st.lists(from_schema(schema.get("items", {}), defs), max_size=2)
    elif schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        strategy = st.fixed_dictionaries(
            {}, optional={name: from_schema(sub, defs, name) for name, sub in properties.items()}
        )
    elif schema.get("pattern"):
        strategy = st.from_regex(schema["pattern"], fullmatch=True)
    else:
        strategy = st.text(max_size=8)
    return st.none() | strategy if schema.get("x-nullable") else strategy


@cache
def users_of(role: str) -> Strategy:
    """Users listed under `role`: usually with that role (whatever else they have), sometimes not."""
    defs = definitions()
    user = from_schema(defs["User"], defs)
    role_body = from_schema(defs[role.capitalize()], defs)
    with_role = st.tuples(user, role_body).map(
        lambda pair: pair[0] | {"roles": (pair[0].get("roles") or {}) | {role: pair[1]}}
    )
    return st.lists(st.one_of(with_role, with_role, with_role, user), max_size=5)


@cache
def sections() -> Strategy:
    defs = definitions()
    return st.lists(from_schema(defs["Section"], defs), max_size=4)


@st.composite
def districts(draw: st.DrawFn) -> dict[str, list[Wire]]:
    listings: dict[str, list[Wire]] = {}
    for role in ROLES:
        users = draw(users_of(role))
        prefix = {"student": "", "teacher": "t", "staff": "f", "contact": "c"}[role]
        for number, user in enumerate(users):
            user["id"] = STUDENT_IDS[number] if role == "student" else f"{prefix}{number}"
        listings[role] = users
    drawn = draw(sections())
    for number, section in enumerate(drawn):
        section["id"] = f"x{number}"
    listings["section"] = drawn
    return listings


def serve(listings: dict[str, list[Wire]]) -> CleverClient:
    schools = [{"id": school, "name": "S", "district": ""} for school in SCHOOLS]

    def respond(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v3.0/users":
            records = listings[request.url.params["role"]]
        else:
            records = {"/v3.0/schools": schools, "/v3.0/sections": listings["section"]}.get(path, [])
        return httpx.Response(200, json={"data": [{"data": record} for record in records], "links": []})

    http = httpx.Client(transport=httpx.MockTransport(respond))
    return CleverClient("https://api.clever.test", "t", http=http, sleep=lambda _: None)


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def expected(kind: str, wire: Wire) -> dict[str, Any]:
    """The fields a placed record must carry, read straight from the wire record (null = "")."""
    if kind == "section":
        return {
            field: text(wire.get(field))
            for field in ("sis_id", "name", "subject", "grade", "period", "course", "term_id", "teacher")
        } | {"teachers": sorted({t for t in wire.get("teachers") or [] if t})}
    role = wire["roles"][kind]
    name = wire.get("name") or {}
    fields = {"email": text(wire.get("email"))}
    if kind == "contact":
        joined = " ".join(text(name.get(part)) for part in ("first", "middle", "last") if name.get(part))
        return fields | {"name": joined} | {f: text(role.get(f)) for f in ("sis_id", "phone", "phone_type")}
    fields |= {f"{part}_name": text(name.get(part)) for part in ("first", "middle", "last")}
    own = {
        "student": ("sis_id", "dob", "grade", "student_number", "state_id"),
        "teacher": ("sis_id", "title", "teacher_number", "state_id"),
        "staff": ("title", "department"),
    }[kind]
    fields |= {f: text(role.get(f)) for f in own}
    return fields | ({"sis_id": text(role.get("staff_id"))} if kind == "staff" else {})


def placed(pulled: CleverPull, kind: RecordType, clever_id: str) -> list[dict[str, Any]]:
    return [r for records in pulled.records.values() for r in records[kind] if r["id"] == clever_id]


@PROPERTY_SETTINGS
@given(districts())
def test_every_spec_valid_record_is_placed_or_quarantined_and_never_mangled(
    listings: dict[str, list[Wire]],
) -> None:
    # Given a district generated from Clever's definitions, served as Clever would
    # When it is pulled (a failure here is the whole district's poll failing)
    pulled = pull(serve(listings))
    # Then each record is placed, with its fields intact, or quarantined with a reason
    quarantined = {(entry.record_type, entry.clever_id): entry.reason for entry in pulled.quarantined}
    for kind in RECORD_TYPES:
        for wire in listings[kind]:
            copies = placed(pulled, kind, wire["id"])
            if not copies:
                assert (kind, wire["id"]) in quarantined, f"{kind} {wire['id']} dropped silently"
                continue
            has_role = kind == "section" or bool((wire.get("roles") or {}).get(kind))
            assert has_role, f"{kind} {wire['id']} placed without its role"
            for record in copies:
                assert {field: record[field] for field in expected(kind, wire)} == expected(kind, wire)
    assert set(pulled.quarantine) == {"duplicate_ids", "dangling_references", "without_school", "no_role"}
