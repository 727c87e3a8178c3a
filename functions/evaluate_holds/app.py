"""evaluate_holds: one school of a sync — change set, hold rules, changes CSV, decision."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from sis_sync import services
from sis_sync.evaluation import evaluate_school
from sis_sync.model import SyncSchool
from sis_sync.observability import logger, metrics, tracer


class EvaluateRequest(BaseModel):
    """One Map item of the evaluate state machine."""

    district_id: str
    sync_id: str
    school: SyncSchool


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = EvaluateRequest.model_validate(event)
    result = evaluate_school(services.evaluator(), request.district_id, request.sync_id, request.school)
    metrics.add_metric(name=f"Decision{result.decision.value.title()}", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
