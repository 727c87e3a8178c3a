"""Snapshots in S3, content-addressed so that writing the same roster twice is one object."""

from __future__ import annotations

from typing import Any

import orjson

from sis_sync.snapshot import EncodedSnapshot, Snapshot, decode


def snapshot_key(district_id: str, school_id: str, sha256: str) -> str:
    return f"snapshots/{district_id}/{school_id}/{sha256}.json.gz"


class SnapshotBucket:
    def __init__(self, s3: Any, bucket: str) -> None:
        """`s3` is a boto3 S3 client."""
        self._s3 = s3
        self.bucket = bucket

    def put(self, district_id: str, school_id: str, encoded: EncodedSnapshot) -> str:
        key = snapshot_key(district_id, school_id, encoded.sha256)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=encoded.body,
            ContentType="application/json",
            ContentEncoding="gzip",
            Metadata={"sha256": encoded.sha256},
        )
        return key

    def put_manifest(self, district_id: str, sync_id: str, items: list[dict[str, Any]]) -> str:
        """The list a Distributed Map reads its items from (one per changed school)."""
        key = f"manifests/{district_id}/{sync_id}.json"
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=orjson.dumps(items), ContentType="application/json"
        )
        return key

    def get(self, key: str) -> Snapshot:
        body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return decode(body)
