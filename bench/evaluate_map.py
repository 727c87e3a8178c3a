"""`python -m bench.nyc --only evaluate-map`: the REAL evaluate state machine (statemachine/
evaluate.asl.json, created from template.yaml in moto, which executes the ASL) over NYC's 1,800
changed schools, every Lambda invoke routed in-process to the real handler (devstack.lambdas).

The schools are small (a few students each): what is proven is the Distributed Map over 1,800
items — the item reader on the poll's manifest, MaxConcurrency, one iteration per school, the
results, and the one hold mail (NotifyHolds) after the Map — not the volume of students (applying
1,800 NYC-sized first syncs writes ~2.8 M roster items, over 30 minutes in moto).

Every school's first sync is its change set (all additions): at Clever a third of the schools get
a student with 7 guardians and a third an Emergency contact (each held), the last third new parents
(applied). The poll starts the evaluate execution; the bench times it to its end and checks it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.__main__ import ROOT
from bench.harness import onboard, peak_rss_mb
from bench.moto_dynamodb import fit_for_maps
from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.fake_aws import REGION, use_fake_aws
from devstack.lambdas import Handler, route_lambda_invokes, stack_handlers
from devstack.outbox import sent_messages
from devstack.schedules import wait_for_execution
from devstack.stack import StackResources, create_stack
from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import School, SchoolStatus, SyncRun
from sis_sync.observability import logger
from sis_sync.polling import poll_district

SCHOOLS = 1_800
STUDENTS_PER_SCHOOL = 4
MAP_CONCURRENCY = 10  # template.yaml's MapConcurrency default: what runs in AWS
MAP_WAIT_S = 3_600.0
DISTRICT = "d-nyc-map"
TOKEN = "bench-map-token"  # noqa: S105 (the simulator's, on loopback)
ADMIN = "admin@bench.local"
SYNC = "s001"
JOB_LOGGER = "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job"


def _where(error: Exception) -> str:
    """The error and its innermost frames outside copy.py (moto's failures end deep in deepcopy)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "copy.py" not in f.filename][-7:]
    return f"{type(error).__name__} at " + " < ".join(
        f"{f.filename.rsplit('/', 3)[-1]}:{f.lineno}" for f in reversed(frames)
    )


@dataclass
class InFlight:
    """How many handlers of one function ran at once, at most: the Map's concurrency as seen by
    the functions it invokes."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    peak: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def wrap(self, handler: Handler) -> Handler:
        def counted(event: dict[str, Any], context: Any) -> Any:
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                return handler(event, context)
            except Exception as error:  # still the Map's to retry or catch; counted for the report
                with self.lock:
                    self.errors[_where(error)] += 1
                raise
            finally:
                with self.lock:
                    self.running -= 1

        return counted


class Warnings(logging.Handler):
    """moto's own warnings while the Map runs (it logs a job it ran twice: "Duplicate execution")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _moto_environment(folder: Path) -> Iterator[None]:
    """Fake credentials in this process (as tests/conftest.py's `aws_env`), restored afterwards."""
    saved = dict(os.environ)
    use_fake_aws(
        "bench",
        "ERROR",
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=str(folder / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(folder / "no-aws-credentials"),
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _poll(sync_id: str) -> SyncRun:
    """The API's poll, whose Clever client skips its back-off waits; it starts the evaluate
    execution over the changed schools' manifest."""
    poller = services.poller()
    url = services.environment().clever_api_url
    poller = replace(poller, clever=lambda token: CleverClient(url, token, sleep=lambda _: None))
    return poll_district(poller, DISTRICT, sync_id, trigger="bench")


def _wait(execution_arn: str) -> dict[str, Any]:
    return wait_for_execution(boto3.client("stepfunctions"), execution_arn, timeout_s=MAP_WAIT_S, poll_s=0.5)


def _schools() -> dict[str, School]:
    """The district's schools by Clever id."""
    return {s.clever_school_id: s for s in services.state_table().schools(DISTRICT) if s.clever_school_id}


def _change_every_school(sim: CleverSimulator) -> dict[str, SchoolStatus]:
    """A mix of change sets (on top of every school's first sync): the end status each one implies,
    by Clever id."""
    expected: dict[str, SchoolStatus] = {}
    for index, school_id in enumerate(sim.district.school_ids()):
        if index % 3 == 0:  # a student with more guardians than max_guardians
            first_student = sim.district.student_ids_of_school(school_id)[0]
            sim.scenarios.many_guardians(student_id=first_student, count=7)
            expected[school_id] = SchoolStatus.ON_HOLD
        elif index % 3 == 1:  # a blocked contact type
            sim.scenarios.emergency_contact(school_id=school_id)
            expected[school_id] = SchoolStatus.ON_HOLD
        else:  # additions no rule holds
            sim.scenarios.new_parents(school_id=school_id, count=2)
            expected[school_id] = SchoolStatus.CONNECTED
    return expected


def _timed_sync(sync_id: str) -> tuple[SyncRun, dict[str, Any], float, float]:
    """A poll and its evaluate execution to the end: (run, execution, Map wall s, Map CPU s).
    The Map's time is from the execution's start (the poll starts it) to its end, in this
    process: moto, the ASL interpreter and every handler."""
    run = _poll(sync_id)
    if run.execution_arn is None:
        raise AssertionError(f"{sync_id}: the poll started no evaluate execution ({run.status})")
    wall, cpu = time.perf_counter(), time.process_time()
    execution = _wait(run.execution_arn)
    return run, execution, time.perf_counter() - wall, time.process_time() - cpu


def _failures(execution: dict[str, Any]) -> Counter[str]:
    """The Map's failed iterations by error (RecordFailure's)."""
    results = json.loads(execution["output"])["results"] if execution["status"] == "SUCCEEDED" else []
    return Counter(r.get("error", "?") for r in results if r["outcome"] == "failed")


def _check(
    schools: int,
    expected: Mapping[str, SchoolStatus],
    evaluated: Counter[str],
    execution: dict[str, Any],
    mails: list[dict[str, Any]],
    sync_id: str,
) -> dict[str, Any]:
    """Every school evaluated once, each one's end status the one its change set implies, one
    hold mail, the execution SUCCEEDED; AssertionError (the bench fails) otherwise."""
    assert execution["status"] == "SUCCEEDED", execution
    results = json.loads(execution["output"])["results"]
    after = _schools()
    by_id = {school.school_id: clever for clever, school in after.items()}
    assert len(after) == schools, f"{len(after)} schools in the state table, not {schools}"
    assert evaluated == Counter(dict.fromkeys(by_id, 1)), (
        "not every school evaluated exactly once: "
        f"{len(evaluated)} evaluated, {sum(n > 1 for n in evaluated.values())} more than once"
    )
    outcomes = Counter(result["outcome"] for result in results)
    assert not _failures(execution), f"failed iterations: {_failures(execution)}"
    assert len(results) == schools, outcomes
    assert {by_id[r["school_id"]] for r in results} == set(after), outcomes
    wrong = {c: s.status for c, s in after.items() if s.status is not expected[c]}
    assert not wrong, f"{len(wrong)} schools not in the status their change set implies: " + ", ".join(
        f"{c} {s} (expected {expected[c]})" for c, s in list(wrong.items())[:6]
    )
    applied = {c for c, s in expected.items() if s is SchoolStatus.CONNECTED}
    applied_at = {c: ref.sync_id if (ref := after[c].applied) else None for c in applied}
    stale = {c: at for c, at in applied_at.items() if at != sync_id}
    assert not stale, f"{len(stale)} applied schools not at {sync_id}: {list(stale.items())[:3]}"
    assert len(mails) == 1, [m["subject"] for m in mails]
    assert mails[0]["to"] == [ADMIN], mails[0]["to"]
    statuses = Counter(s.status.value for s in after.values())
    return {"outcomes": dict(outcomes), "statuses": dict(statuses), "mail_subject": mails[0]["subject"]}


def run(
    schools: int = SCHOOLS,
    concurrency: int = MAP_CONCURRENCY,
    moto_as_is: bool = False,
) -> dict[str, Any]:
    """The stage's figures; fails (AssertionError) when a check does. `moto_as_is` keeps moto's
    whole-table transaction backups (bench.moto_dynamodb), for comparison: quadratic, and at a
    MapConcurrency above 1 failing iterations."""
    # no dual enrolment: a student's held change holds its one school only, as `expected` says
    district = GeneratedDistrict(
        seed=13, schools=schools, students=schools * STUDENTS_PER_SCHOOL, dual_enrollment_share=0.0
    )
    sim = CleverSimulator(district=district, tokens={TOKEN: district.district_id})
    expected = _change_every_school(sim)
    moto_warnings = Warnings()
    logging.getLogger(JOB_LOGGER).addHandler(moto_warnings)
    logging.getLogger("moto").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the simulator's access log
    logger.setLevel(logging.WARNING)  # a line per school and step would drown the figures
    with (
        tempfile.TemporaryDirectory() as folder,
        _moto_environment(Path(folder)),
        sim.serve() as url,
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}),
        fit_for_maps(item_backups=not moto_as_is) as transactions,
    ):
        stack = create_stack(
            ROOT / "template.yaml",
            boto3.Session(region_name=REGION),
            parameters={"SenderEmail": "b@bench.local", "MapConcurrency": str(concurrency)},
        )
        os.environ.update(
            stack.environment
            | {"CLEVER_API_URL": url, "LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
        )
        onboard(url, TOKEN, DISTRICT, ADMIN)
        figures = _run_sync(stack, expected, schools)
        figures["moto_warnings"] = len(moto_warnings.messages)
        figures["transactions"] = transactions.count
        figures["transactions_s"] = round(transactions.seconds, 1)
        services.reset()
    logging.getLogger(JOB_LOGGER).removeHandler(moto_warnings)
    return figures | {"map_concurrency": concurrency, "moto_as_is": moto_as_is}


def _run_sync(stack: StackResources, expected: Mapping[str, SchoolStatus], schools: int) -> dict[str, Any]:
    evaluate_fn = stack.function_names["EvaluateHoldsFunction"]
    in_flight, others = InFlight(), InFlight()
    handlers = {
        name: (in_flight if name == evaluate_fn else others).wrap(handler)
        for name, handler in stack_handlers(stack.function_names, stack.function_modules).items()
    }
    with route_lambda_invokes(handlers) as log:
        rss_before = peak_rss_mb()
        run, execution, wall, cpu = _timed_sync(SYNC)
        evaluated = Counter(e["school_id"] for name, e in log.calls if name == evaluate_fn)
        mails = sent_messages(stack.account_id, stack.region)
    figures = {
        "schools": schools,
        "changed_schools": len(run.changed_schools),
        "evaluate_map_s": round(wall, 1),
        "evaluate_map_cpu_s": round(cpu, 1),
        "evaluate_map_peak_rss_mb": peak_rss_mb(),
        "peak_rss_before_map_mb": rss_before,
        "execution_s": round((execution["stopDate"] - execution["startDate"]).total_seconds(), 1),
        "evaluated_once": sum(n == 1 for n in evaluated.values()),
        # the Map's results are the execution's output: AWS caps a state's payload at 256 KiB
        "output_kib": round(len(execution.get("output", "").encode()) / 1024, 1),
        "peak_concurrent_evaluations": in_flight.peak,
        "mails": len(mails),
        "handler_errors": dict(in_flight.errors + others.errors),  # retried or caught by the Map
    }
    try:
        return figures | _check(schools, expected, evaluated, execution, mails, SYNC)
    except AssertionError:
        print(json.dumps(figures), file=sys.stderr, flush=True)  # what was measured, for the report
        raise


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """`python -m bench.evaluate_map [--schools N] [--concurrency N]`: the figures, the last line JSON."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.evaluate_map")
    parser.add_argument("--schools", type=int, default=SCHOOLS)
    parser.add_argument("--concurrency", type=int, default=MAP_CONCURRENCY)
    parser.add_argument("--moto-as-is", action="store_true", help="moto's whole-table transaction backups")
    args = parser.parse_args(argv)
    figures = run(args.schools, args.concurrency, args.moto_as_is)
    print(json.dumps(figures), flush=True)
    return figures


if __name__ == "__main__":
    main()
