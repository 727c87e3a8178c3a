"""`make demo`: one real sync of a simulated Clever district into AWS-in-moto, then what it stored.

Everything runs on 127.0.0.1 with no AWS account and no Docker: the Clever simulator serves a
generated district over loopback, moto plays AWS with every resource built from template.yaml,
and the real poll_clever handler pulls, partitions and snapshots the district.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.lambdas import route_lambda_invokes, stack_handlers
from devstack.stack import create_stack

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
DISTRICT_ID = "demo"


def _isolate_from_real_aws() -> None:
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106 (moto's fake credentials)
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="SisSync",
        POWERTOOLS_SERVICE_NAME="sis-sync",
    )


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--students", type=int, default=1200)
    parser.add_argument("--schools", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    _isolate_from_real_aws()

    district = GeneratedDistrict(args.seed, schools=args.schools, students=args.students, unshared_schools=1)
    simulator = CleverSimulator(district)
    with simulator.serve() as clever_url, mock_aws(config=MOTO_CONFIG):
        stack = create_stack(
            ROOT / "template.yaml",
            boto3.Session(region_name=REGION),
            parameters={"SenderEmail": "demo@example.org"},
        )
        os.environ.update(stack.environment | {"CLEVER_API_URL": clever_url})
        # Imported here: the handlers build their AWS clients from the environment set just above.
        from sis_sync import services
        from sis_sync.clever.client import CleverClient
        from sis_sync.model import School
        from sis_sync.onboarding import onboard_district

        services.reset()
        now = datetime.now(UTC)
        with CleverClient(clever_url, simulator.token) as clever:
            onboard_district(
                services.state_table(),
                services.token_store(),
                clever,
                district_id=DISTRICT_ID,
                token=simulator.token,
                admin_emails=["admin@example.org"],
                platform_schools=[
                    # a school of the district that Clever does not share with us: not connected
                    School(district_id=DISTRICT_ID, school_id=f"p-{record['id']}", name=record["name"])
                    for record in district.unshared_school_records()
                ],
                now=now,
            )
        print(f"Clever simulator at {clever_url}: {args.students} students in {args.schools} shared schools")
        print(f"AWS in moto: tables {stack.state_table}, {stack.roster_table}; bucket {stack.bucket}\n")

        started = datetime.now(UTC)
        scheduled = {"id": "demo-tick", "time": now.isoformat(), "source": "aws.events"}
        with route_lambda_invokes(stack_handlers(stack.function_names, stack.function_modules)):
            response = boto3.client("lambda").invoke(
                FunctionName=stack.function_names["PollCleverFunction"], Payload=json.dumps(scheduled)
            )
        result = json.loads(response["Payload"].read())
        if "FunctionError" in response:
            raise SystemExit(f"poll_clever failed: {result}")
        seconds = (datetime.now(UTC) - started).total_seconds()
        [sync] = result["syncs"]
        run = services.state_table().get_sync_run(DISTRICT_ID, sync["sync_id"])
        assert run is not None
        print(f"sync {run.sync_id}: {run.status} in {seconds:.1f} s, {run.requests} requests to Clever")
        print(f"quarantined: {run.quarantine}\n")
        for changed in run.changed_schools:
            school = services.state_table().get_school(DISTRICT_ID, changed.school_id)
            name = school.name if school else changed.school_id
            print(f"{name} ({changed.school_id}, Clever {changed.clever_school_id})")
            print("  " + ", ".join(f"{count} {kind}" for kind, count in changed.counts.items()))
            print(f"  snapshot s3://{stack.bucket}/{changed.snapshot_key}")
        statuses = Counter(s.status.value for s in services.state_table().schools(DISTRICT_ID))
        print(f"\nschools by status: {dict(statuses)}")
        executions = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.evaluate_arn)[
            "executions"
        ]
        print(f"evaluate executions started: {[e['name'] for e in executions]}")


if __name__ == "__main__":
    main()
