"""Run Lambda invokes in-process: moto's Docker-free Lambda backend only echoes its input.

Patches `LambdaSimpleBackend.invoke` (moto's seam) so that an invoke of one of our functions runs
the real handler, and a handler's exception becomes a Lambda function error with `errorType` =
the exception's class name — what Step Functions' Retry and Catch match on.
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeContext:
    """The parts of a Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass
class InvokeLog:
    """Every routed invoke, in order: what the tests and the devstack look at."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, event: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((name, event))

    def names(self) -> list[str]:
        with self.lock:
            return [name for name, _ in self.calls]


def _function_name(name_or_arn: str) -> str:
    # "arn:aws:lambda:region:account:function:NAME[:qualifier]" or a plain name
    parts = name_or_arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else name_or_arn


@contextmanager
def route_lambda_invokes(handlers: Mapping[str, Handler]) -> Iterator[InvokeLog]:
    """Within the block, invoking a function named in `handlers` runs that handler in-process."""
    log = InvokeLog()
    original = LambdaSimpleBackend.invoke

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        name = _function_name(function_name)
        handler = handlers.get(name)
        if handler is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        log.record(name, event)
        try:
            result = handler(event, FakeContext(function_name=name))
        except Exception as error:  # reported to the caller exactly as Lambda would
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_exception(error)[-3:],
                }
            ).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield log
    finally:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


def stack_handlers(
    function_names: Mapping[str, str], function_modules: Mapping[str, str]
) -> dict[str, Handler]:
    """Function name -> the real handler, for every function of the stack (imported lazily, so a
    handler's module-level clients see the environment the caller set up first)."""
    handlers: dict[str, Handler] = {}
    for logical_id, name in function_names.items():
        module_name, _, attribute = function_modules[logical_id].rpartition(".")
        handlers[name] = _lazy(module_name, attribute)
    return handlers


def _lazy(module_name: str, attribute: str) -> Handler:
    def handler(event: dict[str, Any], context: Any) -> Any:
        target: Handler = getattr(importlib.import_module(module_name), attribute)
        return target(event, context)

    return handler
