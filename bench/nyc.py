"""`make bench-nyc`: New York City's district (1,800 schools, 1,000,000 students) polled step by step
as the poll state machine runs it, against the simulator with 5 s per page.

    python -m bench.nyc [SIMULATOR OPTIONS]      the whole bench (default: --preset nyc
                                                 --page-latency 5); the last line is its JSON
    python -m bench.nyc step DISTRICT SYNC DIR   one poll step (one Lambda invocation), one process
    python -m bench.nyc --only clear [--profile FILE] [--moto-as-is]
                                                 Clear holds of every school alone (no poll)
    python -m bench.nyc --only apply-safe [--profile FILE] [--moto-as-is]
                                                 Apply safe changes of every school alone
    python -m bench.nyc --only evaluate-map      the real evaluate state machine's Map over 1,800
                                                 small changed schools (bench/evaluate_map.py)

Every step is a fresh process (as a fresh invocation is: nothing carried over but what is stored),
timed from the outside (start-up included) and reporting its own peak RSS. AWS is a moto server
in this process (the stack of template.yaml); the pull's pages and cursors go to local disk through
`DiskPullStore` (PullStore's interface), so moto does not hold gigabytes of pages in memory.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench.__main__ import ENV, ROOT, serve_simulator
from bench.harness import onboard, peak_rss_mb
from bench.moto_dynamodb import projections_converting_once
from devstack.fake_aws import REGION, use_fake_aws
from sis_sync.pulling import LISTINGS, ListingCursor

PAGE_LATENCY_S = 5.0
LAMBDA_TIMEOUT_MS = 900_000  # the poll function's Timeout in template.yaml
MAX_STEPS = 30
DISTRICT = "d-nyc"


class DiskPullStore:
    """`PullStore` on local disk: a page per file, a cursor per listing (written whole, then
    renamed, as S3 and DynamoDB write whole items), the request count in a file."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _sync(self, district_id: str, sync_id: str) -> Path:
        return self._folder / district_id / sync_id

    def _write(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_bytes(body)
        temporary.replace(path)

    def cursors(self, district_id: str, sync_id: str) -> dict[str, ListingCursor]:
        folder = self._sync(district_id, sync_id)
        return {
            name: ListingCursor.model_validate_json((folder / f"{name}.cursor.json").read_bytes())
            for name in LISTINGS
            if (folder / f"{name}.cursor.json").exists()
        }

    def save_cursor(self, district_id: str, sync_id: str, listing: str, cursor: ListingCursor) -> None:
        self._write(
            self._sync(district_id, sync_id) / f"{listing}.cursor.json", cursor.model_dump_json().encode()
        )

    def add_requests(self, district_id: str, sync_id: str, requests: int) -> int:
        path = self._sync(district_id, sync_id) / "requests"
        total = (int(path.read_text()) if path.exists() else 0) + requests
        self._write(path, str(total).encode())
        return total

    def put_page(self, district_id: str, sync_id: str, listing: str, number: int, body: bytes) -> None:
        self._write(self._sync(district_id, sync_id) / listing / f"{number:05d}.json.gz", body)

    def page(self, district_id: str, sync_id: str, listing: str, number: int) -> bytes:
        return (self._sync(district_id, sync_id) / listing / f"{number:05d}.json.gz").read_bytes()


def step(district_id: str, sync_id: str, folder: Path) -> dict[str, Any]:
    """One poll_clever invocation of the state machine's loop, in this process."""
    from sis_sync import services
    from sis_sync.polling import poll_step
    from sis_sync.scheduling import STEP_S, poll_budget

    wall, cpu = time.perf_counter(), time.process_time()
    services.reset()
    poller = replace(services.poller(), pulls=DiskPullStore(folder))
    done = poll_step(
        poller,
        district_id,
        sync_id,
        trigger="schedule",
        budget_s=poll_budget(LAMBDA_TIMEOUT_MS),
        step_s=STEP_S,
    )
    return {
        "done": done.done,
        "status": done.run.status.value,
        "requests": done.run.requests,
        "changed_schools": len(done.run.changed_schools),
        "error": done.run.error.code if done.run.error else None,
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def _start_stack() -> Any:
    """template.yaml's resources in a moto server in this process (its memory is not a step's)."""
    from moto.server import ThreadedMotoServer

    from devstack.stack import create_stack

    use_fake_aws("bench", "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    # executions are recorded, not run: the evaluate and release machines are timed on their own
    httpx.post(f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}).raise_for_status()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    stack = create_stack(
        ROOT / "template.yaml", boto3.Session(region_name=REGION), parameters={"SenderEmail": "b@bench.local"}
    )
    os.environ.update(stack.environment)
    return stack


def _poll(sync_id: str, folder: Path) -> tuple[list[dict[str, Any]], float]:
    """The state machine's loop: a fresh process per step until one says done."""
    steps: list[dict[str, Any]] = []
    began = time.perf_counter()
    while len(steps) < MAX_STEPS:
        start = time.perf_counter()
        output = subprocess.run(
            [sys.executable, "-m", "bench.nyc", "step", DISTRICT, sync_id, str(folder)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ | {"PYTHONPATH": ENV["PYTHONPATH"]},
            cwd=ROOT,
        ).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        figures["invocation_s"] = round(time.perf_counter() - start, 1)  # process start-up included
        steps.append(figures)
        print(f"step {len(steps)}: " + json.dumps(figures), flush=True)
        if figures["done"]:
            break
    return steps, time.perf_counter() - began


def _evaluate(sync_id: str) -> dict[str, Any]:
    """Diff + hold rules + changes CSV of every changed school (each one's first sync: all
    additions), one school after the other, the schools read from the poll's manifest and each
    snapshot from the bucket, as the evaluate Map's iterations read them. The Map runs
    MapConcurrency of these at once; its states and DynamoDB writes are not timed."""
    from sis_sync import services
    from sis_sync.changes_csv import linked_student_names, write_changes_csv
    from sis_sync.rules import evaluate
    from sis_sync.settings import HoldThresholds
    from sis_sync.snapshot import decode

    services.reset()
    s3, bucket, thresholds = services.client("s3"), services.environment().snapshot_bucket, HoldThresholds()
    key = f"manifests/{DISTRICT}/{sync_id}.json"
    changed = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    longest = 0.0
    began = time.perf_counter()
    for school in changed:
        start = time.perf_counter()
        after = decode(s3.get_object(Bucket=bucket, Key=school["snapshot_key"])["Body"].read())
        evaluation = evaluate(None, after, thresholds)
        write_changes_csv(
            evaluation, linked_student_names(evaluation.change_set, after.records), io.BytesIO()
        )
        longest = max(longest, time.perf_counter() - start)
    return {
        "evaluate_s": round(time.perf_counter() - began, 1),
        "evaluate_max_school_s": round(longest, 2),
        "evaluated_schools": len(changed),
    }


RELEASE_RUNS = 3  # each release request is timed this many times
SAFE_CHANGES = (1, 400)  # each held change set's changes that trip no rule (a seeded draw)
HALF_A_SCHOOL = 275  # students a held school's change set removes (of an NYC school's ~550)


def _large_removals(school_id: str) -> tuple[list[Any], dict[str, Any]]:
    """The holds and change summary the real rules give a school whose upload lost half its
    students, so that the items read are as large as a real held school's (moto copies the whole
    item for each attribute a read projects)."""
    from sis_sync.rules import evaluate
    from sis_sync.settings import HoldThresholds

    def student(n: int) -> dict[str, Any]:
        return {
            "id": f"{school_id}-s{n:04d}", "sis_id": f"{n:06d}", "first_name": f"First{n}",
            "middle_name": "", "last_name": f"Last{n}", "email": "", "dob": "2012-01-01",
            "grade": str(n % 12 + 1), "student_number": f"{n:06d}", "state_id": "",
        }  # fmt: skip

    students = [student(n) for n in range(2 * HALF_A_SCHOOL)]
    evaluation = evaluate({"student": students}, {"student": students[HALF_A_SCHOOL:]}, HoldThresholds())
    return list(evaluation.holds), dict(evaluation.change_set.summary())


def _hold_every_school(sync_id: str) -> list[str]:
    """Every discovered school put on hold with change set `sync_id` (written to the table,
    untimed) for its large removals, with the holds' details the rules give, each with a count of
    safe changes, so that both Clear holds and Apply safe changes find all of them releasable."""
    from sis_sync import services
    from sis_sync.model import Decision, PendingChange, SchoolStatus

    services.reset()
    state = services.state_table()
    schools = [s for s in state.schools(DISTRICT) if s.clever_school_id]
    table = boto3.resource("dynamodb").Table(services.environment().state_table)
    now, draw = datetime.now(UTC), random.Random(13)
    with table.batch_writer() as batch:
        for school in schools:
            pending = PendingChange(
                sync_id=sync_id,
                key=f"snapshots/{DISTRICT}/{school.school_id}/{sync_id}.json.gz",
                sha256="bench",
                decision=Decision.HOLD,
                evaluated_at=now,
                csv_key=f"changes/{DISTRICT}/{school.school_id}/{sync_id}.csv",
                safe_changes=draw.randint(*SAFE_CHANGES),
            )
            holds, changes = _large_removals(school.school_id)
            held = school.model_copy(
                update={
                    "status": SchoolStatus.ON_HOLD,
                    "pending": pending,
                    "latest_sync_id": sync_id,
                    "holds": holds,
                    "changes": changes | {"sync_id": sync_id},
                }
            )
            batch.put_item(Item=state._school_item(held))
    return [school.school_id for school in schools]


def _time_release_request(
    stage: str, action: str, started: str, sync_id: str, profile: Path | None, moto_as_is: bool = False
) -> dict[str, Any]:
    """Every school held, then one API request (`.../holds/<action>`) naming all of them, timed to
    its answer, RELEASE_RUNS times (the median is reported, with every run; each run finds the
    schools as held and starts the same release again); `started` counts the results that started
    their release. One release execution is
    started, not run: applying 1,800 schools' change sets writes ~2.8 M roster items, hours in
    moto; tests/e2e/test_many_schools_maps.py runs both Maps end to end over 60 schools; its first
    step, not timed here, writes the released schools' histories."""
    from devstack.lambdas import FakeContext
    from functions.api.app import lambda_handler
    from tests.api_events import admin, http_event

    runs: list[tuple[float, float, dict[str, Any]]] = []
    # held once: the request changes no school (the release execution, not run here, would)
    school_ids = _hold_every_school(sync_id)
    body = {"schools": [{"school_id": school_id, "sync_id": sync_id} for school_id in school_ids]}
    event = http_event("POST", f"/v1/districts/{DISTRICT}/holds/{action}", claims=admin(DISTRICT), body=body)
    for _ in range(RELEASE_RUNS):
        # a warm container: the first request's imports and client set-up are not the action's
        warm_up = http_event("GET", f"/v1/districts/{DISTRICT}", claims=admin(DISTRICT))
        lambda_handler(warm_up, FakeContext("api"))
        # this process also holds moto's state and the earlier stages' objects: a full collection
        # of them now rather than by chance inside the request (a Lambda's heap holds neither)
        gc.collect()
        profiler = cProfile.Profile() if profile else None
        with nullcontext() if moto_as_is else projections_converting_once():
            start, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = lambda_handler(event, FakeContext(function_name="api"))
            if profiler:
                profiler.disable()
            runs.append((time.perf_counter() - start, time.process_time() - cpu, result))
        if profiler and profile:
            profiler.dump_stats(profile)
    elapsed, cpu_s, result = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    count = sum(r["result"] == started for r in json.loads(result["body"])["results"])
    # CPU seconds of this process: the handler's and the moto server's (a thread of it), so a
    # figure that other load on the machine does not inflate; moto's projections convert each item
    # once (not once per attribute) unless `moto_as_is`
    return {
        f"{stage}_s": round(elapsed, 2),
        f"{stage}_cpu_s": round(cpu_s, 2),
        f"{stage}_runs_s": [round(run[0], 2) for run in runs],
        f"{stage}_status": result["statusCode"],
        started: count,
    }


def _clear_all(sync_id: str, profile: Path | None = None, moto_as_is: bool = False) -> dict[str, Any]:
    """Clear holds of every school in one request."""
    return _time_release_request("clear_all", "clear", "released", sync_id, profile, moto_as_is)


def _apply_safe_all(sync_id: str, profile: Path | None = None, moto_as_is: bool = False) -> dict[str, Any]:
    """Apply safe changes of every school in one request (one `apply_safe` release)."""
    return _time_release_request("apply_safe_all", "apply-safe", "applied_safe", sync_id, profile, moto_as_is)


STAGES = {"clear": _clear_all, "apply-safe": _apply_safe_all}


def _discover_schools(url: str, token: str) -> None:
    """The district's schools as its first poll creates them (from Clever's schools listing alone,
    without pulling the roster)."""
    from sis_sync import services
    from sis_sync.clever.client import CleverClient
    from sis_sync.discovery import discover

    services.reset()
    state = services.state_table()
    with CleverClient(url, token) as client:
        found = discover(DISTRICT, "bench", [], client.list_all_schools(), first_sync=True)
    table = boto3.resource("dynamodb").Table(services.environment().state_table)
    with table.batch_writer() as batch:
        for school in found.created:
            batch.put_item(Item=state._school_item(school))


def stage_only(stage: str, options: list[str]) -> None:
    """`--only clear|apply-safe [--profile FILE] [--moto-as-is]`: onboarding (which discovers the
    schools) and the Clear holds or Apply safe changes stage alone, without the poll; FILE gets the
    handler call's cProfile stats; `--moto-as-is` leaves moto's projection converting each item
    once per attribute (bench.moto_dynamodb.projections_converting_once)."""
    profile = Path(options[options.index("--profile") + 1]) if "--profile" in options else None
    load = os.getloadavg()
    stack = _start_stack()
    with serve_simulator(["--preset", "nyc"]) as (url, token):
        os.environ["CLEVER_API_URL"] = url
        os.environ.update({k: v for k, v in stack.environment.items() if k not in os.environ})
        onboard(url, token, DISTRICT, "admin@bench.local")
        _discover_schools(url, token)
    sync_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}000Z-bench-{DISTRICT}"
    figures = STAGES[stage](sync_id, profile, "--moto-as-is" in options)
    print(json.dumps(figures | {"load_before": load, "load_after": os.getloadavg()}))


def main(options: list[str]) -> None:
    if options[:1] == ["--only"] and options[1:2] and options[1] in STAGES:
        stage_only(options[1], options[2:])
        return
    if options[:2] == ["--only", "evaluate-map"]:
        from bench.evaluate_map import main as evaluate_map

        evaluate_map(options[2:])
        return
    load = os.getloadavg()
    stack = _start_stack()
    args = options or ["--preset", "nyc", "--page-latency", str(PAGE_LATENCY_S)]
    with tempfile.TemporaryDirectory() as folder, serve_simulator(args) as (url, token):
        os.environ["CLEVER_API_URL"] = url
        os.environ.update({k: v for k, v in stack.environment.items() if k not in os.environ})
        onboard(url, token, DISTRICT, "admin@bench.local")
        sync_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}000Z-bench-{DISTRICT}"
        steps, poll_wall = _poll(sync_id, Path(folder))
        cursors = DiskPullStore(Path(folder)).cursors(DISTRICT, sync_id)
    records = sum(cursor.records for cursor in cursors.values())
    students = cursors["students"].records if "students" in cursors else 0
    schools = cursors["schools"].records if "schools" in cursors else 0
    last = steps[-1]
    evaluated = _evaluate(sync_id) if last["status"] == "succeeded" else {"evaluate_s": None}
    cleared = _clear_all(sync_id)
    applied_safe = _apply_safe_all(sync_id)  # the schools are still held: the release is not run
    budget = math.ceil(records / 10_000) + len(LISTINGS)
    print(
        f"records={records} request_bar={math.floor(budget * 1.05)} steps={len(steps)} "
        f"status={last['status']} error={last['error']} load_before={load} load_after={os.getloadavg()} "
        + " ".join(f"{k}={v}" for k, v in (evaluated | cleared | applied_safe).items())
    )
    print(
        json.dumps(
            {
                "students": students,
                "schools": schools,
                "poll_wall_s": round(poll_wall, 1),
                "max_invocation_s": max(s["invocation_s"] for s in steps),
                "peak_rss_mb": max(s["peak_rss_mb"] for s in steps),
                "requests": last["requests"],
                "evaluate_s": evaluated["evaluate_s"],
                "clear_all_s": cleared["clear_all_s"],
                "apply_safe_all_s": applied_safe["apply_safe_all_s"],
                "apply_safe_all_cpu_s": applied_safe["apply_safe_all_cpu_s"],
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["step"]:
        print(json.dumps(step(sys.argv[2], sys.argv[3], Path(sys.argv[4]))))
    else:
        main(sys.argv[1:])
