"""notify: e-mails the district admins that schools went on hold or the district disconnected.

Input: `{"kind": "holds", "district_id", "sync_id"}` from the evaluate flow once its Map is done (one
mail for every school the sync newly held), `{"kind": "disconnected", "district_id", "sync_id"}`
from the poller, or an evaluate task's EvaluationResult (one school; sent by executions started
before the digest, mailed only when `notify` is true). Output: `{"sent", "message_id"}`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from sis_sync import notifications, services
from sis_sync.config import environment
from sis_sync.observability import logger, metrics, tracer

# One persistence layer for this function, built at cold start.
persistence = DynamoDBPersistenceLayer(
    table_name=environment().idempotency_table, boto3_client=services.client("dynamodb")
)
deliver_once = notifications.idempotent_delivery(persistence)


@logger.inject_lambda_context(correlation_id_path="sync_id")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notifications.IDEMPOTENCY.register_lambda_context(context)
    notice = notifications.notice_for(event)
    result = (
        deliver_once(services.notifier(), notice=notice) if notice else {"sent": False, "message_id": None}
    )
    if not result["sent"]:
        metrics.add_metric(name="MailNotNeeded", unit=MetricUnit.Count, value=1)
    elif notice and notice.kind in ("hold", "holds"):
        metrics.add_metric(name="HoldMailSent", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="DisconnectionMailSent", unit=MetricUnit.Count, value=1)
    return result
