"""Runs the tests against each mutant in a forked child, so nothing is ever written to the source tree.

The parent imports pytest and the heavy libraries once and never imports `sis_sync`; each child
installs the mutant's compiled code in place of its module, then runs pytest in-process. A first
child records which test executes which line of the target modules, so a mutant is tried only
against the tests that run its line, fastest first, stopping at the first failure.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

import coverage
import pytest

from tests.mutation.operators import Mutant

# Imported before forking so each child starts warm: the libraries, what tests/conftest.py imports,
# and the layer modules that do not import a mutated one (checked).
WARM_IMPORTS = (
    "hypothesis",
    "pydantic",
    "boto3",
    "moto",
    "orjson",
    "yaml",
    "devstack.stack",
    "devstack.template",
    "tests.iam_guard",
    "sis_sync.settings",
    "sis_sync.snapshot",
)
# Plugins are not auto-loaded (schemathesis' alone costs seconds per child): only Hypothesis'.
PYTEST_ARGS = (
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "_hypothesis_pytestplugin",
    "--no-header",
    "-o",
    "addopts=",
)
POLL_SECONDS = 0.02


class Outcome(StrEnum):
    KILLED = "killed"
    TIMEOUT = "timeout"  # counts as killed: the mutant hangs where the original finishes
    SURVIVED = "survived"
    NOT_RUN = "not run"  # no selected test executes its line: a survivor too
    ERROR = "error"  # pytest could not run (usage error): a driver bug, never a score


@dataclass(frozen=True)
class TestRun:
    nodeid: str
    seconds: float
    lines: frozenset[tuple[str, int]]  # (file name, line) of the target modules it executed


def warm_up(import_roots: Sequence[Path], mutated: Sequence[str]) -> None:
    """Import what every child needs once, in the parent; never a module that is mutated."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    sys.path[:0] = [str(root) for root in import_roots]
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    imported = [name for name in mutated if name in sys.modules]
    assert not imported, f"{imported} imported before forking: the children would not test the mutants"


def record_lines(test_files: Sequence[str], targets: Sequence[Path], cache: Path) -> list[TestRun]:
    """Run the tests once, unmutated, recording the target lines each one executes.

    The record is kept in `cache` (a name derived from the sources' contents) for the next run.
    """
    if not cache.is_file():
        partial = cache.with_suffix(".partial")

        def child() -> int:
            recorder = _LineRecorder({str(path.resolve()) for path in targets})
            pytest.main([*PYTEST_ARGS, *test_files], plugins=[recorder])
            partial.write_text(json.dumps(recorder.report()))
            return 0

        if _in_child(child, timeout=None, quiet=True) != 0 or not partial.is_file():
            raise SystemExit("recording which tests run which lines failed")
        partial.replace(cache)
    runs = json.loads(cache.read_text())
    for item in runs:
        if not item["passed"]:
            print(f"mutation: left out, it fails without a mutant: {item['nodeid']}", file=sys.stderr)
    return [
        TestRun(item["nodeid"], item["seconds"], frozenset((name, line) for name, line in item["lines"]))
        for item in runs
        if item["passed"]
    ]


def run_mutant(mutant: Mutant, tests: Sequence[TestRun], timeout: float) -> Outcome:
    if not tests:
        return Outcome.NOT_RUN

    def child() -> int:
        sys.meta_path.insert(0, _MutantFinder(mutant))
        return int(pytest.main([*PYTEST_ARGS, "-x", *[test.nodeid for test in tests]]))

    status = _in_child(child, timeout=timeout, quiet=True)
    if status is None:
        return Outcome.TIMEOUT
    if status == pytest.ExitCode.OK:
        return Outcome.SURVIVED
    if status in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
        return Outcome.KILLED  # a failing test, or a mutant that breaks importing the module
    return Outcome.ERROR


def tests_for(mutant: Mutant, runs: Sequence[TestRun]) -> list[TestRun]:
    """The tests that execute the mutant's lines (all of them for code that runs at import), fastest first."""
    if mutant.site.in_function_body:
        name = str(mutant.path)
        runs = [run for run in runs if any((name, line) in run.lines for line in mutant.site.lines)]
    return sorted(runs, key=lambda run: run.seconds)


# --- in the child ----------------------------------------------------------------------------------


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the mutant's compiled code as its module (same name, same file name in tracebacks)."""

    def __init__(self, mutant: Mutant) -> None:
        self.mutant = mutant

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.mutant.module:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=str(self.mutant.path))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__file__ = str(self.mutant.path)
        exec(self.mutant.code, module.__dict__)  # noqa: S102 (the mutant under test)


class _LineRecorder:
    """A pytest plugin: which lines of the target files each test executes (coverage.py, one dynamic
    context per test), how long it takes, and whether it passes without a mutant."""

    def __init__(self, targets: set[str]) -> None:
        self.coverage = coverage.Coverage(data_file=None, include=sorted(targets), config_file=False)
        self.seconds: dict[str, float] = {}
        self.failing: set[str] = set()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        started = time.perf_counter()
        self.coverage.start()
        self.coverage.switch_context(item.nodeid)
        try:
            return (yield)
        finally:
            self.coverage.stop()
            self.seconds[item.nodeid] = time.perf_counter() - started

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failing.add(report.nodeid)

    def report(self) -> list[dict[str, Any]]:
        data = self.coverage.get_data()
        lines: dict[str, set[tuple[str, int]]] = {nodeid: set() for nodeid in self.seconds}
        for filename in data.measured_files():
            for line, contexts in data.contexts_by_lineno(filename).items():
                for context in contexts:
                    lines.setdefault(context, set()).add((filename, line))
        return [
            {"nodeid": nodeid, "seconds": seconds, "passed": nodeid not in self.failing,
             "lines": sorted(lines[nodeid])}
            for nodeid, seconds in self.seconds.items()
        ]  # fmt: skip


def _in_child(work: Callable[[], int], timeout: float | None, quiet: bool) -> int | None:
    """Fork, run `work` in the child, return its exit status (None if it ran past `timeout`)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            _no_example_database()
            code = work()
        finally:
            os._exit(code)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(POLL_SECONDS)


def _no_example_database() -> None:
    """A mutant's failing examples must not be saved and replayed against the real code later."""
    from hypothesis import settings

    settings.register_profile("mutation", database=None)
    settings.load_profile("mutation")
