"""Serves Clever's #DEMO_DISTRICT sandbox data (users, sections, district), with made-up schools."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from clever_simulator.fixed import FixedDistrict
from clever_simulator.roster import Record
from clever_simulator.vocabulary import GRADE_LABELS, PLACE_NAMES

_SCHOOL_KINDS = ("Academy", "Community School", "Preparatory School")
_GRADE_ORDER = ("PreKindergarten", *GRADE_LABELS)


def _records(path: Path) -> list[Record]:
    """The ``data`` objects of a v3.0 envelope file (one page of any length)."""
    envelope: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return [item["data"] for item in envelope["data"]]


def _grade_span(grades: set[str]) -> tuple[str, str]:
    known = sorted((g for g in grades if g in _GRADE_ORDER), key=_GRADE_ORDER.index)
    return (known[0], known[-1]) if known else ("", "")


def _schools(district_id: str, users: list[Record], sections: list[Record]) -> list[Record]:
    """One school per id that holds sections or is a student's primary school (three in the demo).

    A few users also list two other school ids in ``schools``; like schools a district does not
    share with an app, those stay dangling references.
    """
    grades: dict[str, set[str]] = defaultdict(set)
    for section in sections:
        grades[section["school"]].update([section["grade"]] if section.get("grade") else [])
    for user in users:
        student = user["roles"].get("student")
        if student and student.get("school"):
            grades[student["school"]].update([student["grade"]] if student.get("grade") else [])
    schools = []
    for number, school_id in enumerate(sorted(grades), start=1):
        low, high = _grade_span(grades[school_id])
        name = f"{PLACE_NAMES[number % len(PLACE_NAMES)]} {_SCHOOL_KINDS[(number - 1) % len(_SCHOOL_KINDS)]}"
        schools.append(
            {
                "created": "2017-12-05T02:08:53.000Z",
                "district": district_id,
                "high_grade": high,
                "id": school_id,
                "last_modified": "2021-03-02T22:25:00.000Z",
                "location": {
                    "address": f"{number}00 Demo Way",
                    "city": "New York",
                    "state": "NY",
                    "zip": "10001",
                },
                "low_grade": low,
                "name": name,
                "nces_id": f"3600001{number:05d}",
                "phone": f"(555) 555-01{number:02d}",
                "principal": {"email": f"principal{number}@example.com", "name": f"Principal {number}"},
                "school_number": f"0{number}",
                "sis_id": f"DEMO-{number}",
                "state_id": f"NY-DEMO-{number:03d}",
            }
        )
    return schools


def _terms(district_id: str, sections: list[Record]) -> list[Record]:
    term_ids = sorted({section["term_id"] for section in sections if section.get("term_id")})
    return [
        {
            "district": district_id,
            "end_date": "2021-06-25T00:00:00.000Z",
            "id": term_id,
            "name": f"Demo Term {number}",
            "start_date": "2020-09-08T00:00:00.000Z",
        }
        for number, term_id in enumerate(term_ids, start=1)
    ]


def _courses(district_id: str, sections: list[Record]) -> list[Record]:
    names: dict[str, str] = {}
    for section in sections:
        if section.get("course"):
            names.setdefault(section["course"], str(section.get("name", "")).split(" - ")[0])
    return [
        {"district": district_id, "id": course_id, "name": names[course_id], "number": f"D{number:04d}"}
        for number, course_id in enumerate(sorted(names), start=1)
    ]


def load_demo_district(folder: Path) -> FixedDistrict:
    """Clever's demo district from ``users.json``, ``sections.json`` and ``districts.json`` in folder."""
    district = _records(folder / "districts.json")[0]
    users = _records(folder / "users.json")
    sections = _records(folder / "sections.json")
    district_id = str(district["id"])
    return FixedDistrict(
        district,
        schools=_schools(district_id, users, sections),
        users=users,
        sections=sections,
        terms=_terms(district_id, sections),
        courses=_courses(district_id, sections),
    )
