"""poll_clever: the scheduled poll of every district due, or one district on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from sis_sync import services
from sis_sync.model import SyncRun
from sis_sync.observability import logger, metrics, tracer
from sis_sync.polling import Poller, parked, poll_district, sync_id_for

EVERY_DISTRICT = datetime.max.replace(tzinfo=UTC)  # "due by the end of time"


class ScheduleDetail(BaseModel):
    poll_all: bool = False  # an operator's (or the devstack's) "poll every district now"


class ScheduledEvent(BaseModel):
    """EventBridge's scheduled event; `time` is the scheduled time, the same on every redelivery."""

    id: str
    time: datetime
    detail: ScheduleDetail = ScheduleDetail()


class PollRequest(BaseModel):
    """A poll of one district asked for by the API ("Check for new Clever data", "I fixed it")."""

    district_id: str
    sync_id: str
    trigger: str = "manual"
    school_ids: list[str] | None = Field(default=None)


def _due_runs(poller: Poller, scheduled: ScheduledEvent) -> list[SyncRun]:
    due = [
        district
        for district in poller.state.districts_due(
            EVERY_DISTRICT if scheduled.detail.poll_all else scheduled.time
        )
        if not parked(district)
    ]
    runs = []
    for district in due:
        sync_id = sync_id_for(district.district_id, scheduled.time)
        try:
            runs.append(poll_district(poller, district.district_id, sync_id, trigger="schedule"))
        except Exception:  # one district's bug must not starve every district after it
            logger.exception("district poll crashed", district_id=district.district_id, sync_id=sync_id)
            metrics.add_metric(name="SyncCrashed", unit=MetricUnit.Count, value=1)
    return runs


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    poller = services.poller()
    if "district_id" in event:
        request = PollRequest.model_validate(event)
        runs = [
            poll_district(
                poller,
                request.district_id,
                request.sync_id,
                trigger=request.trigger,
                school_ids=request.school_ids,
            )
        ]
    else:
        runs = _due_runs(poller, ScheduledEvent.model_validate(event))
    for run in runs:
        metrics.add_metric(name=f"Sync{run.status.value.title()}", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SchoolsChanged", unit=MetricUnit.Count, value=len(run.changed_schools))
    return {
        "syncs": [run.model_dump(mode="json", include={"district_id", "sync_id", "status"}) for run in runs]
    }
