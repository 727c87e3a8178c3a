"""The whole system on 127.0.0.1: moto (server mode) with every resource of template.yaml, Lambda
invokes routed to the real handlers, the Clever simulator (or a real Clever API), the local API
Gateway serving the dashboard and API, and the poll timer."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer, make_server

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.auth import DevAuthority
from devstack.gateway import DevHooks, create_gateway
from devstack.lambdas import InvokeLog, route_lambda_invokes, stack_handlers
from devstack.outbox import sent_messages
from devstack.settings import DevstackSettings
from devstack.stack import StackResources, create_stack

ROOT = Path(__file__).resolve().parents[2]
PANEL = Path(__file__).with_name("panel.html")
REGION = "us-east-1"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
SIMULATED_DISTRICT = "demo"
EXECUTION_WAIT_SECONDS = 120


class Devstack:
    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        self.authority = DevAuthority()
        self.simulator: CleverSimulator | None = None
        self.district_id = SIMULATED_DISTRICT
        self.url = ""
        self._exit = ExitStack()
        self._gateway: BaseWSGIServer | None = None
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self.stack: StackResources | None = None
        self.invokes: InvokeLog | None = None

    # -- start and stop --------------------------------------------------------------------------

    def start(self) -> str:
        """Start everything and run the first sync; returns the dashboard URL."""
        self._isolate_from_real_aws()
        self._start_moto()
        self.stack = stack = create_stack(
            ROOT / "template.yaml",
            boto3.Session(region_name=REGION),
            parameters={
                "SenderEmail": "sis-sync@devstack.local",
                "DashboardUrl": "http://127.0.0.1",
                # one school at a time: moto's DynamoDB is not thread-safe under concurrent transactions
                "MapConcurrency": "1",
            },
        )
        clever_url, token = self._start_clever()
        os.environ.update(stack.environment | {"CLEVER_API_URL": clever_url})
        handlers = stack_handlers(stack.function_names, stack.function_modules)
        self.invokes = self._exit.enter_context(route_lambda_invokes(handlers))
        self._start_gateway(handlers[stack.function_names["ApiFunction"]])
        os.environ["DASHBOARD_URL"] = self.url
        self._onboard(clever_url, token)
        self.tick()
        if self.settings.sync_interval_seconds > 0:
            threading.Thread(target=self._timer, name="poll-timer", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._stop.set()
        if self._gateway is not None:
            self._gateway.shutdown()
        if self.simulator is not None and self.simulator.serving:
            self.simulator.stop()
        self._exit.close()

    def _isolate_from_real_aws(self) -> None:
        for name in [n for n in os.environ if n.startswith("AWS_") or n.startswith("POWERTOOLS_")]:
            del os.environ[name]
        os.environ.update(
            AWS_ACCESS_KEY_ID="devstack",
            AWS_SECRET_ACCESS_KEY="devstack",  # noqa: S106 (moto's fake credentials)
            AWS_DEFAULT_REGION=REGION,
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )

    def _start_moto(self) -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._exit.callback(server.stop)
        _, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        httpx.post(f"{endpoint}/moto-api/config", json=MOTO_CONFIG).raise_for_status()
        os.environ.update(MOTO_PORT=str(port), AWS_ENDPOINT_URL=endpoint)

    def _start_clever(self) -> tuple[str, str]:
        if self.settings.clever_api_url:
            return self.settings.clever_api_url, self.settings.clever_district_token
        district = GeneratedDistrict(
            self.settings.seed,
            schools=self.settings.schools,
            students=self.settings.students,
            unshared_schools=1,
        )
        self.simulator = CleverSimulator(district)
        return self.simulator.start("127.0.0.1", 0), self.simulator.token

    def _start_gateway(self, api: Any) -> None:
        hooks = DevHooks(
            default_district=self.district_id,
            outbox=self.outbox,
            tick=self.tick,
            scenario=self.scenario if self.simulator is not None else None,
            panel=lambda: PANEL.read_text(encoding="utf-8"),
        )
        app = create_gateway(api, self.authority, hooks)
        self._gateway = make_server("127.0.0.1", self.settings.port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._gateway.server_port}"
        threading.Thread(target=self._gateway.serve_forever, name="gateway", daemon=True).start()

    def _onboard(self, clever_url: str, token: str) -> None:
        # Imported late: the package's clients are built from the environment exported above.
        from sis_sync import services
        from sis_sync.clever.client import CleverClient
        from sis_sync.model import School
        from sis_sync.onboarding import onboard_district

        services.reset()
        with CleverClient(clever_url, token) as client:
            if self.simulator is None:
                self.district_id = f"d-{client.district().id}"
            unshared = self.simulator.district.unshared_school_records() if self.simulator else []  # type: ignore[attr-defined]
            onboard_district(
                services.state_table(),
                services.token_store(),
                client,
                district_id=self.district_id,
                token=token,
                admin_emails=[self.settings.district_admin_email],
                platform_schools=[
                    # a school of the district that Clever does not share: it shows "not connected"
                    School(district_id=self.district_id, school_id=f"p-{r['id']}", name=r["name"])
                    for r in unshared
                ],
                now=datetime.now(UTC),
            )

    # -- what /dev/* does --------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """The scheduled poll of every district, now; returns when its executions have finished."""
        assert self.stack is not None
        with self._tick_lock:
            event = {
                "id": str(uuid.uuid4()),
                "source": "aws.events",
                "detail-type": "Scheduled Event",
                "time": datetime.now(UTC).isoformat(),
                "detail": {"poll_all": True},
            }
            response = boto3.client("lambda").invoke(
                FunctionName=self.stack.function_names["PollCleverFunction"], Payload=json.dumps(event)
            )
            result: dict[str, Any] = json.loads(response["Payload"].read())
            if "FunctionError" in response:
                return {"error": result}
            self.wait_for_executions()
            return result

    def wait_for_executions(self) -> None:
        """Until the asynchronous invokes in flight (a poll the API asked for, a disconnection
        e-mail) and the executions they and the poll started have finished; bounded."""
        assert self.stack is not None
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + EXECUTION_WAIT_SECONDS
        self._join_invokes(deadline)
        for arn in (self.stack.evaluate_arn, self.stack.release_arn):
            while time.monotonic() < deadline:
                running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
                if not running:
                    break
                time.sleep(0.1)
        self._join_invokes(deadline)  # anything the executions invoked asynchronously

    def _join_invokes(self, deadline: float) -> None:
        if self.invokes is not None:
            self.invokes.join(max(deadline - time.monotonic(), 0.0))

    def outbox(self) -> list[dict[str, Any]]:
        assert self.stack is not None
        return sent_messages(self.stack.account_id, self.stack.region)

    def scenario(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.simulator is not None
        sim = self.simulator
        name = str(request.get("name", ""))
        school_ids = sim.district.school_ids()
        school = request.get("school_id") or school_ids[int(request.get("school_index", 0)) % len(school_ids)]
        actions = {
            "semester_end": lambda: sim.scenarios.semester_end(school_id=school).as_json(),
            "many_guardians": lambda: sim.scenarios.many_guardians(
                student_id=sim.district.student_ids_of_school(school)[0]
            ).as_json(),
            "emergency_contact": lambda: sim.scenarios.emergency_contact(school_id=school).as_json(),
            "secondary_contact": lambda: sim.scenarios.secondary_contact(school_id=school).as_json(),
            "rekey": lambda: sim.scenarios.rekey(school_id=school).as_json(),
            "revoke_token": lambda: _done(sim.faults.revoke_token),
            "fix_everything": lambda: _done(sim.scenarios.reset, sim.faults.clear),
        }
        if name not in actions:
            return {"error": {"code": "unknown_scenario", "message": f"choose one of {sorted(actions)}"}}
        return {"applied": name, "school_id": school, "effect": actions[name]()}

    def _timer(self) -> None:
        while not self._stop.wait(self.settings.sync_interval_seconds):
            self.tick()


def _done(*steps: Callable[[], object]) -> dict[str, Any]:
    for step in steps:
        step()
    return {}
