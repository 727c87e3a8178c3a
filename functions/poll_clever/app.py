"""poll_clever: one district's poll per invocation (the poll state machine's fan-out, or the API)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from sis_sync import services
from sis_sync.observability import logger, metrics, tracer
from sis_sync.polling import poll_district, poll_step
from sis_sync.scheduling import STEP_S, poll_budget


class PollRequest(BaseModel):
    """A poll of one district: ordered by the schedule's fan-out (statemachine/poll.asl.json), or
    asked for by the API ("Check for new Clever data", "I fixed it"). The sync id comes with the
    request, so a redelivered request finds the poll it already started."""

    district_id: str
    sync_id: str
    trigger: str = "manual"
    school_ids: list[str] | None = Field(default=None)
    # Set by the poll state machine, which invokes again until `done`: one step per invocation,
    # so none runs over 5 minutes. The API's poll (one asynchronous invocation) runs every step.
    loop: bool = False


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PollRequest.model_validate(event)
    # the poll gives up (and records why) while there is still time to record it
    budget_s = poll_budget(context.get_remaining_time_in_millis())
    poller = services.poller()
    if request.loop:
        step = poll_step(
            poller,
            request.district_id,
            request.sync_id,
            trigger=request.trigger,
            school_ids=request.school_ids,
            budget_s=budget_s,
            step_s=STEP_S,
        )
        run, done = step.run, step.done
    else:
        run = poll_district(
            poller,
            request.district_id,
            request.sync_id,
            trigger=request.trigger,
            school_ids=request.school_ids,
            budget_s=budget_s,
        )
        done = True
    if done:
        metrics.add_metric(name=f"Sync{run.status.value.title()}", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SchoolsChanged", unit=MetricUnit.Count, value=len(run.changed_schools))
    return {
        "syncs": [run.model_dump(mode="json", include={"district_id", "sync_id", "status"})],
        "done": done,  # always set: the state machine's Choice reads it
    }
