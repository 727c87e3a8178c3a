"""plan_polls: the schedule's fan-out step, the districts due now as one poll order each; the poll
state machine then runs one poll_clever invocation per order (statemachine/poll.asl.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from sis_sync import services
from sis_sync.observability import logger, metrics, tracer
from sis_sync.polling import due_polls

EVERY_DISTRICT = datetime.max.replace(tzinfo=UTC)  # "due by the end of time"


class ScheduleDetail(BaseModel):
    poll_all: bool = False  # an operator's (or the devstack's) "poll every district now"


class ScheduledEvent(BaseModel):
    """EventBridge's scheduled event (the poll execution's input): its `id` is the polls' retry
    identity, `time` the scheduled time; both are the same on every redelivery."""

    id: str
    time: datetime
    detail: ScheduleDetail = ScheduleDetail()


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = ScheduledEvent.model_validate(event)
    due_by = EVERY_DISTRICT if scheduled.detail.poll_all else scheduled.time
    orders = due_polls(services.state_table(), due_by, scheduled.time, scheduled.id)
    metrics.add_metric(name="DistrictsDue", unit=MetricUnit.Count, value=len(orders))
    return {"polls": [order.model_dump(mode="json") for order in orders]}
