"""The state table's batch reads and writes (what Clear holds for 1,800 schools rests on) and its
compact school-history items, against a fake DynamoDB client that refuses part of a batch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from sis_sync.model import AuditEntry
from sis_sync.store.roster_table import UnprocessedItemsError
from sis_sync.store.state_table import StateTable

TABLE = "state"
AT = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC)


class FakeClient:
    """Answers batch calls; the first `refuse` calls hand back their last two requests unprocessed."""

    def __init__(self, refuse: int = 1) -> None:
        self.refuse = refuse
        self.requests: list[dict[str, Any]] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _refusing(self, request: dict[str, Any]) -> bool:
        with self._lock:
            self.requests.append(request)
            refusing = self.refuse > 0
            self.refuse -= 1
            return refusing

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        puts = RequestItems[TABLE]
        assert len(puts) <= 25
        kept, left = (puts[:-2], puts[-2:]) if self._refusing(RequestItems) else (puts, [])
        for put in kept:
            item = put["PutRequest"]["Item"]
            self.stored[item["sk"]] = item
        return {"UnprocessedItems": {TABLE: left} if left else {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        asked = RequestItems[TABLE]
        assert len(asked["Keys"]) <= 100
        keys = asked["Keys"]
        kept, left = (keys[:-2], keys[-2:]) if self._refusing(RequestItems) else (keys, [])
        found = [self.stored[key["sk"]] for key in kept if key["sk"] in self.stored]
        unprocessed = {TABLE: {**asked, "Keys": left}} if left else {}
        return {"Responses": {TABLE: found}, "UnprocessedKeys": unprocessed}


def state_of(client: FakeClient) -> StateTable:
    return StateTable(SimpleNamespace(name=TABLE, meta=SimpleNamespace(client=client)))


def test_a_batch_write_sends_again_what_dynamodb_left_unprocessed_25_items_a_call() -> None:
    # Given 60 items and a table that leaves part of the first batch unwritten
    client = FakeClient(refuse=1)
    items = [{"pk": "DISTRICT#d", "sk": f"HISTORY#s{n:02d}#x"} for n in range(60)]
    # When they are put
    state_of(client)._batch_put(items)
    # Then every item is stored, in 3 batches and one more call for the 2 refused
    assert sorted(client.stored) == sorted(item["sk"] for item in items)
    assert len(client.requests) == 4


def test_a_batch_write_that_stays_unprocessed_fails_rather_than_losing_items() -> None:
    client = FakeClient(refuse=100)
    with pytest.raises(UnprocessedItemsError, match="2 items left unwritten"):
        state_of(client)._batch_put([{"pk": "DISTRICT#d", "sk": f"HISTORY#s{n}#x"} for n in range(5)])


def test_a_batch_read_asks_again_for_unprocessed_keys_with_the_same_projection() -> None:
    # Given 250 stored schools and a table that leaves two keys of its first answer unread
    client = FakeClient(refuse=0)
    for n in range(250):
        client.stored[f"SCHOOL#s{n:03d}"] = {"school_id": f"s{n:03d}", "status": "on_hold"}
    client.refuse = 1
    # When they are read as Clear holds reads them (and one school that does not exist)
    states = state_of(client).hold_states(
        "d", [f"s{n:03d}" for n in range(250)] + ["gone"], also=["undone_applied_at"]
    )
    # Then every school is there, each asked for once more at most, with the projection kept
    assert sorted(states) == [f"s{n:03d}" for n in range(250)]
    assert len(client.requests) == 4
    assert {request[TABLE]["ProjectionExpression"] for request in client.requests} == {
        "school_id, #status, pending.sync_id, undone_applied_at"
    }


def test_a_school_history_item_leaves_out_what_its_key_says_and_reads_back_whole() -> None:
    # Given an action naming one school, and one naming two
    alone = AuditEntry(
        district_id="d", at=AT, actor="a@x.org", action="clear_holds", school_ids=["s1"], result="stale"
    )
    both = AuditEntry(
        district_id="d", at=AT, actor="system", action="matched", school_ids=["s1", "s2"], detail={"n": 2}
    )
    # When their items are made
    [_, alone_history] = StateTable._audit_items(alone)
    [_, both_history, _] = StateTable._audit_items(both)
    # Then a history item carries no district, no school when it is the key's, no empty detail
    assert set(alone_history) == {"pk", "sk", "at", "actor", "action", "result", "sync_ids"}
    assert (both_history["school_ids"], both_history["detail"]) == (["s1", "s2"], {"n": 2})
    # And a school's history reads the entries back as they were, old full items too
    full = {**alone_history, "district_id": "d", "school_ids": ["s1"], "detail": {}}
    table = SimpleNamespace(query=lambda **_: {"Items": [alone_history, both_history, full]})
    read = StateTable(table).audit_entries_of_school("d", "s1")
    assert read == [alone, both, alone]
