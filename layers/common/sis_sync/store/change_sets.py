"""Evaluated change sets in S3 (`sis_sync.preview`'s stored form), one object per school and sync."""

from __future__ import annotations

from typing import Any


def change_set_key(district_id: str, school_id: str, sync_id: str) -> str:
    return f"changesets/{district_id}/{school_id}/{sync_id}.json.gz"


class ChangeSetBucket:
    def __init__(self, s3: Any, bucket: str) -> None:
        """`s3` is a boto3 S3 client."""
        self._s3 = s3
        self._bucket = bucket

    def put(self, district_id: str, school_id: str, sync_id: str, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=change_set_key(district_id, school_id, sync_id),
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )

    def get(self, district_id: str, school_id: str, sync_id: str) -> bytes | None:
        """The stored bytes, or None when there are none (evaluated before they were kept, expired)."""
        try:
            response = self._s3.get_object(
                Bucket=self._bucket, Key=change_set_key(district_id, school_id, sync_id)
            )
        except self._s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        body: bytes = response["Body"].read()
        return body
