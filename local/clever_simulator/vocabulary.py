"""Built-in word lists and Clever enum values the generated district draws from."""

from __future__ import annotations

from typing import Final

FIRST_NAMES: Final = (
    "Aaliyah", "Aarav", "Abigail", "Adrian", "Aiden", "Alejandro", "Alexis", "Amara", "Amelia", "Andre",
    "Angela", "Anthony", "Aria", "Ava", "Benjamin", "Brandon", "Brianna", "Caleb", "Camila", "Carlos",
    "Carmen", "Charlotte", "Chloe", "Christopher", "Daniel", "Darius", "David", "Destiny", "Diego",
    "Dmitri", "Elena", "Elijah", "Emily", "Emma", "Ethan", "Evelyn", "Fatima", "Gabriel", "Grace",
    "Hana", "Harper", "Hector", "Imani", "Isaac", "Isabella", "Jackson", "Jamal", "James", "Jasmine",
    "Javier", "Jayden", "Jennifer", "Jose", "Joshua", "Julia", "Kai", "Kenji", "Keisha", "Layla",
    "Leah", "Liam", "Lucas", "Luis", "Maria", "Mason", "Maya", "Mei", "Mia", "Michael", "Mohammed",
    "Nadia", "Naomi", "Nathan", "Noah", "Nora", "Olivia", "Omar", "Priya", "Rafael", "Ravi", "Rosa",
    "Samuel", "Santiago", "Sara", "Sebastian", "Sofia", "Tariq", "Thomas", "Valentina", "Victor",
    "William", "Xavier", "Yara", "Yusuf", "Zara", "Zoe",
)  # fmt: skip

LAST_NAMES: Final = (
    "Abbott", "Acosta", "Adeyemi", "Ahmed", "Alvarez", "Anderson", "Baker", "Banerjee", "Bennett",
    "Brooks", "Brown", "Campbell", "Castillo", "Chen", "Clark", "Cohen", "Collins", "Cruz", "Davis",
    "Diaz", "Dubois", "Edwards", "Evans", "Fischer", "Flores", "Garcia", "Gomez", "Gonzalez", "Green",
    "Gupta", "Hall", "Harris", "Hernandez", "Hill", "Huang", "Jackson", "Johnson", "Jones", "Kim",
    "King", "Kowalski", "Lee", "Lewis", "Lopez", "Martin", "Martinez", "Mendoza", "Miller", "Mitchell",
    "Moore", "Morales", "Murphy", "Nakamura", "Nelson", "Nguyen", "Novak", "Okafor", "Ortiz", "Park",
    "Patel", "Perez", "Petrov", "Phillips", "Ramirez", "Reyes", "Rivera", "Roberts", "Robinson",
    "Rodriguez", "Rossi", "Sanchez", "Schmidt", "Scott", "Shah", "Silva", "Singh", "Smith", "Sullivan",
    "Tanaka", "Taylor", "Thomas", "Thompson", "Torres", "Tran", "Turner", "Walker", "Wang", "Washington",
    "White", "Williams", "Wilson", "Wright", "Yamamoto", "Young", "Zhang",
)  # fmt: skip

MIDDLE_INITIALS: Final = "ABCDEFGHJKLMNPRSTW"

PLACE_NAMES: Final = (
    "Riverside", "Lakeview", "Maple Grove", "Cedar Hill", "Oak Park", "Harbor", "Fairview", "Pinecrest",
    "Brookside", "Sunset", "Highland", "Meadowbrook", "Westfield", "Eastgate", "Northwood", "Southport",
    "Willow Creek", "Stonebridge", "Clearwater", "Hillcrest",
)  # fmt: skip

CITIES: Final = (("Springfield", "IL", "627"), ("Riverton", "NY", "104"), ("Fairhaven", "MA", "027"))

GRADE_LABELS: Final = ("Kindergarten", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
"""Clever grade values indexed by grade number (Kindergarten = 0)."""

RACES: Final = (
    ("Caucasian", 40),
    ("Black or African American", 22),
    ("Asian", 14),
    ("Two or More Races", 8),
    ("American Indian", 2),
    ("Hawaiian or Other Pacific Islander", 1),
    ("Unknown", 8),
    ("", 5),
)

TEACHER_TITLES: Final = ("Teacher", "Lead Teacher", "Special Education Teacher", "ESL Teacher")
STAFF_TITLES: Final = (
    ("Counselor", "Student Services"),
    ("Nurse", "Health"),
    ("Librarian", "Library"),
    ("Office Manager", "Front Office"),
    ("Assistant Principal", "Administration"),
    ("Social Worker", "Student Services"),
)
EMAIL_DOMAINS: Final = ("example.com", "example.net", "example.org")
