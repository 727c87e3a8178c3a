"""discover_districts: the scheduled step that onboards the districts that authorized the Clever
app, stores their replaced tokens and disconnects those that removed it (sis_sync.enrollment)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from sis_sync import services
from sis_sync.enrollment import enroll_districts, run_id_for
from sis_sync.observability import logger, metrics, tracer


class ScheduledEvent(BaseModel):
    """EventBridge's scheduled event; `time` is the same on every redelivery of one schedule."""

    id: str
    time: datetime


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = ScheduledEvent.model_validate(event)
    report = enroll_districts(services.enrollment(), run_id_for(scheduled.time))
    for name, districts in (
        ("DistrictsOnboarded", report.onboarded),
        ("DistrictsDisconnected", report.disconnected),
        ("DistrictEnrollmentFailed", report.failed),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(districts))
    return report.as_dict()
