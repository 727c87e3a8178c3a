"""`python -m tests.faults` (`make faults`): runs the fault matrix and prints one line per row with
its counts, then `faults: N rows, N passed, records lost 0, duplicated 0, spurious removals 0`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.faults.invariants import Counts
from tests.faults.matrix import ROWS
from tests.faults.results import COUNTED

HERE = Path(__file__).resolve().parent


class Outcomes:
    """A pytest plugin keeping each row's pass or fail (setup, call and teardown together)."""

    def __init__(self) -> None:
        self.failed: set[str] = set()
        self.passed: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = report.nodeid.partition("[")[2].rstrip("]")
        if report.failed:
            self.failed.add(row)
        elif report.when == "call" and report.passed:
            self.passed.add(row)


def main() -> int:
    outcomes = Outcomes()
    code = pytest.main([str(HERE), "-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[outcomes])
    width = max(len(row.name) for row in ROWS)
    print(f"\n{'row':<{width}}  result  lost  duplicated  spurious removals  unapproved")
    total = Counts()
    passed = 0
    for row in ROWS:
        ok = row.name in outcomes.passed and row.name not in outcomes.failed
        passed += ok
        counts = COUNTED.get(row.name)
        if counts is None:
            print(f"{row.name:<{width}}  {'pass' if ok else 'FAIL':<6}  (not counted)")
            continue
        total += counts
        print(
            f"{row.name:<{width}}  {'pass' if ok else 'FAIL':<6}  {counts.lost:>4}  {counts.duplicated:>10}"
            f"  {counts.spurious_removals:>17}  {counts.unapproved:>10}"
        )
    print(
        f"faults: {len(ROWS)} rows, {passed} passed, records lost {total.lost}, "
        f"duplicated {total.duplicated}, spurious removals {total.spurious_removals}"
    )
    return int(code) if code else (0 if passed == len(ROWS) else 1)


if __name__ == "__main__":
    sys.exit(main())
