"""`python -m tests.mutation [--match TEXT]`: mutate, test, print the score and the survivors.

The score is killed / (mutants - listed equivalents); the run fails below REQUIRED_SCORE or when a
survivor is left that is not listed in equivalents.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.mutation.equivalents import EQUIVALENT
from tests.mutation.operators import Mutant, mutants_of
from tests.mutation.runner import Outcome, record_lines, run_mutant, tests_for, warm_up

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "common"
TARGETS = {
    "sis_sync.rules": LAYER / "sis_sync" / "rules.py",
    "sis_sync.changes": LAYER / "sis_sync" / "changes.py",
    "sis_sync.changes_csv": LAYER / "sis_sync" / "changes_csv.py",
}
IMPORT_ROOTS = [REPO / root for root in ("layers/common", ".", "local", "functions/api")]  # as pyproject
# The fast tests that exercise the three modules (the demo-district ones skip without ../shared).
TEST_FILES = (
    "tests/unit/test_rules.py",
    "tests/unit/test_changes.py",
    "tests/unit/test_changes_csv.py",
    "tests/unit/test_safe_changes.py",  # the rules' triggers (apply safe changes)
    "tests/unit/test_pause.py",  # the after-pause note
    "tests/unit/test_snapshot.py",
    "tests/unit/test_spec_conformance.py",
    "tests/integration/test_demo_district_holds.py",
)
SUPPORT = (REPO / "tests" / "conftest.py", REPO / "tests" / "unit" / "strategies.py")
REQUIRED_SCORE = 97.0
KILLED = (Outcome.KILLED, Outcome.TIMEOUT)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument(
        "--match", action="append", default=[], help="only mutants whose key contains this text (repeatable)"
    )
    parser.add_argument(
        "--last-survivors", action="store_true", help="only the mutants the last run did not kill"
    )
    args = parser.parse_args(argv)
    last_run = Path(tempfile.gettempdir()) / "sis-sync-mutation-last-run.json"
    previous = json.loads(last_run.read_text()) if args.last_survivors and last_run.is_file() else {}
    started = time.monotonic()

    warm_up(IMPORT_ROOTS, list(TARGETS))
    mutants = [
        mutant
        for module, path in TARGETS.items()
        for mutant in mutants_of(module, path)
        if (not args.match or any(text in mutant.key for text in args.match))
        and previous.get(mutant.key) not in KILLED
    ]
    runs = record_lines(TEST_FILES, list(TARGETS.values()), _scratch("lines"))
    print(f"mutation: {len(mutants)} mutants, {len(runs)} tests", flush=True)

    outcomes: dict[str, Outcome] = {}
    for number, mutant in enumerate(mutants, start=1):
        tests = tests_for(mutant, runs)
        timeout = 10 + 3 * sum(test.seconds for test in tests)
        outcome = outcomes[mutant.key] = run_mutant(mutant, tests, timeout)
        if outcome not in KILLED:
            print(f"  [{number}/{len(mutants)}] {outcome}: {_where(mutant)}", flush=True)

    last_run.write_text(json.dumps(previous | outcomes))
    return _report(mutants, outcomes, time.monotonic() - started, bool(args.match) or args.last_survivors)


def _report(mutants: list[Mutant], outcomes: dict[str, Outcome], seconds: float, partial: bool) -> int:
    equivalent = [mutant for mutant in mutants if mutant.key in EQUIVALENT]
    scored = [mutant for mutant in mutants if mutant.key not in EQUIVALENT]
    killed = [mutant for mutant in scored if outcomes[mutant.key] in KILLED]
    survivors = [mutant for mutant in scored if outcomes[mutant.key] not in KILLED]
    wrongly_listed = [mutant for mutant in equivalent if outcomes[mutant.key] in KILLED]
    keys = {mutant.key for mutant in mutants}
    stale = [] if partial else sorted(key for key in EQUIVALENT if key not in keys)

    print("\nper module (killed / non-equivalent):")
    for module, path in TARGETS.items():
        in_module = [mutant for mutant in scored if mutant.module == module]
        killed_here = sum(1 for mutant in in_module if outcomes[mutant.key] in KILLED)
        print(f"  {path.name:16} {killed_here}/{len(in_module)}")
    print(f"\nequivalent (listed in tests/mutation/equivalents.py): {len(equivalent)}")
    for mutant in equivalent:
        print(f"  {_where(mutant)}\n      because {EQUIVALENT[mutant.key]}")
    for mutant in wrongly_listed:
        print(f"WRONGLY LISTED as equivalent (a test kills it): {mutant.key}")
    for key in stale:
        print(f"STALE equivalent (no such mutant any more): {key}")
    print(f"\nsurvivors: {len(survivors)}")
    for mutant in survivors:
        print(f"  {outcomes[mutant.key]}: {_where(mutant)}")
    outcome_counts = Counter(outcomes[mutant.key] for mutant in scored)
    score = 100 * len(killed) / len(scored) if scored else 100.0
    print(
        f"\nmutation score: {len(killed)}/{len(scored)} non-equivalent mutants killed ({score:.1f} %), "
        f"{outcome_counts[Outcome.TIMEOUT]} by timeout; {len(equivalent)} equivalent; "
        f"{len(mutants)} mutants in {seconds / 60:.1f} min"
    )
    failed = score < REQUIRED_SCORE or bool(wrongly_listed) or bool(stale)
    return 1 if failed or any(outcome == Outcome.ERROR for outcome in outcomes.values()) else 0


def _scratch(kind: str) -> Path:
    """A file in the temp dir named after the contents of the code and tests (never in the tree), and
    after where they are: the record names files by path, so a clone must not reuse another's."""
    digest = hashlib.sha256(str(REPO).encode())
    for path in sorted([*(LAYER / "sis_sync").rglob("*.py"), *map(REPO.joinpath, TEST_FILES), *SUPPORT]):
        digest.update(path.read_bytes())
    return Path(tempfile.gettempdir()) / f"sis-sync-mutation-{kind}-{digest.hexdigest()[:16]}.json"


def _where(mutant: Mutant) -> str:
    return f"{mutant.key}  (line {mutant.line})"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
