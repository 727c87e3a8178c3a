"""Undo's pure pieces: the items that revert a change set, who may undo what and when, and the
`undone` hold a later poll keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings

from sis_sync.api.holds import approved_again, release_name
from sis_sync.applying import roster_items
from sis_sync.changes import diff
from sis_sync.model import AppliedChange, Decision, PendingChange, School, SchoolStatus, SnapshotRef
from sis_sync.rules import Hold, HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import RECORD_TYPES, Records
from sis_sync.store.releases import Approval
from sis_sync.store.roster_table import RosterItem
from sis_sync.undo import keep_undone, refusal, reverting_items
from tests.unit.strategies import reissue_ids, rosters
from tests.unit.test_changes import roster, student

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PROPERTY_SETTINGS = settings(max_examples=100, derandomize=True, deadline=None)


def table_after(table: dict[str, RosterItem], items: list[RosterItem]) -> dict[str, RosterItem]:
    """A roster table (by `<type>#<id>`) after whole-item puts, as DynamoDB keeps them."""
    return table | {f"{item.record_type}#{item.clever_id}": item for item in items}


def active(table: dict[str, RosterItem]) -> dict[str, Any]:
    return {key: item.record for key, item in table.items() if item.archived_at is None}


def as_table(records: Records) -> dict[str, Any]:
    return {f"{kind}#{record['id']}": record for kind in RECORD_TYPES for record in records.get(kind, [])}


@PROPERTY_SETTINGS
@given(before=rosters(), after=rosters())
def test_reverting_a_change_set_leaves_exactly_the_roster_it_was_applied_to(
    before: Records, after: Records
) -> None:
    # Given a roster table holding `before`, to which the change set to `after` was applied
    table = table_after({}, list(roster_items(diff(None, before), "s1", "t1")))
    change_set = diff(before, after)
    table = table_after(table, list(roster_items(change_set, "s2", "t2")))
    assert active(table) == as_table(after)
    # When its reverting items are put
    table = table_after(table, list(reverting_items(change_set, "undo-s2", "t3")))
    # Then the active records are `before`'s, each under its own id; what `after` alone had is archived
    assert active(table) == as_table(before)
    assert {key for key, item in table.items() if item.archived_at} == table.keys() - as_table(before).keys()


@PROPERTY_SETTINGS
@given(before=rosters())
def test_reverting_a_re_key_brings_the_old_ids_back(before: Records) -> None:
    after = reissue_ids(before)
    change_set = diff(before, after)
    table = table_after({}, list(roster_items(diff(None, before), "s1", "t1")))
    table = table_after(table, list(roster_items(change_set, "s2", "t2")))
    table = table_after(table, list(reverting_items(change_set, "undo-s2", "t3")))
    assert active(table) == as_table(before)


def test_a_removed_record_comes_back_under_its_id_and_an_added_one_is_archived() -> None:
    before = roster(student=[student("a1", "sis-a"), student("b1", "sis-b")])
    after = roster(student=[student("b1", "sis-b", first_name="Renamed"), student("c1", "sis-c")])
    items = {item.clever_id: item for item in reverting_items(diff(before, after), "undo-s2", "t")}
    assert (items["a1"].archived_at, items["a1"].record["id"]) == (None, "a1")
    assert items["b1"].record == student("b1", "sis-b")
    assert items["c1"].archived_at == "t"


def school(**fields: Any) -> School:
    ref = SnapshotRef(sync_id="s2", key="k2", sha256="h2")
    base = School(
        district_id="d",
        school_id="x",
        name="X",
        status=SchoolStatus.CONNECTED,
        applied=ref,
        last_applied=AppliedChange(
            sync_id="s2", at=T0, before=SnapshotRef(sync_id="s1", key="k1", sha256="h1")
        ),
    )
    return base.model_copy(update=fields)


def test_only_the_latest_applied_change_set_can_be_undone_for_30_days() -> None:
    assert refusal(school(), "s2", T0 + timedelta(days=30)) is None
    assert refusal(school(), "s2", T0 + timedelta(days=30, microseconds=1)) == "too_old"
    assert refusal(school(), "s1", T0) == "not_latest"
    assert refusal(school(last_applied=None), "s2", T0) == "not_latest"  # undone already
    assert refusal(school(applied=None), "s2", T0) == "not_latest"


def test_a_newer_pending_change_set_refuses_the_undo_but_the_rest_of_the_same_one_does_not() -> None:
    pending = PendingChange(
        sync_id="s3", key="k3", sha256="h3", decision=Decision.APPLY, evaluated_at=T0, csv_key="c"
    )
    assert refusal(school(pending=pending), "s2", T0) == "not_latest"  # on its way to the roster
    held = pending.model_copy(update={"decision": Decision.HOLD})
    assert refusal(school(pending=held, status=SchoolStatus.ON_HOLD), "s2", T0) == "not_latest"
    # (apply safe changes applied part of s2: the rest of it waits, and all of s2 can be undone)
    rest = held.model_copy(update={"sync_id": "s2"})
    assert refusal(school(pending=rest, status=SchoolStatus.ON_HOLD), "s2", T0) is None


UNDONE = Hold(reason=HoldReason.UNDONE, detail={"applied_at": T0.isoformat()})


def test_a_poll_keeps_the_undone_hold_on_a_changed_set_but_not_on_an_empty_one() -> None:
    before = roster(student=[student("a1", "sis-a")])
    changed = roster(student=[student("a1", "sis-a"), student("c1", "sis-c")])
    waiting = school(status=SchoolStatus.ON_HOLD, holds=[UNDONE])
    thresholds = HoldThresholds()

    assert keep_undone(waiting, evaluate(before, changed, thresholds)).holds == (UNDONE,)
    assert keep_undone(waiting, evaluate(before, before, thresholds)).holds == ()
    assert keep_undone(school(), evaluate(before, changed, thresholds)).holds == ()


def test_clearing_an_undone_change_set_starts_a_new_release_not_the_finished_one() -> None:
    first = release_name([Approval(school_id="x", sync_id="s2")])
    again = approved_again(school(status=SchoolStatus.ON_HOLD, holds=[UNDONE]))
    assert again
    assert release_name([Approval(school_id="x", sync_id="s2", again=again)]) != first
    assert approved_again(school()) == ""
