"""``python -m clever_simulator``: serve a simulated Clever district until interrupted."""

from __future__ import annotations

import argparse
from pathlib import Path

from clever_simulator.demo import load_demo_district
from clever_simulator.district import GeneratedDistrict
from clever_simulator.roster import RosterSource
from clever_simulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, CleverSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clever_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--schools", type=int, default=3)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--contacts-per-student", type=float, default=1.5)
    parser.add_argument("--students-per-teacher", type=int, default=15)
    parser.add_argument("--students-per-section", type=int, default=25)
    parser.add_argument("--staff-per-school", type=int, default=4)
    parser.add_argument("--unshared-schools", type=int, default=0)
    parser.add_argument(
        "--demo", type=Path, metavar="FOLDER", help="serve Clever's demo district from FOLDER"
    )
    parser.add_argument(
        "--token", help="the district bearer token to accept (default: derived from the district)"
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the Clever app's client id")
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET, help="the Clever app's secret")
    parser.add_argument(
        "--admin-email", action="append", default=[], help="a district admin's e-mail (repeatable)"
    )
    parser.add_argument("--page-size-cap", type=int, help="serve at most this many records per page")
    parser.add_argument(
        "--page-latency", type=float, default=0.0, metavar="SECONDS", help="each listing page takes this long"
    )
    parser.add_argument(
        "--preset",
        choices=["nyc"],
        help="nyc: 1,800 schools, 1,000,000 students, 1.5 contacts each (replaces --schools/--students)",
    )
    parser.add_argument("--rate-limit", type=int, help="enforce this many requests per minute per token")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    district: RosterSource
    if args.demo is not None:
        district = load_demo_district(args.demo)
    elif args.preset == "nyc":
        district = GeneratedDistrict.nyc(
            args.seed, unshared_schools=args.unshared_schools, admin_emails=args.admin_email
        )
    else:
        district = GeneratedDistrict(
            args.seed,
            schools=args.schools,
            students=args.students,
            contacts_per_student=args.contacts_per_student,
            students_per_teacher=args.students_per_teacher,
            students_per_section=args.students_per_section,
            staff_per_school=args.staff_per_school,
            unshared_schools=args.unshared_schools,
            admin_emails=args.admin_email,
        )
    tokens = {args.token: district.district_id} if args.token else None
    sim = CleverSimulator(
        district,
        tokens=tokens,
        page_size_cap=args.page_size_cap,
        page_latency=args.page_latency,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    if args.rate_limit:
        sim.faults.rate_limit(args.rate_limit)
    base_url = sim.start(args.host, args.port)
    print(f"Clever simulator serving district {district.district_id} at {base_url}", flush=True)
    print(f"CLEVER_API_URL={base_url}", flush=True)
    print(f"CLEVER_DISTRICT_TOKEN={sim.token}", flush=True)
    print(f"Clever app: client id {args.client_id}, tokens at {base_url}/oauth/tokens", flush=True)
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
