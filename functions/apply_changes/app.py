"""apply_changes: write a school's pending change set to the roster, then move its pointer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from sis_sync import services
from sis_sync.applying import Mode, apply_pending
from sis_sync.observability import logger, metrics, tracer


class ApplyRequest(BaseModel):
    """From the evaluate flow (an EvaluationResult, mode "apply") or the release flow ("release")."""

    district_id: str
    sync_id: str
    school_id: str
    mode: Mode = "apply"
    approved_by: str = "system"


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ApplyRequest.model_validate(event)
    result = apply_pending(
        services.applier(),
        request.district_id,
        request.school_id,
        request.sync_id,
        mode=request.mode,
        actor=request.approved_by,
    )
    metrics.add_metric(name="RosterItemsWritten", unit=MetricUnit.Count, value=result.written)
    return result.model_dump(mode="json")
