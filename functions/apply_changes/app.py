"""apply_changes: write a school's pending change set (or its safe part) to the roster, then move
its pointer; and, as the release flow's first step (`"step": "record_history"`), the approved
schools' histories."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Discriminator, Tag, TypeAdapter

from sis_sync import services
from sis_sync.applying import Mode, apply_pending, apply_safe_pending
from sis_sync.observability import logger, metrics, tracer
from sis_sync.release_history import HistoryRequest, record_release_history
from sis_sync.store.releases import Approval
from sis_sync.undo import undo_applied


class ApplyRequest(BaseModel):
    """From the evaluate flow (an EvaluationResult: mode "apply", or "apply_safe" for a held one when
    the district applies safe changes automatically) or the release flow, whose manifest item
    (`approval`) alone says what to do: "release", "apply_safe" or "undo"."""

    district_id: str
    sync_id: str
    school_id: str
    mode: Literal["apply", "apply_safe"] = "apply"  # the evaluate flow's
    approved_by: str = "system"
    approval: Approval | None = None  # the release flow's

    @property
    def applying(self) -> Mode:
        return self.approval.mode if self.approval else self.mode


class HistoryStep(HistoryRequest):
    """The release flow's RecordHistory step, which names itself (statemachine/release.asl.json)."""

    step: Literal["record_history"]


def _step(event: Any) -> str:
    """The step an event asks for: its `step`, or "apply" for the payloads that name none (the
    evaluate flow's, the release flow's per school); an unknown step matches no event."""
    return str(event.get("step", "apply")) if isinstance(event, dict) else "apply"


# what apply_changes is asked to do, one model per step
ApplyChangesEvent: TypeAdapter[HistoryStep | ApplyRequest] = TypeAdapter(
    Annotated[
        Annotated[HistoryStep, Tag("record_history")] | Annotated[ApplyRequest, Tag("apply")],
        Discriminator(_step),
    ]
)


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ApplyChangesEvent.validate_python(event)
    if isinstance(request, HistoryStep):
        written = record_release_history(services.state_table(), services.client("s3"), request)
        metrics.add_metric(name="HistoriesWritten", unit=MetricUnit.Count, value=written)
        return {"histories": written}
    mode, applier, actor = request.applying, services.applier(), request.approved_by
    school = (request.district_id, request.school_id, request.sync_id)
    if mode == "undo":
        result = undo_applied(applier, *school, actor=actor)
    elif mode == "apply_safe":
        result = apply_safe_pending(applier, *school, actor=actor)
    else:
        result = apply_pending(applier, *school, mode=mode, actor=actor)
    metrics.add_metric(name="RosterItemsWritten", unit=MetricUnit.Count, value=result.written)
    return result.model_dump(mode="json")
