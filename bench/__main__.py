"""Run every stage for generated districts of 10,000 and 100,000 students; print the figures.

The last line is one JSON object for the largest size (the issue's contract):
{"students", "poll_s", "diff_rules_s", "parse_floor_s", "peak_rss_mb", "requests", "apply_s",
"apply_safe_s", "undo_s", ...}; apply_safe_s is Apply safe changes of the same 5 % change set, undo_s
its Undo once applied (bar for each: 1.5 x apply_s); preview_s is the threshold preview over every
school, four stored change sets each (bar: 2 x diff_rules_s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SIZES = (10_000, 100_000)
STUDENTS_PER_SCHOOL = 2_500
ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {
    "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "local", ".", "functions/api"))
}


@contextmanager
def simulator(students: int) -> Iterator[tuple[str, str]]:
    """The Clever simulator in its own process, so its memory is not counted as the poll's."""
    with serve_simulator(
        ["--students", str(students), "--schools", str(max(1, students // STUDENTS_PER_SCHOOL))]
    ) as served:
        yield served


@contextmanager
def serve_simulator(options: list[str]) -> Iterator[tuple[str, str]]:
    """The simulator with `options`, in its own process: its (API URL, district token)."""
    args = [sys.executable, "-m", "clever_simulator", "--port", "0", "--seed", "7", *options]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        values: dict[str, str] = {}
        while len(values) < 2:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the simulator did not start")
            key, _, value = line.strip().partition("=")
            if key in ("CLEVER_API_URL", "CLEVER_DISTRICT_TOKEN"):
                values[key] = value
        yield values["CLEVER_API_URL"], values["CLEVER_DISTRICT_TOKEN"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def stage(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.stages", *args],
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
    ).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def run(students: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, simulator(students) as (url, token):
        poll = stage("poll", url, token, folder)
        diff = stage("diff", folder)
        first = stage("first-sync", folder)
        rekeyed = stage("rekey", folder)
        apply = stage("apply", folder)
        safe = stage("apply_safe", folder)
        undone = stage("undo", folder)
        previewed = stage("preview", folder)
    stages = (
        ("poll", poll),
        ("diff+rules+csv", diff),
        ("first sync", first),
        ("re-key all ids", rekeyed),
        ("apply (moto)", apply),
        ("apply-safe (moto)", safe),
        ("undo (moto)", undone),
        ("preview (moto)", previewed),
    )
    for name, figures in stages:
        done = figures.get("records") or figures.get("changes") or figures.get("items_written", 0)
        per_second = done / max(figures["wall_s"], 1e-9)
        print(
            f"{students:>7} students  {name:<15} "
            + "  ".join(f"{k}={v}" for k, v in figures.items())
            + f"  records_per_s={per_second:,.0f}"
        )
    return {
        "students": students,
        "poll_s": poll["wall_s"],
        "diff_rules_s": diff["wall_s"],
        "diff_rules_cpu_s": diff["cpu_s"],
        "parse_floor_s": diff["parse_floor_s"],
        "parse_floor_cpu_s": diff["parse_floor_cpu_s"],
        # CPU-time ratios to each workload's own parse floor (see bench.stages._evaluate)
        "diff_x_floor": diff["x_floor"],
        "first_sync_s": first["wall_s"],
        "first_sync_x_floor": first["x_floor"],
        "rekey_s": rekeyed["wall_s"],
        "rekey_x_floor": rekeyed["x_floor"],
        "peak_rss_mb": poll["peak_rss_mb"],
        "requests": poll["requests"],
        "apply_s": apply["wall_s"],
        "apply_safe_s": safe["wall_s"],
        "undo_s": undone["wall_s"],
        "preview_s": previewed["wall_s"],
        "unchanged_school_writes": apply["unchanged_school_writes"],
    }


def main() -> None:
    results = [run(students) for students in SIZES]
    small, large = results[0], results[-1]
    print(
        f"growth 10k->100k: poll x{large['poll_s'] / small['poll_s']:.1f}, "
        f"diff x{large['diff_rules_cpu_s'] / small['diff_rules_cpu_s']:.1f} (CPU; its parse floor "
        f"x{large['parse_floor_cpu_s'] / small['parse_floor_cpu_s']:.1f}); "
        f"x parse floor (CPU) at 100k: diff {large['diff_x_floor']}, first sync "
        f"{large['first_sync_x_floor']}, re-key {large['rekey_x_floor']}"
    )
    print(json.dumps(large))


if __name__ == "__main__":
    main()
