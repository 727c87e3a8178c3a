"""Starting the release flow: one execution over every school an admin approved at once. Its
schools go in an S3 manifest its Distributed Map reads (2,000 approvals can outgrow the 256 KB
execution input), so the start costs one PutObject and one StartExecution however many schools."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, TypeAdapter

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


class ReleaseHistory(BaseModel):
    """The admin's action as each approved school's history tells it, which the release's first
    step writes (one item per manifest school, under `key`, the district audit entry's own key
    suffix: a retried step rewrites the same items). Written there, not in the request, so that the
    request's writes do not grow with the schools; refused schools' histories the request writes."""

    action: str
    actor: str
    at: datetime
    result: str  # an approved school's result ("released", "applied_safe")
    key: str


class ManifestLocation(BaseModel):
    bucket: str
    key: str


_APPROVALS: TypeAdapter[list[Approval]] = TypeAdapter(list[Approval])


def release_manifest_key(district_id: str, execution_name: str) -> str:
    return f"releases/{district_id}/{execution_name}.json"


class ReleaseStarter:
    def __init__(self, executions: Executions, s3: Any, bucket: str) -> None:
        """`executions` starts the release state machine; `s3` is a boto3 S3 client."""
        self._executions = executions
        self._s3 = s3
        self._bucket = bucket

    def start(
        self,
        name: str,
        district_id: str,
        approvals: list[Approval],
        approved_by: str,
        history: ReleaseHistory | None = None,
    ) -> str:
        """Start (once per `name`) the release of `approvals`; an attempt whose execution failed
        starts again (a release that failed can be approved again). The manifest is written first
        and is the same bytes for the same approvals, so a repeated start rewrites it harmlessly.
        `history`: the approved schools' history items the execution writes first."""
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
            }
            | ({"history": history.model_dump(mode="json")} if history else {}),
            retry_failed=True,
        )


def read_manifest(s3: Any, manifest: ManifestLocation) -> list[Approval]:
    """The approvals of a release manifest (`s3` a boto3 S3 client)."""
    body = s3.get_object(Bucket=manifest.bucket, Key=manifest.key)["Body"].read()
    return _APPROVALS.validate_json(body)
