"""Starting Step Functions executions exactly once per name (or once more after a failed one)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from sis_sync.observability import logger

MAX_NAME: Final = 80  # Step Functions' limit on an execution name
MAX_ATTEMPTS: Final = 20  # a release that failed this often needs an operator, not another click
STILL_GOOD: Final = frozenset({"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"})


class Executions:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any], *, retry_failed: bool = False) -> str:
        """Start `name`; a second start of the same name returns the first execution (no double work).

        With `retry_failed`, a start whose execution of that name ended FAILED, TIMED_OUT or ABORTED
        starts a new attempt instead, named `<name>-2`, `<name>-3`, ... (deterministic, so two clicks
        racing each other still start one attempt); one RUNNING or SUCCEEDED is returned as is."""
        for attempt in range(1, (MAX_ATTEMPTS if retry_failed else 1) + 1):
            attempt_name = name if attempt == 1 else attempt_execution_name(name, attempt)
            arn, status = self._start_once(attempt_name, payload)
            if status is None or not retry_failed or status in STILL_GOOD:
                return arn
            logger.info("execution ended unsuccessfully: starting a new attempt", execution_name=attempt_name)
        logger.warning("execution failed on every attempt", execution_name=name, attempts=MAX_ATTEMPTS)
        return arn

    def start_unique(self, name: str, payload: dict[str, Any]) -> str:
        """Start `name` unless an execution of that name exists, in any status (a repeated request
        finds the one it started); its ARN either way, without describing it, so a caller allowed
        only states:StartExecution can use it."""
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("execution already started", execution_name=name)
            return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
        execution_arn: str = response["executionArn"]
        return execution_arn

    def find(self, name: str) -> str | None:
        """The ARN of the execution called `name`, if one was started (in any status)."""
        arn = self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
        try:
            self._sfn.describe_execution(executionArn=arn)
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
        return arn

    def _start_once(self, name: str, payload: dict[str, Any]) -> tuple[str, str | None]:
        """(execution ARN, None) when this call started it, or (ARN, status) of the existing one."""
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("execution already started", execution_name=name)
            arn = self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
            status: str = self._sfn.describe_execution(executionArn=arn)["status"]
            return arn, status
        execution_arn: str = response["executionArn"]
        return execution_arn, None


def attempt_execution_name(name: str, attempt: int) -> str:
    """`<name>-<attempt>`, kept within 80 characters (a long name keeps its start and a digest)."""
    suffix = f"-{attempt}"
    if len(name) + len(suffix) <= MAX_NAME:
        return name + suffix
    digest = hashlib.sha256(name.encode()).hexdigest()[:40]
    return f"{name[: MAX_NAME - len(suffix) - len(digest) - 1]}-{digest}{suffix}"
