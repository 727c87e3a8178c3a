"""`python -m sis_sync.admin`: argument parsing and output (a table, or JSON with `--json`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from pydantic import BaseModel

from sis_sync.admin import operations
from sis_sync.admin.operations import Operator, UnknownDistrictError
from sis_sync.admin.wiring import StackNotFoundError, operator
from sis_sync.clever.errors import CleverError
from sis_sync.onboarding import TokenDistrictMismatchError

EXIT_FAILED = 1
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m sis_sync.admin", description=__doc__)
    cli.add_argument("--stack", help="a deployed stack's name (default: the devstack's environment)")
    cli.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    cli.add_argument("--json", action="store_true", help="machine-readable output")
    commands = cli.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every district, its connection and last sync")
    onboard = commands.add_parser("onboard", help="onboard a district with its Clever district token")
    onboard.add_argument("district_id")
    onboard.add_argument("--token", required=True, help="the Clever district token ('-': read it from stdin)")
    onboard.add_argument(
        "--admin-email", action="append", default=[], help="repeatable; default: Clever's district admins"
    )
    poll = commands.add_parser("poll", help="poll a district now (as 'Check for new Clever data' does)")
    poll.add_argument("district_id")
    poll.add_argument("--wait", action="store_true", help="wait for the poll and show its result")
    offboard = commands.add_parser(
        "offboard", help="disconnect a district and forget its token (data is kept)"
    )
    offboard.add_argument("district_id")
    offboard.add_argument("--yes", action="store_true", help="confirm")
    return cli


def run(
    argv: Sequence[str] | None = None,
    *,
    make_operator: Callable[[str | None, str | None], Operator] = operator,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    args = parser().parse_args(argv)
    if args.command == "offboard" and not args.yes:
        print(f"offboarding disconnects {args.district_id} and forgets its token: add --yes", file=stderr)
        return EXIT_USAGE
    try:
        op = make_operator(args.stack, args.region)
        result: BaseModel | list[operations.DistrictRow]
        if args.command == "list":
            result = operations.list_districts(op)
        elif args.command == "onboard":
            token = stdin.readline().strip() if args.token == "-" else args.token  # noqa: S105 ("-" = stdin)
            result = operations.onboard(op, args.district_id, token, args.admin_email)
        elif args.command == "poll":
            result = operations.poll(op, args.district_id, wait=args.wait)
        else:
            result = operations.offboard(op, args.district_id)
    except (StackNotFoundError, UnknownDistrictError, TokenDistrictMismatchError, CleverError) as error:
        print(f"error: {error}", file=stderr)
        return EXIT_FAILED
    _print(result, as_json=args.json, out=stdout)
    return 0


def _print(result: BaseModel | list[operations.DistrictRow], *, as_json: bool, out: TextIO) -> None:
    if isinstance(result, list):
        rows = [row.model_dump(mode="json") for row in result]
        if as_json:
            out.write(json.dumps(rows, indent=2) + "\n")
        else:
            out.write(_table(rows, list(operations.DistrictRow.model_fields)) if rows else "no districts\n")
    elif as_json:
        out.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    else:
        summary = result.model_dump(mode="json", exclude={"detail"})
        out.write(_table([summary], [key for key, value in summary.items() if value is not None]))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = [columns, ["-" * w for w in widths], *cells]
    return "".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in lines
    )


def main() -> None:
    sys.exit(run())
