"""The release flow's first step: each approved school's history gets the admin's action (Clear
holds, Apply safe changes) and its result. The request audits the action in the district log and
writes the refused schools' histories itself; the approved schools' (up to all 1,800) are written
here, from the manifest, so that the request answers without a write per school."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sis_sync.model import AuditEntry
from sis_sync.observability import logger
from sis_sync.store.releases import ManifestLocation, ReleaseHistory, read_manifest
from sis_sync.store.state_table import StateTable


class HistoryRequest(BaseModel):
    """The release execution's input, as its first step reads it."""

    district_id: str
    manifest: ManifestLocation
    history: ReleaseHistory


def record_release_history(state: StateTable, s3: Any, request: HistoryRequest) -> int:
    """Write one history item per manifest school under the audit entry's key (a retried step
    rewrites the same items); how many. `s3` is a boto3 S3 client."""
    history = request.history
    approvals = read_manifest(s3, request.manifest)
    state.append_histories(
        request.district_id,
        history.key,
        {
            approval.school_id: AuditEntry(
                district_id=request.district_id,
                at=history.at,
                actor=history.actor,
                action=history.action,
                school_ids=[approval.school_id],
                sync_ids=[approval.sync_id],
                result=history.result,
            )
            for approval in approvals
        },
    )
    logger.info("release history recorded", district_id=request.district_id, schools=len(approvals))
    return len(approvals)
