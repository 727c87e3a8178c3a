"""One benchmark stage per process, so each reports its own CPU time and peak memory.

    python -m bench.stages poll URL TOKEN DIR   pull a district over loopback, write its snapshots
    python -m bench.stages diff DIR             diff + hold rules + changes CSV for a 5 % change
    python -m bench.stages first-sync DIR       the same for each school's first sync (nothing applied)
    python -m bench.stages rekey DIR            the same for a re-key of every id (same people, new ids)
    python -m bench.stages apply DIR            the 5 % change written to a roster table (moto)
    python -m bench.stages apply_safe DIR       its safe part split off and written the same way
    python -m bench.stages undo DIR             the applied 5 % change taken back (moto)
    python -m bench.stages preview DIR          4 stored 5 % change sets a school judged twice
Each prints one JSON object.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import orjson
from moto import mock_aws

from bench.mutate import mutate, rekey
from sis_sync.applying import roster_items
from sis_sync.changes import diff as change_set
from sis_sync.changes_csv import linked_student_names, write_changes_csv
from sis_sync.clever.client import CleverClient
from sis_sync.collector import collector_paused
from sis_sync.polling import pull
from sis_sync.preview import compare, decode_change_set, encode_change_set
from sis_sync.rules import evaluate, judge
from sis_sync.safe_changes import safe_records, split
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Records, Snapshot, decode, encode
from sis_sync.store.change_sets import ChangeSetBucket
from sis_sync.store.roster_table import RosterTable
from sis_sync.undo import reverting_items

# An evaluation stage and its parse floor are each timed as timeit does: RUNS timed runs, each
# repeating the stage as many times as take at least MIN_RUN_CPU_S, and the least run counts. The
# same number of runs at every size: the least of more runs is lower, which would bias the 10k
# figure (a 10k diff takes ~0.13 s) and with it the 10k -> 100k growth.
RUNS = 5
MIN_RUN_CPU_S = 1.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _least_of_runs(once: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`once`'s figures, with the wall and CPU seconds of one go in the least of RUNS runs."""
    start = time.process_time()
    once()  # sizes the runs (and warms up)
    loops = max(1, math.ceil(MIN_RUN_CPU_S / max(time.process_time() - start, 1e-3)))
    runs = []
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(loops):
            figures = once()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu_s, wall_s = min(runs)
    return figures | {
        "wall_s": round(wall_s / loops, 3),
        "cpu_s": round(cpu_s / loops, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "runs": RUNS,
        "loops": loops,
    }


def _measure(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    figures = work()
    return figures | {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def poll(url: str, token: str, folder: Path) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with CleverClient(url, token) as client:
            pulled = pull(client)
        records = 0
        for clever_school_id, school_records in pulled.records.items():
            encoded = encode(Snapshot("bench", clever_school_id, clever_school_id, school_records))
            (folder / f"{clever_school_id}.json.gz").write_bytes(encoded.body)
            records += sum(len(rows) for rows in school_records.values())
        return {"requests": pulled.requests, "records": records, "schools": len(pulled.records)}

    return _measure(work)


def _changed(folder: Path, change: Callable[[Records, int], Records]) -> list[tuple[bytes, bytes]]:
    """(applied, new) gzip pairs per school; the change is made here, outside the timing."""
    pairs = []
    for index, path in enumerate(sorted(folder.glob("*.json.gz"))):
        applied = path.read_bytes()
        snapshot = decode(applied)
        changed = Snapshot(
            snapshot.district_id,
            snapshot.school_id,
            snapshot.clever_school_id,
            change(snapshot.records, index),
        )
        pairs.append((applied, encode(changed).body))
    return pairs


def prepare_changed(folder: Path) -> list[tuple[bytes, bytes]]:
    """(applied, new) gzip pairs per school with a 5 % change."""
    return _changed(folder, lambda records, index: mutate(records, 0.05, seed=index))


def _evaluate(pairs: Sequence[tuple[bytes | None, bytes]]) -> dict[str, Any]:
    """Diff + hold rules + changes CSV of each (applied or None, new) pair, next to its parse floor:
    the time to merely `orjson`-parse the snapshots it reads (gunzipped beforehand), the least any
    diff of them must spend. Each is the least of several runs (`_least_of_runs`): a single parse's
    CPU moves by a third from run to run with when the collector happens to run."""
    raw = [(None if a is None else gzip.decompress(a), gzip.decompress(b)) for a, b in pairs]

    def parse() -> dict[str, Any]:
        for a, b in raw:
            if a is not None:
                orjson.loads(a)
            orjson.loads(b)
        return {}

    floor = _least_of_runs(parse)

    thresholds = HoldThresholds()

    def work() -> dict[str, Any]:
        changes = rows = 0
        for applied, new in pairs:
            with collector_paused():  # as sis_sync.evaluation.evaluate_school runs each school
                school_changes, school_rows = _evaluate_school(applied, new, thresholds)
            changes += school_changes
            rows += school_rows
        return {"changes": changes, "csv_rows": rows}

    # On shared cores wall time includes other processes' turns: the ratio is taken on CPU time.
    figures = _least_of_runs(work)
    return figures | {
        "parse_floor_s": floor["wall_s"],
        "parse_floor_cpu_s": floor["cpu_s"],
        "parse_floor_loops": floor["loops"],
        "x_floor": round(figures["cpu_s"] / floor["cpu_s"], 2),
    }


def _evaluate_school(applied: bytes | None, new: bytes, thresholds: HoldThresholds) -> tuple[int, int]:
    """One school's (changes, CSV rows); its rosters are freed on return, still inside the pause."""
    before, after = None if applied is None else decode(applied), decode(new)
    evaluation = evaluate(before, after, thresholds)
    rosters = (after.records,) if before is None else (after.records, before.records)
    students = linked_student_names(evaluation.change_set, *rosters)
    sink = io.BytesIO()
    write_changes_csv(evaluation, students, sink)
    return len(evaluation.change_set), sink.getvalue().count(b"\n") - 1


def diff(folder: Path) -> dict[str, Any]:
    return _evaluate(prepare_changed(folder))


def first_sync(folder: Path) -> dict[str, Any]:
    """Every school's first sync: nothing applied yet, so every record is an addition."""
    return _evaluate([(None, path.read_bytes()) for path in sorted(folder.glob("*.json.gz"))])


def rekey_all(folder: Path) -> dict[str, Any]:
    """Every id of every school re-issued: each record must be matched to its old self."""
    return _evaluate(_changed(folder, lambda records, _: rekey(records)))


def apply(folder: Path) -> dict[str, Any]:
    """The 5 % change written to a roster table (DynamoDB in moto, in-process), and an unchanged
    school's cost: its change set is empty, so it writes nothing."""
    pairs = prepare_changed(folder)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto's fake credentials)
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        table = boto3.resource("dynamodb").create_table(
            TableName="roster",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        roster = RosterTable(table)

        def work() -> dict[str, Any]:
            written = unchanged_writes = 0
            for index, (applied, new) in enumerate(pairs):
                before, after = decode(applied).records, decode(new).records
                items = roster_items(change_set(before, after), "bench", "2026-01-01T00:00:00+00:00")
                written += roster.write("bench", str(index), items)
                unchanged_writes += roster.write(
                    "bench", str(index), roster_items(change_set(after, after), "b", "")
                )
            return {"items_written": written, "unchanged_school_writes": unchanged_writes}

        return _measure(work)


def _roster_in_moto() -> RosterTable:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto's fake credentials)
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    table = boto3.resource("dynamodb").create_table(
        TableName="roster",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return RosterTable(table)


def apply_safe(folder: Path) -> dict[str, Any]:
    """Apply safe changes of the same 5 % change: diff + rules + split, the safe part written to the
    roster table, the safe roster encoded as its snapshot, the held part judged again (as
    applying.apply_safe_pending does; the CSV upload is left out as apply leaves it out)."""
    pairs = prepare_changed(folder)
    thresholds = HoldThresholds()
    with mock_aws():
        roster = _roster_in_moto()

        def work() -> dict[str, Any]:
            written = safe = 0
            for index, (applied, new) in enumerate(pairs):
                before, after = decode(applied), decode(new)
                parts = split(evaluate(before, after, thresholds).change_set, before.records, thresholds)
                records = safe_records(before.records, parts)
                encode(Snapshot("bench", str(index), str(index), records))
                written += roster.write("bench", str(index), roster_items(parts.safe, "bench", "2026-01-01"))
                judge(parts.held, records, after.records, thresholds)
                safe += len(parts.safe)
            return {"items_written": written, "safe_changes": safe}

        return _measure(work)


def undo(folder: Path) -> dict[str, Any]:
    """Undo of the same 5 % change, once applied (untimed): the change set computed again, the roster
    put back, the change set judged and its CSV written (as undo.undo_applied does; the CSV to memory)."""
    pairs = prepare_changed(folder)
    thresholds = HoldThresholds()
    with mock_aws():
        roster = _roster_in_moto()
        for index, (applied, new) in enumerate(pairs):
            changes = change_set(decode(applied).records, decode(new).records)
            roster.write("bench", str(index), roster_items(changes, "bench", "2026-01-01"))

        def work() -> dict[str, Any]:
            written = rows = 0
            for index, (applied, new) in enumerate(pairs):
                before, after = decode(applied).records, decode(new).records
                changes = change_set(before, after)
                reverting = reverting_items(changes, "undo-bench", "2026-01-02")
                written += roster.write("bench", str(index), reverting)
                evaluation = judge(changes, before, after, thresholds)
                sink = io.BytesIO()
                write_changes_csv(evaluation, linked_student_names(changes, after, before), sink)
                rows += sink.getvalue().count(b"\n") - 1
            return {"items_written": written, "csv_rows": rows}

        return _measure(work)


PREVIEWED = 4  # the pending change set and the last three applied ones


def preview(folder: Path) -> dict[str, Any]:
    """Threshold preview over every school: its pending change set and three applied ones (each a
    5 % change of another seed, untimed) stored as evaluation stores them, in S3 (moto); timed: each
    read, decoded and judged under the thresholds in force and the proposed ones (as
    api.settings_preview does, one school after the other). `store_cpu_s`: what storing them adds to
    the evaluations (encoding; CPU time, steadier than wall time on shared cores)."""
    thresholds, proposed = HoldThresholds(), HoldThresholds(removal_pct=1, removal_min_count=5)
    with mock_aws():
        _roster_in_moto()  # sets moto's fake credentials (the roster table itself is not used)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench")
        bucket = ChangeSetBucket(s3, "bench")
        store_cpu_s = 0.0
        schools = sorted(folder.glob("*.json.gz"))
        for index, path in enumerate(schools):
            applied = decode(path.read_bytes()).records
            for seed in range(PREVIEWED):
                changes = change_set(applied, mutate(applied, 0.05, seed=index + 1000 * seed))
                start = time.process_time()
                body = encode_change_set(changes, applied)
                store_cpu_s += time.process_time() - start
                bucket.put("bench", str(index), f"s{seed}", body)

        def work() -> dict[str, Any]:
            held = 0
            for index in range(len(schools)):

                def read(sync_id: str, school: str = str(index)) -> Any:
                    body = bucket.get("bench", school, sync_id)
                    return decode_change_set(body) if body is not None else None

                compared = compare([f"s{seed}" for seed in range(PREVIEWED)], read, thresholds, proposed)
                held += sum(bool(one.proposed and one.proposed.held) for one in compared)
            return {"change_sets": len(schools) * PREVIEWED, "held_proposed": held}

        return _measure(work) | {"store_cpu_s": round(store_cpu_s, 3)}


def main(argv: list[str]) -> None:
    stage, *args = argv
    if stage == "poll":
        figures = poll(args[0], args[1], Path(args[2]))
    elif stage == "diff":
        figures = diff(Path(args[0]))
    elif stage == "first-sync":
        figures = first_sync(Path(args[0]))
    elif stage == "rekey":
        figures = rekey_all(Path(args[0]))
    elif stage == "apply":
        figures = apply(Path(args[0]))
    elif stage == "apply_safe":
        figures = apply_safe(Path(args[0]))
    elif stage == "undo":
        figures = undo(Path(args[0]))
    elif stage == "preview":
        figures = preview(Path(args[0]))
    else:
        raise SystemExit(f"unknown stage {stage}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
