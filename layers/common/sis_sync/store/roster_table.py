"""The roster table: the applied people, sections and contact links of each school.

One partition per school (`pk = ROSTER#<district>#<school>`), one item per record
(`sk = <record type>#<clever id>`). Nothing is ever deleted: a removed record is archived
(`archived_at`) and a record that comes back is written again without it, which restores it.
Every write is a whole-item put whose content depends only on the change set and its sync, so
re-running an apply after a crash ends with exactly the table one clean run leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from boto3.dynamodb.conditions import Attr, Key
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from sis_sync.snapshot import RECORD_TYPES, Record, RecordType
from sis_sync.store.items import plain

BATCH_SIZE: Final = 25  # DynamoDB's BatchWriteItem limit


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept refusing part of a batch (throttling); the apply is retried as a whole."""


def roster_pk(district_id: str, school_id: str) -> str:
    return f"ROSTER#{district_id}#{school_id}"


@dataclass(frozen=True)
class RosterItem:
    """One record as applied: what a put writes."""

    record_type: RecordType
    clever_id: str
    record: Record
    applied_sync_id: str
    archived_at: str | None = None
    replaced_by: str = ""  # the new Clever id, when this one was re-issued
    previous_clever_id: str = ""

    def to_item(self, pk: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": pk,
            "sk": f"{self.record_type}#{self.clever_id}",
            "record_type": self.record_type,
            "clever_id": self.clever_id,
            "sis_id": str(self.record.get("sis_id", "")),
            "record": self.record,
            "applied_sync_id": self.applied_sync_id,
        }
        for name in ("archived_at", "replaced_by", "previous_clever_id"):
            if value := getattr(self, name):
                item[name] = value
        return item


class RosterTable:
    def __init__(
        self, table: Any, *, max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """`table` is a boto3 DynamoDB Table resource (its client serialises plain Python values)."""
        self._table = table
        self._client = table.meta.client
        self._max_attempts = max_attempts
        self._sleep = sleep

    def write(
        self,
        district_id: str,
        school_id: str,
        items: Iterable[RosterItem],
        *,
        after_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Put every item in batches of 25, retrying what DynamoDB leaves unprocessed.

        `after_batch(n)` runs after each batch is fully written (tests use it to inject a crash).
        """
        pk = roster_pk(district_id, school_id)
        written = 0
        for number, batch in enumerate(_batches((item.to_item(pk) for item in items), BATCH_SIZE), 1):
            self._write_batch(batch)
            written += len(batch)
            if after_batch is not None:
                after_batch(number)
        return written

    def _write_batch(self, items: list[dict[str, Any]]) -> None:
        remaining: dict[str, list[dict[str, Any]]] = {
            self._table.name: [{"PutRequest": {"Item": item}} for item in items]
        }

        def send() -> dict[str, list[dict[str, Any]]]:
            nonlocal remaining
            remaining = self._client.batch_write_item(RequestItems=remaining).get("UnprocessedItems", {})
            return remaining

        Retrying(
            retry=retry_if_result(bool),  # something is still unprocessed
            wait=wait_exponential_jitter(multiplier=0.05, max=5),
            stop=stop_after_attempt(self._max_attempts),
            retry_error_callback=lambda _: _raise_unprocessed(remaining),
            sleep=self._sleep,
        )(send)

    def items(self, district_id: str, school_id: str) -> Iterator[dict[str, Any]]:
        """Every item of a school's roster, archived ones included."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(roster_pk(district_id, school_id))}
        while True:
            page = self._table.query(**kwargs)
            yield from (plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def counts(self, district_id: str, school_id: str) -> tuple[dict[RecordType, int], dict[RecordType, int]]:
        """(active, archived) counts per record type; COUNT queries, no items read back."""
        active: dict[RecordType, int] = {}
        archived: dict[RecordType, int] = {}
        pk = roster_pk(district_id, school_id)
        for record_type in RECORD_TYPES:
            condition = Key("pk").eq(pk) & Key("sk").begins_with(f"{record_type}#")
            active[record_type] = self._count(condition, Attr("archived_at").not_exists())
            archived[record_type] = self._count(condition, Attr("archived_at").exists())
        return active, archived

    def _count(self, condition: Any, filter_expression: Any) -> int:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "FilterExpression": filter_expression,
            "Select": "COUNT",
        }
        total = 0
        while True:
            page = self._table.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _raise_unprocessed(left: dict[str, list[Any]]) -> None:
    raise UnprocessedItemsError(f"{sum(len(v) for v in left.values())} items still unprocessed")


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
