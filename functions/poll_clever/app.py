"""poll_clever: one step of one district's poll per invocation; the poll state machine invokes it
again until the step says done (statemachine/poll.asl.json), for the schedule's polls and the API's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from sis_sync import services
from sis_sync.observability import logger, metrics, tracer
from sis_sync.polling import poll_step
from sis_sync.scheduling import STEP_S, poll_budget


class PollRequest(BaseModel):
    """A poll of one district, one order of the poll state machine: planned from the schedule's
    event, or given by the API ("Check for new Clever data", "I fixed it") or the operator CLI.
    The sync id comes with the request, so a repeated step finds the poll it already started and
    carries on from its stored cursors."""

    district_id: str
    sync_id: str
    trigger: str = "manual"
    school_ids: list[str] | None = Field(default=None)


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PollRequest.model_validate(event)
    # the step gives up (and records why) while there is still time to record it; none runs over
    # STEP_S of paging, so an invocation stays well under 5 minutes however large the district
    step = poll_step(
        services.poller(),
        request.district_id,
        request.sync_id,
        trigger=request.trigger,
        school_ids=request.school_ids,
        budget_s=poll_budget(context.get_remaining_time_in_millis()),
        step_s=STEP_S,
    )
    run = step.run
    if step.done:
        metrics.add_metric(name=f"Sync{run.status.value.title()}", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SchoolsChanged", unit=MetricUnit.Count, value=len(run.changed_schools))
    return {
        "syncs": [run.model_dump(mode="json", include={"district_id", "sync_id", "status"})],
        "done": step.done,  # always set: the state machine's Choice reads it
    }
