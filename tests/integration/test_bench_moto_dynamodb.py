"""bench.moto_dynamodb: moto's TransactWriteItems without its whole-table backup copies (what made
the evaluate Map over 1,800 schools quadratic in moto), its rollback kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from bench.moto_dynamodb import fit_for_maps, projections_converting_once

ITEMS = 50


@pytest.fixture
def table(aws_env: None) -> Iterator[Any]:
    """A state-table-like table holding ITEMS items of one partition."""
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        created = dynamodb.create_table(
            TableName="state",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        with created.batch_writer() as batch:
            for n in range(ITEMS):
                batch.put_item(Item={"pk": "DISTRICT#d", "sk": f"SCHOOL#{n:04d}", "version": 1})
        yield created


@pytest.fixture
def table_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every deep copy of a whole moto table, by name."""
    copies: list[str] = []

    def counted(self: Table, memo: dict[int, Any]) -> Any:
        copies.append(self.name)
        clone = Table.__new__(Table)
        clone.__dict__.update(self.__dict__)
        return clone

    monkeypatch.setattr(Table, "__deepcopy__", counted, raising=False)
    return copies


def _commit(table: Any, school: str, version: int) -> None:
    """A school commit as StateTable._commit_school makes it: a conditional update, an audit put."""
    table.meta.client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"pk": "DISTRICT#d", "sk": school},
                    "UpdateExpression": "SET status_ = :s ADD version :one",
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":s": "on_hold", ":one": 1, ":v": version},
                }
            },
            {"Put": {"TableName": table.name, "Item": {"pk": "DISTRICT#d", "sk": f"AUDIT#{school}"}}},
        ]
    )


def test_a_transaction_copies_no_whole_table(table: Any, table_copies: list[str]) -> None:
    # Given moto as is, a school commit deep-copies the whole state table once per item
    with fit_for_maps(item_backups=False):
        _commit(table, "SCHOOL#0000", version=1)
    assert table_copies == ["state", "state"]
    # When the same commit runs within fit_for_maps
    table_copies.clear()
    with fit_for_maps() as transactions:
        _commit(table, "SCHOOL#0001", version=1)
    # Then no table was copied, and the commit is written
    assert table_copies == []
    assert transactions.count == 1
    assert table.get_item(Key={"pk": "DISTRICT#d", "sk": "SCHOOL#0001"})["Item"]["version"] == 2
    assert "Item" in table.get_item(Key={"pk": "DISTRICT#d", "sk": "AUDIT#SCHOOL#0001"})


def test_a_cancelled_transaction_still_writes_nothing(table: Any) -> None:
    # Given a commit whose audit item exists already and whose condition fails (a stale version)
    table.put_item(Item={"pk": "DISTRICT#d", "sk": "AUDIT#SCHOOL#0002", "note": "before"})
    with fit_for_maps(), pytest.raises(ClientError, match="TransactionCanceled"):
        _commit(table, "SCHOOL#0002", version=7)
    # Then the school and the audit item are as they were
    school = table.get_item(Key={"pk": "DISTRICT#d", "sk": "SCHOOL#0002"})["Item"]
    assert school == {"pk": "DISTRICT#d", "sk": "SCHOOL#0002", "version": 1}
    audit = table.get_item(Key={"pk": "DISTRICT#d", "sk": "AUDIT#SCHOOL#0002"})["Item"]
    assert audit["note"] == "before"


def test_projections_converting_once_read_what_moto_reads_without_converting_whole_items(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given items with nested maps and lists, as a held school's item has
    for n in range(3):
        table.put_item(
            Item={
                "pk": "DISTRICT#d", "sk": f"SCHOOL#h{n}", "status": "on_hold", "version": n,
                "pending": {"sync_id": f"s{n}", "safe_changes": n, "csv_key": "k"},
                "holds": [{"reason": "large_removals", "detail": {"types": {"student": {"removed": 9}}}}],
            }
        )  # fmt: skip
    keys = [{"pk": "DISTRICT#d", "sk": f"SCHOOL#{s}"} for s in ("h0", "h1", "h2", "0001", "none")]
    projection = {"ProjectionExpression": "#s, pending.sync_id, pending.safe_changes, holds[0].reason, sk"}
    names = {"ExpressionAttributeNames": {"#s": "status"}}

    def read() -> list[dict[str, Any]]:
        got = table.meta.client.batch_get_item(RequestItems={"state": {"Keys": keys, **projection, **names}})
        query = table.query(KeyConditionExpression="pk = :d", ExpressionAttributeValues={":d": "DISTRICT#d"},
                            **projection, **names)  # fmt: skip
        return sorted(got["Responses"]["state"], key=str) + query["Items"]

    conversions = 0
    to_regular_json = Item.to_regular_json

    def counted(self: Item) -> dict[str, Any]:
        nonlocal conversions
        conversions += 1
        return to_regular_json(self)

    monkeypatch.setattr(Item, "to_regular_json", counted)
    # When the same reads run as moto has them and within the fix
    as_is, as_is_conversions = read(), conversions
    conversions = 0
    with projections_converting_once():
        fixed = read()
    # Then they read the same, no item converted whole (moto: once per projected attribute)
    assert fixed == as_is
    assert {"sk": "SCHOOL#0001"} in as_is
    h1 = {"sk": "SCHOOL#h1", "status": "on_hold", "pending": {"sync_id": "s1", "safe_changes": 1}}
    assert h1 | {"holds": [{"reason": "large_removals"}]} in as_is
    read_items = len(as_is)
    assert (as_is_conversions, conversions) == (5 * read_items, 0)
