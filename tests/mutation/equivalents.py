"""Mutants that cannot change behaviour, each with the reason; the score is over the others.

Keys are as `make mutation` prints them (file, function, what changed): they name the change,
not the line, so they stay valid when code moves. A listed mutant that a test kills is reported as
wrongly listed, and a key that matches no mutant any more as stale.
"""

from __future__ import annotations

# Snapshot records are total TypedDicts (snapshot.py): every field is present, so a `.get` default
# is never used. ChangeSet.previous_counts always holds all five record types (_diff, from_document).
_ALWAYS_PRESENT = (
    "the field is always present (snapshot records are total TypedDicts), so the default is unused"
)
_KEY_TAG = "the tag only keeps key kinds apart; '' is still distinct from the other tags"
_CSV_FALLBACK = "turns off the fast path only: csv.writer then writes the same line, slower"
_SHORTCUT = "an early exit: without it the same code finds nothing and returns the same result, slower"
_LINKS_SHORTCUT = "a shortcut: the general path (a set per contact) lists the same students"

EQUIVALENT: dict[str, str] = {
    # rules.py
    "rules.py:large_removals: constant: 0 -> 1": (
        "previous_counts always has every record type (_diff and from_document fill all five)"
    ),
    "rules.py:too_many_parent_connections: delete: 'if not touched:'": _SHORTCUT,
    "rules.py:too_many_parent_connections: delete: 'if not reaching:'": _SHORTCUT,
    "rules.py:too_many_parent_connections: constant: '' -> 'XX'": (
        "a flagged student is always in the school's student list: the partitioner quarantines "
        "relationships to students outside the school, so the name default is unused"
    ),
    "rules.py:_student_names: delete: 'wanted = set(wanted)'": (
        "`in` on the dict-keys view it is given is the same hash lookup as on a set"
    ),
    "rules.py:_student_names: constant: 'student' -> ''": (
        "display_name treats every type but contact and section alike, '' included"
    ),
    "rules.py:emergency_contacts: delete: 'if not blocked:'": _SHORTCUT,
    "rules.py:_new_blocked_relationships: delete: 'if not new_blocked:'": _SHORTCUT,
    # the cheap blocked-type check before the exact one (session 6)
    "rules.py:emergency_contacts: delete: 'if not _has_blocked_type(change.record, blocked):'": _SHORTCUT,
    "rules.py:emergency_contacts: delete: 'continue'": _SHORTCUT,
    "rules.py:_has_blocked_type: constant: False -> True": (
        "a removed contact then reaches the exact check, which finds no new relationship on it: " + _SHORTCUT
    ),
    "rules.py:_has_blocked_type: constant: False -> True #2": (
        "every contact then reaches the exact check, which finds the same relationships: " + _SHORTCUT
    ),
    # changes.py
    "changes.py:display_name: constant: '' -> 'XX'": _ALWAYS_PRESENT,
    "changes.py:_note_remaining_roles: delete: 'if not removed:'": _SHORTCUT,
    "changes.py:_sis_key: constant: '' -> 'XX'": _ALWAYS_PRESENT,
    "changes.py:_contact_keys: constant: '' -> 'XX'": _ALWAYS_PRESENT,
    "changes.py:_contact_keys: constant: '' -> 'XX' #2": _ALWAYS_PRESENT,
    "changes.py:_contact_keys: constant: '' -> 'XX' #3": _ALWAYS_PRESENT,
    "changes.py:_student_keys: constant: '' -> 'XX'": _ALWAYS_PRESENT,
    "changes.py:_student_keys: constant: '' -> 'XX' #2": _ALWAYS_PRESENT,
    "changes.py:_student_keys: constant: '' -> 'XX' #3": _ALWAYS_PRESENT,
    "changes.py:_student_keys: constant: 'name+dob' -> ''": _KEY_TAG,
    "changes.py:_match_reissued_ids: delete: 'if not vanished or not appeared:'": _SHORTCUT,
    "changes.py:_match_reissued_ids: boolean: 'not vanished or not appeared' -> 'not vanished and (not appeared)'": _SHORTCUT,  # noqa: E501
    "changes.py:_match_reissued_ids: delete: 'break'": _SHORTCUT,
    "changes.py:_sis_key: constant: 'sis_id' -> '' #2": _KEY_TAG,
    "changes.py:_pair_by_key: constant: 1 -> 0": "min() of one option is that option: speed only",
    "changes.py:_pair_by_sis_id: compare: 'len(untaken) + len(keyless) < len(vanished)' -> 'len(untaken) + len(keyless) <= len(vanished)'": (  # noqa: E501
        "always the general path, which _pair_by_sis_id only speeds up: same pairs, slower"
    ),
    "changes.py:_pair_by_sis_id: binary: 'len(untaken) + len(keyless)' -> 'len(untaken) - len(keyless)'": (
        "the general path whenever a vanished record lacks sis_id, which _pair_by_sis_id only speeds up"
    ),
    # re-key speed, session 7: sis_id read with dict.get(…, "") in C-level passes, ASCII phones in C
    "changes.py:_pair_by_sis_id: constant: '' -> 'XX'": _ALWAYS_PRESENT,
    "changes.py:_pair_by_sis_id: constant: '' -> 'XX' #3": _ALWAYS_PRESENT,
    "changes.py:_pair_by_sis_id: constant: True -> False": (
        "zip(strict=True) of two lists built from the same list: strict only checks their lengths"
    ),
    "changes.py:_digits: delete: 'if phone.isascii():'": (
        "the regex finds the same digits in an ASCII phone: the bytes.translate path is speed only"
    ),
    "changes.py:_contact_keys: constant: 'name+email' -> ''": _KEY_TAG,
    "changes.py:_contact_keys: constant: 'name+phone' -> ''": _KEY_TAG,
    "changes.py:_diff_type: boolean: 'vanished and appeared' -> 'vanished or appeared'": (
        "_match_reissued_ids stops at once when either list is empty: " + _SHORTCUT
    ),
    "changes.py:changed_fields: delete: 'if len(old) == len(new):'": (
        "the general path gives the same names for same-shaped records; the fast path is speed only"
    ),
    "changes.py:_diff_type: delete: 'if not previous:'": (
        "with nothing applied the general path also makes every record an addition, in id order: " + _SHORTCUT
    ),
    # added with the contact columns, apply-safe and the pause (session 3)
    "changes.py:from_document: constant: 0 -> 1": (
        "to_document writes every record type's previous count, so the default is unused"
    ),
    "changes_csv.py:<module>: constant: 64 -> 65": "the chunk size: the bytes written are the same",
    "changes_csv.py:<module>: constant: 1024 -> 1025": "the chunk size: the bytes written are the same",
    "changes_csv.py:_rows_of_type: constant: '' -> 'XX' #3": (
        _ALWAYS_PRESENT + " (every record type has sis_id)"
    ),
    "changes_csv.py:linked_student_names: constant: 'student' -> '' #2": (
        "display_name names every type but contact and section as a person, as it does a student"
    ),
    "changes_csv.py:linked_student_names: delete: 'if not unnamed:'": _SHORTCUT,
    "changes_csv.py:linked_student_names: delete: 'break'": _SHORTCUT,
    "changes_csv.py:iter_changes_csv: constant: 0 -> 1": "where a chunk ends: the bytes written are the same",
    "changes_csv.py:iter_changes_csv: constant: 0 -> 1 #2": "where a chunk ends: the bytes written are the same",  # noqa: E501
    "changes_csv.py:csv_line: delete: 'if line and line.count(\\',\\') == len(row) - 1 and (\\'\"\\' not in line) and (\\'\\\\r\\' not in line...'": _CSV_FALLBACK,  # noqa: E501
    "changes_csv.py:csv_line: constant: ',' -> '' #2": _CSV_FALLBACK,
    "changes_csv.py:csv_line: constant: '\"' -> ''": _CSV_FALLBACK,
    "changes_csv.py:csv_line: constant: '\\r' -> ''": _CSV_FALLBACK,
    "changes_csv.py:csv_line: constant: '\\n' -> ''": _CSV_FALLBACK,
    # the batch-checked CSV lines and the one-relationship contact (session 6)
    "changes_csv.py:_contact_cells: delete: 'if len(relationships) == 1:'": (
        "the loop gives the one relationship's type and student the same: the shortcut is speed only"
    ),
    "changes_csv.py:<module>: constant: 256 -> 257": "how many rows are checked at once: the same lines",
    "changes_csv.py:_lines_of_type: constant: '' -> 'XX'": (
        "what joins a batch's lines for the check adds no comma, quote or line break: the same verdict"
    ),
    "changes_csv.py:_nothing_to_guard_or_quote: constant: ',' -> ''": _CSV_FALLBACK,
    "changes_csv.py:_nothing_to_guard_or_quote: binary: '(len(CSV_HEADER) - 1) * rows' -> '(len(CSV_HEADER) - 1) / rows'": _CSV_FALLBACK,  # noqa: E501
    "changes_csv.py:_nothing_to_guard_or_quote: binary: 'len(CSV_HEADER) - 1' -> 'len(CSV_HEADER) + 1'": _CSV_FALLBACK,  # noqa: E501
    "changes_csv.py:_nothing_to_guard_or_quote: constant: '\"' -> ''": _CSV_FALLBACK,
    "changes_csv.py:iter_changes_csv: constant: 1 -> 0": (
        "the size before a batch is always under chunk_chars: from its first entry the same line is found"
    ),
    # the re-key's hold rules (session 7)
    "rules.py:_links: delete: 'if max(map(len, relationships), default=0) <= 1:'": _LINKS_SHORTCUT,
    "rules.py:_links: compare: 'max(map(len, relationships), default=0) <= 1' -> 'max(map(len, relationships), default=0) < 1'": _LINKS_SHORTCUT,  # noqa: E501
    "rules.py:_links: constant: 0 -> 1": _LINKS_SHORTCUT + " (no contacts: either way an empty list)",
    "rules.py:_links: constant: 1 -> 0": _LINKS_SHORTCUT,
    "rules.py:_unchanged_contacts: delete: 'if len(changed) == len(contacts):'": _SHORTCUT,
    "rules.py:emergency_contacts: delete: 'if not _blocked_types_among(contacts, blocked):'": _SHORTCUT,
}
