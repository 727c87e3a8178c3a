"""moto's DynamoDB made fit for a Map of 1,800 iterations running MapConcurrency at once, and for
reads that project a few attributes of 1,800 items (`projections_converting_once`, at the end).

Two defects of moto 5.2's in-process DynamoDB (not of sis-sync's code, which makes one small
transaction per school commit, constant-time on AWS):

- TransactWriteItems backs up every table it names by `copy.deepcopy` of the WHOLE table, once per
  item of the transaction, before writing (its rollback). A school commit (an update and its audit
  and history puts) copies the state table 3+ times, so each iteration costs O(table), and the Map
  grows quadratically with the schools.
- Nothing is locked: that copy (and a query) iterates dicts another thread is writing, which fails
  with "dictionary changed size during iteration" when the Map runs iterations concurrently
  (why the e2e tests run MapConcurrency 1).

Within `fit_for_maps()` every DynamoDB request runs one at a time (as DynamoDB is linearizable),
and a transaction backs up only the items it names (what its rollback must restore).
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.models as dynamodb_models
from botocore.utils import merge_dicts
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item, deserializer, serializer
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import find_nested_key
from moto.dynamodb.responses import DynamoHandler

_LIST_INDEX = re.compile(r"\[\d+\]$")  # `holds[0]`: an element of the top-level attribute `holds`


@dataclass
class Transactions:
    """TransactWriteItems calls seen, and the seconds moto spent in them."""

    count: int = 0
    seconds: float = 0.0


def _deepcopy_but_tables(value: Any, memo: Any = None) -> Any:
    """copy.deepcopy, except a whole table: the transaction's own item backup replaces that."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _item_key(backend: DynamoDBBackend, operation: dict[str, Any]) -> dict[str, Any]:
    if "Key" in operation:
        return dict(operation["Key"])
    table = backend.get_table(operation["TableName"])
    return {name: operation["Item"][name] for name in table.table_key_attrs}


@contextmanager
def fit_for_maps(item_backups: bool = True) -> Iterator[Transactions]:
    """Serialised DynamoDB requests and, with `item_backups`, item-level transaction backups;
    either way the transactions are counted and timed (the evidence for the quadratic cost)."""
    seen = Transactions()
    one_at_a_time = threading.RLock()
    call_action, transact = DynamoHandler.call_action, DynamoDBBackend.transact_write_items

    def serialised(self: DynamoHandler) -> Any:
        with one_at_a_time:
            return call_action(self)

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        start = time.perf_counter()
        try:
            if not item_backups:
                return transact(self, transact_items)
            named = [next(iter(item.values())) for item in transact_items]
            keys = [(op["TableName"], _item_key(self, op)) for op in named]
            saved = [copy.deepcopy(self.get_item(table, key)) for table, key in keys]
            try:
                return transact(self, transact_items)
            except Exception:
                for (table, key), item in zip(keys, saved, strict=True):
                    if item is None:
                        self.delete_item(table, key)
                    else:
                        self.put_item(table, item.to_json()["Attributes"])
                raise
        finally:
            seen.count += 1
            seen.seconds += time.perf_counter() - start

    DynamoHandler.call_action = serialised  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    if item_backups:
        dynamodb_models.copy = SimpleNamespace(deepcopy=_deepcopy_but_tables)  # type: ignore[assignment]
    try:
        yield seen
    finally:
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
        dynamodb_models.copy = copy


@contextmanager
def projections_converting_once() -> Iterator[None]:
    """moto's `Item.project` converts the whole item to plain JSON once for every attribute a read
    projects, each conversion deep-copying every nested level again (4 attributes of 1,800 held
    schools, whose holds carry examples: ~9 CPU-s for one Clear holds). Within this, a read converts
    only the top-level attributes it projects, once. DynamoDB's cost does not grow with what a read
    leaves out: the bench then measures the request's own work, and `--moto-as-is` shows moto's."""
    project = Item.project

    def project_named(self: Item, projection_expressions: list[list[str]]) -> Item:
        named = {_LIST_INDEX.sub("", expression[0]) for expression in projection_expressions}
        plain = {
            name: deserializer.deserialize(value.to_regular_json())
            for name, value in self.attrs.items()
            if name in named
        }
        result: dict[str, Any] = {}
        for expression in projection_expressions:
            merge_dicts(result, find_nested_key(expression, plain))
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=serializer.serialize(result)["M"])

    Item.project = project_named  # type: ignore[method-assign]
    try:
        yield
    finally:
        Item.project = project  # type: ignore[method-assign]
