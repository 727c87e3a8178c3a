"""pre_token_generation: Cognito asks, before it issues an ID token, which tenant claims the user
gets. A Clever district admin of an onboarded district gets its district; anyone else signing in
with Clever is refused; operator-created users pass through untouched (sis_sync.clever_sign_in)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sis_sync import services
from sis_sync.clever_sign_in import tenant_claims
from sis_sync.observability import logger, tracer
from sis_sync.pre_token_event import PreTokenGenerationEvent


@logger.inject_lambda_context(correlation_id_path="callerContext.clientId")
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = tenant_claims(services.clever_sign_in(), PreTokenGenerationEvent.model_validate(event))
    return event if answer is None else answer
