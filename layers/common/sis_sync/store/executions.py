"""Starting Step Functions executions exactly once per name."""

from __future__ import annotations

import json
from typing import Any

from sis_sync.observability import logger


class Executions:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start `name`; a second start of the same name returns the first execution (no double work)."""
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("execution already started", execution_name=name)
            arn = self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
            return arn
        execution_arn: str = response["executionArn"]
        return execution_arn
