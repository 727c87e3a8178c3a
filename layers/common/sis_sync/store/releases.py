"""Starting the release flow: one execution over every school an admin approved at once. Its
schools go in an S3 manifest its Distributed Map reads (2,000 approvals can outgrow the 256 KB
execution input), so the start costs one PutObject and one StartExecution however many schools."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel

from sis_sync.store.executions import Executions


class Approval(BaseModel):
    """One school's approved change set: one item of the release manifest. `mode` "release"
    (Clear holds) applies all of it; "apply_safe" only the part that trips no rule; "undo" takes the
    applied change set back. `again` tells apart a second approval of the same change set after an
    undo, so that it starts an execution of its own (an execution name runs once)."""

    school_id: str
    sync_id: str
    mode: Literal["release", "apply_safe", "undo"] = "release"
    again: str = ""


def release_manifest_key(district_id: str, execution_name: str) -> str:
    return f"releases/{district_id}/{execution_name}.json"


class ReleaseStarter:
    def __init__(self, executions: Executions, s3: Any, bucket: str) -> None:
        """`executions` starts the release state machine; `s3` is a boto3 S3 client."""
        self._executions = executions
        self._s3 = s3
        self._bucket = bucket

    def start(self, name: str, district_id: str, approvals: list[Approval], approved_by: str) -> str:
        """Start (once per `name`) the release of `approvals`; an attempt whose execution failed
        starts again (a release that failed can be approved again). The manifest is written first
        and is the same bytes for the same approvals, so a repeated start rewrites it harmlessly."""
        key = release_manifest_key(district_id, name)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=orjson.dumps([approval.model_dump(exclude_defaults=True) for approval in approvals]),
            ContentType="application/json",
        )
        return self._executions.start(
            name,
            {
                "district_id": district_id,
                "approved_by": approved_by,
                "manifest": {"bucket": self._bucket, "key": key},
                "school_count": len(approvals),
            },
            retry_failed=True,
        )
