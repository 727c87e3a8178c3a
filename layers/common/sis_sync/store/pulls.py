"""A poll's pull in progress: raw Clever pages in S3, each listing's cursor beside its sync run.

Pages: `pulls/<district>/<sync_id>/<listing>/<page>.json.gz` (gzip of the body Clever sent; the
bucket's lifecycle rule expires them). Cursors: one item per sync (`sk = PULL#<sync_id>`, next to
the run's `SYNC#<sync_id>`), one attribute per listing, each written on its own (an UpdateExpression
of that attribute only), so listings paged in parallel never overwrite each other's progress.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sis_sync.pulling import LISTINGS, ListingCursor
from sis_sync.store.state_table import district_pk

PULL_KEPT = timedelta(days=7)  # the cursor item goes with the table's TTL; its pages with S3's rule
_CURSOR_PREFIX = "cursor_"


def page_key(district_id: str, sync_id: str, listing: str, number: int) -> str:
    return f"pulls/{district_id}/{sync_id}/{listing}/{number:05d}.json.gz"


class PullBucketAndTable:
    """`PullStore` on AWS: pages in the snapshot bucket, cursors in the state table."""

    def __init__(self, s3: Any, bucket: str, table: Any, now: datetime) -> None:
        """`s3` a boto3 S3 client, `table` the state table (boto3 DynamoDB Table resource)."""
        self._s3 = s3
        self._bucket = bucket
        self._table = table
        self._expiration = int((now + PULL_KEPT).timestamp())

    def _key(self, district_id: str, sync_id: str) -> dict[str, str]:
        return {"pk": district_pk(district_id), "sk": f"PULL#{sync_id}"}

    def cursors(self, district_id: str, sync_id: str) -> dict[str, ListingCursor]:
        item = (
            self._table.get_item(Key=self._key(district_id, sync_id), ConsistentRead=True).get("Item") or {}
        )
        return {
            name: ListingCursor.model_validate_json(item[_CURSOR_PREFIX + name])
            for name in LISTINGS
            if _CURSOR_PREFIX + name in item
        }

    def save_cursor(self, district_id: str, sync_id: str, listing: str, cursor: ListingCursor) -> None:
        self._table.update_item(
            Key=self._key(district_id, sync_id),
            UpdateExpression="SET #cursor = :cursor, #expiration = :expiration",
            ExpressionAttributeNames={"#cursor": _CURSOR_PREFIX + listing, "#expiration": "expiration"},
            ExpressionAttributeValues={":cursor": cursor.model_dump_json(), ":expiration": self._expiration},
        )

    def add_requests(self, district_id: str, sync_id: str, requests: int) -> int:
        """Count an invocation's requests to Clever; the pull's total so far."""
        updated = self._table.update_item(
            Key=self._key(district_id, sync_id),
            UpdateExpression="ADD #requests :n SET #expiration = :expiration",
            ExpressionAttributeNames={"#requests": "requests", "#expiration": "expiration"},
            ExpressionAttributeValues={":n": requests, ":expiration": self._expiration},
            ReturnValues="ALL_NEW",  # adding 0 (a step that only partitions) updates nothing new
        )
        return int(updated["Attributes"]["requests"])

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=page_key(district_id, sync_id, listing, number),
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )

    def page(self, district_id: str, sync_id: str, listing: str, number: int) -> bytes:
        response = self._s3.get_object(
            Bucket=self._bucket, Key=page_key(district_id, sync_id, listing, number)
        )
        body: bytes = response["Body"].read()
        return body
