"""Run Lambda invokes in-process: moto's Docker-free Lambda backend only echoes its input.

Patches `LambdaSimpleBackend.invoke` (moto's seam) so that an invoke of one of our functions runs
the real handler, and a handler's exception becomes a Lambda function error with `errorType` =
the exception's class name — what Step Functions' Retry and Catch match on. An `Event` invoke
(asynchronous) runs the handler on a daemon thread and answers 202 at once, as Lambda does; the
`InvokeLog` tracks those threads so the devstack and the tests can wait for them (`join`).

While a handler runs, `running_function` names its function (in the handler's own thread), so the
tests can check each AWS call against that function's role (tests/iam_guard.py).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

Handler = Callable[[dict[str, Any], Any], Any]
ASYNC_WAIT_SECONDS = 120.0

_log = logging.getLogger(__name__)

running_function: ContextVar[str | None] = ContextVar("running_function", default=None)
"""The name of the function whose handler runs in this context; None outside any handler."""


@contextmanager
def running_as(function_name: str) -> Iterator[None]:
    """Code in the block runs as `function_name` (a routed invoke, or a test calling domain code)."""
    token = running_function.set(function_name)
    try:
        yield
    finally:
        running_function.reset(token)


def _run_as(function_name: str, handler: Handler, event: dict[str, Any]) -> Any:
    with running_as(function_name):
        return handler(event, FakeContext(function_name=function_name))


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
    """Every routed invoke, in order, and the asynchronous ones still running: what the tests and
    the devstack look at."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: list[threading.Thread] = field(default_factory=list)
    async_errors: list[tuple[str, BaseException]] = field(default_factory=list)

    def record(self, name: str, event: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((name, event))

    def names(self) -> list[str]:
        with self.lock:
            return [name for name, _ in self.calls]

    def start_async(self, name: str, run: Callable[[], Any]) -> None:
        """Run an `Event` invoke on a daemon thread (its errors are logged, as Lambda would)."""

        def body() -> None:
            try:
                run()
            except Exception as error:  # an asynchronous invoke has no caller to report to
                _log.exception("asynchronous invoke failed: %s", name)
                with self.lock:
                    self.async_errors.append((name, error))

        thread = threading.Thread(target=body, name=f"invoke-{name}", daemon=True)
        with self.lock:
            self.in_flight.append(thread)
        thread.start()

    def join(self, timeout: float = ASYNC_WAIT_SECONDS) -> bool:
        """Wait, at most `timeout` seconds, for every asynchronous invoke started so far and those
        they start in turn; True when none is still running."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                self.in_flight = [thread for thread in self.in_flight if thread.is_alive()]
                running = list(self.in_flight)
            if not running:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            running[0].join(remaining)


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if headers is not None else None
    if value is None and headers is not None:
        value = next((v for k, v in dict(headers).items() if str(k).lower() == name.lower()), None)
    return None if value is None else str(value)


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
        if _header(headers, "X-Amz-Invocation-Type") == "Event":
            log.start_async(name, lambda: _run_as(name, handler, event))
            return b""  # moto answers 202 with an empty body
        try:
            result = _run_as(name, handler, event)
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
        # a caller that failed before joining its asynchronous invokes must not leave a handler
        # running into what comes next (a test's reset tables)
        log.join()
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
