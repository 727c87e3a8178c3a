"""One benchmark stage per process, so each reports its own CPU time and peak memory.

    python -m bench.stages poll URL TOKEN DIR   pull a district over loopback, write its snapshots
    python -m bench.stages diff DIR             diff + hold rules + changes CSV for a 5 % change
    python -m bench.stages apply DIR            the 5 % change written to a roster table (moto)
Each prints one JSON object.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import orjson
from moto import mock_aws

from bench.mutate import mutate
from sis_sync.applying import roster_items
from sis_sync.changes import diff as change_set
from sis_sync.changes_csv import write_changes_csv
from sis_sync.clever.client import CleverClient
from sis_sync.polling import pull
from sis_sync.rules import evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Snapshot, decode, encode
from sis_sync.store.roster_table import RosterTable


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def prepare_changed(folder: Path) -> list[tuple[bytes, bytes]]:
    """(applied, new) gzip pairs per school; the 5 % mutation is made here, outside the timing."""
    pairs = []
    for index, path in enumerate(sorted(folder.glob("*.json.gz"))):
        applied = path.read_bytes()
        snapshot = decode(applied)
        changed = Snapshot(
            snapshot.district_id,
            snapshot.school_id,
            snapshot.clever_school_id,
            mutate(snapshot.records, 0.05, seed=index),
        )
        pairs.append((applied, encode(changed).body))
    return pairs


def diff(folder: Path) -> dict[str, Any]:
    pairs = prepare_changed(folder)
    raw = [(gzip.decompress(a), gzip.decompress(b)) for a, b in pairs]

    start = time.perf_counter()
    for a, b in raw:
        orjson.loads(a), orjson.loads(b)
    parse_floor = time.perf_counter() - start  # JSON parse only: the least any diff must spend

    thresholds = HoldThresholds()

    def work() -> dict[str, Any]:
        changes = rows = 0
        for applied, new in pairs:
            evaluation = evaluate(decode(applied), decode(new), thresholds)
            sink = io.BytesIO()
            write_changes_csv(evaluation, sink)
            changes += len(evaluation.change_set)
            rows += sink.getvalue().count(b"\n") - 1
        return {"changes": changes, "csv_rows": rows}

    return _measure(work) | {"parse_floor_s": round(parse_floor, 3)}


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


def main(argv: list[str]) -> None:
    stage, *args = argv
    if stage == "poll":
        figures = poll(args[0], args[1], Path(args[2]))
    elif stage == "diff":
        figures = diff(Path(args[0]))
    elif stage == "apply":
        figures = apply(Path(args[0]))
    else:
        raise SystemExit(f"unknown stage {stage}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
