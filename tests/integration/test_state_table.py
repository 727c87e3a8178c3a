"""The state table's audit log and per-school history, in moto (schema from template.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sis_sync import services
from sis_sync.model import AuditEntry
from tests.iam_guard import acting_as

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def entry(n: int, *school_ids: str) -> AuditEntry:
    return AuditEntry(
        district_id="d1",
        at=T0 + timedelta(minutes=n),
        actor="system",
        action=f"a{n}",
        school_ids=list(school_ids),
    )


def test_a_school_history_is_its_own_entries_newest_first_and_the_log_has_no_copies(aws: Any) -> None:
    # Given a district log where one school appears in 3 of 40 entries (one naming two schools)
    services.reset()
    state = services.state_table()
    for n in range(40):
        schools = ["s-1", "s-10"] if n in (3, 17) else ["s-1"] if n == 30 else [f"s-{100 + n}"]
        state.append_audit(entry(n, *schools))
    # When the school's history and the district's log are read (by the API, which shows them)
    with acting_as("ApiFunction"):
        history = state.audit_entries_of_school("d1", "s-1", limit=20)
        log, cursor = state.audit("d1", limit=100)
        other_history = state.audit_entries_of_school("d1", "s-10")
    # Then the history is exactly that school's entries (not s-10's), newest first
    assert [e.action for e in history] == ["a30", "a17", "a3"]
    assert [e.action for e in other_history] == ["a17", "a3"]
    # and the district log lists every entry once
    assert len(log) == 40
    assert cursor is None
    services.reset()
