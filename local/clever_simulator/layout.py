"""Index arithmetic of a generated district: which school, grade, section or student an index is.

Everything here is O(schools) in memory: students, teachers and sections of one school occupy a
contiguous index block, so any record is located with a bisect over per-school prefix sums.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from dataclasses import dataclass
from math import gcd

from clever_simulator.determinism import Draw

_DUAL_KEY = 0xD0A1
_MULTIPLIERS = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43)


@dataclass(frozen=True, slots=True)
class Level:
    """A school type: the grades it serves and the subjects of its daily periods."""

    name: str
    grades: tuple[int, ...]
    subjects: tuple[str, ...]


ELEMENTARY = Level("Elementary School", (0, 1, 2, 3, 4, 5), ("homeroom/advisory", "arts and music"))
MIDDLE = Level(
    "Middle School",
    (6, 7, 8),
    ("homeroom/advisory", "english/language arts", "math", "science", "social studies", "PE and health"),
)
HIGH = Level(
    "High School",
    (9, 10, 11, 12),
    (
        "english/language arts",
        "math",
        "science",
        "social studies",
        "language",
        "technology and engineering",
        "arts and music",
    ),
)
LEVELS = (ELEMENTARY, MIDDLE, HIGH)


@dataclass(frozen=True, slots=True)
class SectionSlot:
    """Where a section sits: school, grade block within the school, period and group."""

    school: int
    grade_block: int
    period: int
    group: int
    local_index: int


@dataclass(frozen=True, slots=True)
class CourseSlot:
    level: Level
    grade: int
    period: int


def _prefix_sums(sizes: list[int]) -> list[int]:
    sums = [0]
    for size in sizes:
        sums.append(sums[-1] + size)
    return sums


def _split(total: int, weights: list[float]) -> list[int]:
    """Integer sizes proportional to weights that add up to total exactly."""
    cumulative = 0.0
    whole = sum(weights)
    bounds = [0]
    for weight in weights:
        cumulative += weight
        bounds.append(round(total * cumulative / whole))
    return [b - a for a, b in itertools.pairwise(bounds)]


class DistrictLayout:
    """Sizes and positions of every generated record, derived from the district parameters."""

    def __init__(
        self,
        *,
        seed: int,
        schools: int,
        students: int,
        contacts_per_student: float,
        students_per_teacher: int,
        students_per_section: int,
        staff_per_school: int,
        dual_enrollment_share: float,
        co_teaching_share: float,
    ) -> None:
        if schools < 1 or students < 0:
            raise ValueError("a district needs at least one school and a non-negative student count")
        self.seed = seed
        self.schools = schools
        self.students = students
        self.students_per_section = max(1, students_per_section)
        self.staff_per_school = staff_per_school
        self.dual_enrollment_share = dual_enrollment_share if schools > 1 else 0.0
        self.co_teaching_share = co_teaching_share
        self._contacts_milli = max(0, round(contacts_per_student * 1000))
        weights = [
            (1.4 if self.level(s) is HIGH else 1.0) * (0.8 + Draw(seed, 0x5C, s).below(41) / 100)
            for s in range(schools)
        ]
        self.student_starts = _prefix_sums(_split(students, weights))
        self.teacher_starts = _prefix_sums(
            [math.ceil(self.students_in(s) / max(1, students_per_teacher)) for s in range(schools)]
        )
        self.section_starts = _prefix_sums([self._sections_in(s) for s in range(schools)])

    # -- schools and levels --

    def level(self, school: int) -> Level:
        return LEVELS[school % len(LEVELS)]

    def students_in(self, school: int) -> int:
        return self.student_starts[school + 1] - self.student_starts[school]

    def second_school(self, school: int) -> int:
        """The school a dual-enrolled student or shared teacher of ``school`` also attends."""
        return (school + 1) % self.schools

    def previous_school(self, school: int) -> int:
        return (school - 1) % self.schools

    # -- students --

    def school_of_student(self, index: int) -> int:
        return bisect_right(self.student_starts, index) - 1

    def grade_blocks(self, school: int) -> list[tuple[int, int, int]]:
        """(grade, first local index, size) for each grade of the school."""
        size = self.students_in(school)
        grades = self.level(school).grades
        bounds = [k * size // len(grades) for k in range(len(grades) + 1)]
        return [(grade, bounds[k], bounds[k + 1] - bounds[k]) for k, grade in enumerate(grades)]

    def grade_of_student(self, index: int) -> int:
        school = self.school_of_student(index)
        local = index - self.student_starts[school]
        for grade, first, size in self.grade_blocks(school):
            if local < first + size:
                return grade
        return self.level(school).grades[-1]

    def is_dual_enrolled(self, index: int) -> bool:
        return self.dual_enrollment_share > 0 and Draw(self.seed, _DUAL_KEY, 1, index).chance(
            self.dual_enrollment_share
        )

    # -- teachers and staff --

    @property
    def teachers(self) -> int:
        return self.teacher_starts[-1]

    def teachers_in(self, school: int) -> int:
        return self.teacher_starts[school + 1] - self.teacher_starts[school]

    def school_of_teacher(self, index: int) -> int:
        return bisect_right(self.teacher_starts, index) - 1

    def teaches_at_two_schools(self, index: int) -> bool:
        return self.schools > 1 and Draw(self.seed, _DUAL_KEY, 2, index).chance(0.05)

    @property
    def staff(self) -> int:
        return self.schools * self.staff_per_school

    def school_of_staff(self, index: int) -> int:
        return index // self.staff_per_school

    # -- contacts: student i owns contacts [first_contact(i), first_contact(i + 1)) --

    @property
    def contacts(self) -> int:
        return self.first_contact(self.students)

    def first_contact(self, student: int) -> int:
        return student * self._contacts_milli // 1000

    def student_of_contact(self, contact: int) -> int:
        return ((contact + 1) * 1000 - 1) // self._contacts_milli

    # -- sections: per school, grade-major, then period, then group of students_per_section --

    def _groups(self, size: int) -> int:
        return math.ceil(size / self.students_per_section)

    def _sections_in(self, school: int) -> int:
        periods = len(self.level(school).subjects)
        return sum(periods * self._groups(size) for _, _, size in self.grade_blocks(school))

    @property
    def sections(self) -> int:
        return self.section_starts[-1]

    def section_slot(self, index: int) -> SectionSlot:
        school = bisect_right(self.section_starts, index) - 1
        local = index - self.section_starts[school]
        periods = len(self.level(school).subjects)
        offset = local
        block = 0
        for block, (_, _, size) in enumerate(self.grade_blocks(school)):
            in_block = periods * self._groups(size)
            if offset < in_block:
                groups = self._groups(size)
                return SectionSlot(school, block, offset // groups, offset % groups, local)
            offset -= in_block
        raise IndexError(index)

    def section_students(self, slot: SectionSlot) -> list[int]:
        """Student indices of a section: a period-specific permutation of the grade, cut into groups."""
        _, first, size = self.grade_blocks(slot.school)[slot.grade_block]
        base = self.student_starts[slot.school] + first
        multiplier = next(
            (m for m in _MULTIPLIERS[slot.period % len(_MULTIPLIERS) :] + _MULTIPLIERS if gcd(m, size) == 1),
            1,
        )
        shift = slot.period * 5
        start = slot.group * self.students_per_section
        stop = min(start + self.students_per_section, size)
        return sorted(base + (multiplier * j + shift) % size for j in range(start, stop))

    def section_teachers(self, slot: SectionSlot) -> list[int]:
        count = self.teachers_in(slot.school)
        first = self.teacher_starts[slot.school]
        lead = first + slot.local_index % count
        if count > 1 and Draw(self.seed, 0xC0, slot.school, slot.local_index).chance(self.co_teaching_share):
            return [lead, first + (slot.local_index + 1) % count]
        return [lead]

    # -- courses: one per (level, grade, period subject) --

    @property
    def courses(self) -> int:
        return sum(len(level.grades) * len(level.subjects) for level in LEVELS)

    def course_slot(self, index: int) -> CourseSlot:
        offset = index
        for level in LEVELS:
            size = len(level.grades) * len(level.subjects)
            if offset < size:
                return CourseSlot(
                    level, level.grades[offset // len(level.subjects)], offset % len(level.subjects)
                )
            offset -= size
        raise IndexError(index)

    def course_of_section(self, slot: SectionSlot) -> int:
        level = self.level(slot.school)
        index = 0
        for other in LEVELS:
            if other is level:
                break
            index += len(other.grades) * len(other.subjects)
        return index + slot.grade_block * len(level.subjects) + slot.period
