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
from devstack.auth import JwtAuthorizer, TokenIssuer
from devstack.authorization_server import AuthorizationServer, client_from_cognito
from devstack.demo_scenarios import DemoScenarios, ScenarioRefusedError
from devstack.fake_aws import REGION, use_fake_aws
from devstack.federation import federation_from_cognito, lambda_trigger
from devstack.gateway import DevHooks, create_gateway
from devstack.lambdas import InvokeLog, route_lambda_invokes, stack_handlers
from devstack.outbox import sent_messages
from devstack.reset import FreshState, ResetRefusedError, capture_fresh_state, restore_fresh_state
from devstack.schedules import run_execution, scheduled_event
from devstack.settings import DevstackSettings
from devstack.stack import StackResources, create_stack

ROOT = Path(__file__).resolve().parents[2]
PANEL = Path(__file__).with_name("panel.html")
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
SIMULATED_DISTRICT = "demo"  # until the Clever district is known (d-<its Clever id>)
EXECUTION_WAIT_SECONDS = 120


class Devstack:
    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        self.issuer: TokenIssuer | None = None  # the local authorization server's signing key
        self._auth_server: BaseWSGIServer | None = None
        self._authorization: AuthorizationServer | None = None
        self.simulator: CleverSimulator | None = None
        self.scenarios: DemoScenarios | None = None  # the demo panel's (with the simulator only)
        self.district_id = SIMULATED_DISTRICT
        self.url = ""
        self._exit = ExitStack()
        self._gateway: BaseWSGIServer | None = None
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self.stack: StackResources | None = None
        self._fresh: FreshState | None = None  # moto just after the build: what a reset returns to
        self.invokes: InvokeLog | None = None

    # -- start and stop --------------------------------------------------------------------------

    def start(self) -> str:
        """Start everything and run the first sync; returns the dashboard URL."""
        use_fake_aws("devstack", "WARNING")
        self._start_moto()
        self._bind_gateway()
        clever_url, token = self._start_clever()
        self.stack = stack = create_stack(
            ROOT / "template.yaml",
            boto3.Session(region_name=REGION),
            parameters={
                "SenderEmail": "sis-sync@devstack.local",
                # one school at a time: moto's DynamoDB is not thread-safe under concurrent transactions
                "MapConcurrency": "1",
                "ScheduledPollConcurrency": "1",  # and one district at a time, for the same reason
                **self._clever_sign_in_parameters(),
            },
            # the sign-in callback and the e-mail links: http on loopback, which the template refuses
            loopback_urls={"DashboardUrl": self.url},
        )
        self._fresh = capture_fresh_state(boto3.client("s3"))
        # the simulator serves Clever's OAuth API (the app's tokens) and its Data API on one URL
        os.environ.update(stack.environment | {"CLEVER_API_URL": clever_url, "CLEVER_OAUTH_URL": clever_url})
        handlers = stack_handlers(stack.function_names, stack.function_modules)
        self.invokes = self._exit.enter_context(route_lambda_invokes(handlers))
        self._start_gateway(handlers[stack.function_names["ApiFunction"]], clever_url)
        if self.simulator is not None:
            self._give_app_credentials(*self.simulator.client_credentials)
        else:
            self._onboard(clever_url, token)
        self.tick()
        if self.settings.sync_interval_seconds > 0:
            threading.Thread(target=self._timer, name="poll-timer", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._stop.set()
        for server in (self._gateway, self._auth_server):
            if server is not None:
                server.shutdown()
        if self.simulator is not None and self.simulator.serving:
            self.simulator.stop()
        self._exit.close()

    def _start_moto(self) -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._exit.callback(server.stop)
        _, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        httpx.post(f"{endpoint}/moto-api/config", json=MOTO_CONFIG).raise_for_status()
        os.environ.update(MOTO_PORT=str(port), AWS_ENDPOINT_URL=endpoint)

    def _start_clever(self) -> tuple[str, str]:
        """Clever's URL and district token; sets `district_id` (before the gateway hands out tokens)."""
        from sis_sync.clever.client import CleverClient
        from sis_sync.onboarding import district_id_for

        if self.settings.clever_api_url:
            url, token = self.settings.clever_api_url, self.settings.clever_district_token
            with CleverClient(url, token) as client:
                self.district_id = district_id_for(client.district().id)
            return url, token
        district = GeneratedDistrict(
            self.settings.seed,
            schools=self.settings.schools,
            students=self.settings.students,
            unshared_schools=1,
            # the sign-in address is the district's one Clever admin, so discovery records it
            district_admins=1,
            admin_emails=[self.settings.district_admin_email],
        )
        self.simulator = CleverSimulator(district)
        self.district_id = district_id_for(district.district_id)
        self.scenarios = DemoScenarios(
            self.simulator,
            self._applied_sync_id,
            {"add_district": self._authorize_district, "remove_district": self._remove_district},
        )
        return self.simulator.start("127.0.0.1", 0), self.simulator.token

    def _clever_sign_in_parameters(self) -> dict[str, str]:
        """Log in with Clever, with the simulated Clever app (a real Clever app's redirect URIs
        cannot name this devstack's /oauth2/idpresponse, so only with the simulator)."""
        if self.simulator is None:
            return {}
        client_id, client_secret = self.simulator.client_credentials
        return {"CleverClientId": client_id, "CleverClientSecret": client_secret}

    def _bind_gateway(self) -> None:
        """Take the gateway's port first: its URL is the stack's DashboardUrl (the app client's
        callback and logout URL, the e-mail links). It serves once `_start_gateway` gave it its app."""
        self._gateway = make_server("127.0.0.1", self.settings.port, _starting, threaded=True)
        self.url = f"http://127.0.0.1:{self._gateway.server_port}"

    def _start_gateway(self, api: Any, clever_url: str) -> None:
        assert self._gateway is not None
        issuer, authorizer = self._start_authorization_server(clever_url)
        hooks = DevHooks(
            district_of=self.district_of,
            outbox=self.outbox,
            tick=self.tick,
            scenario=self.scenario if self.simulator is not None else None,
            scenarios=self.scenarios.view if self.scenarios is not None else None,
            panel=lambda: PANEL.read_text(encoding="utf-8"),
            reset=self.reset if self.simulator is not None else None,
        )
        self._gateway.app = create_gateway(api, authorizer, issuer, hooks)
        threading.Thread(target=self._gateway.serve_forever, name="gateway", daemon=True).start()

    def _start_authorization_server(self, clever_url: str) -> tuple[TokenIssuer, JwtAuthorizer]:
        """The Hosted UI's stand-in for the stack's app clients; the api function is told to sign in
        there (its AUTH_* variables) and the gateway trusts the ID tokens it signs for either client,
        as the template's JWT authorizer does."""
        assert self.stack is not None
        cognito = boto3.client("cognito-idp")
        client = client_from_cognito(cognito, os.environ["AUTH_CLIENT_ID"])
        federation = None
        if os.environ.get("AUTH_CLEVER_CLIENT_ID"):  # the template's HasCleverSignIn
            trigger_name = self.stack.function_names["PreTokenGenerationFunction"]
            trigger = lambda_trigger(boto3.client("lambda"), trigger_name)
            federation = federation_from_cognito(
                cognito, os.environ["AUTH_CLEVER_CLIENT_ID"], clever_url, trigger
            )
        audiences = [client.client_id] + ([federation.client.client_id] if federation else [])
        server = make_server("127.0.0.1", 0, _starting, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        self.issuer = TokenIssuer(issuer=base, audience=client.client_id)
        self._authorization = AuthorizationServer(
            client, self.issuer, self.district_of, federation=federation
        )
        server.app = self._authorization.app()
        self._auth_server = server
        threading.Thread(target=server.serve_forever, name="authorization-server", daemon=True).start()
        os.environ.update(
            AUTH_AUTHORIZE_URL=f"{base}/oauth2/authorize",
            AUTH_TOKEN_URL=f"{base}/oauth2/token",
            AUTH_LOGOUT_URL=f"{base}/logout",
        )
        authorizer = JwtAuthorizer.from_jwks_url(base, audiences, f"{base}/.well-known/jwks.json")
        return self.issuer, authorizer

    def district_of(self, email: str) -> str:
        """The district an e-mail signs in to: the one listing it among its admins, else the
        devstack's own (asked at sign-in time: districts are onboarded after the gateway starts)."""
        from sis_sync import services

        wanted = email.strip().lower()
        for district in services.state_table().districts():
            if wanted in (address.lower() for address in district.admin_emails):
                return district.district_id
        return self.district_id

    def _give_app_credentials(self, client_id: str, client_secret: str) -> None:
        """Fill the template's Clever app secret, as the operator does after deploying: the
        discovery step then onboards every district that authorized the (simulated) app."""
        from sis_sync.store.app_credentials import AppCredentials, AppCredentialsStore

        assert self.stack is not None
        store = AppCredentialsStore(boto3.client("secretsmanager"), self.stack.secret_arns["CleverAppSecret"])
        store.put(AppCredentials.model_validate({"client_id": client_id, "client_secret": client_secret}))

    def _add_platform_schools(self) -> None:
        """A school of the simulated district that Clever does not share: it shows "not connected"."""
        from sis_sync import services
        from sis_sync.model import School, SchoolStatus

        assert self.simulator is not None
        district: GeneratedDistrict = self.simulator.district  # type: ignore[assignment]
        state = services.state_table()
        for record in district.unshared_school_records():
            school = School(
                district_id=self.district_id,
                school_id=f"p-{record['id']}",
                name=record["name"],
                status=SchoolStatus.NOT_CONNECTED,
            )
            state.put_school(school, only_if_new=True)

    def _onboard(self, clever_url: str, token: str) -> None:
        """A real Clever district token without app credentials: onboard that one district."""
        # Imported late: the package's clients are built from the environment exported above.
        from devstack.token_onboarding import onboard_with_token

        onboard_with_token(
            clever_url,
            token,
            district_id=self.district_id,
            admin_email=self.settings.district_admin_email,
            now=datetime.now(UTC),
            source="devstack",
        )

    def admin_environment(self) -> dict[str, str]:
        """What `python -m sis_sync.admin` needs to work on this devstack (moto and its names)."""
        assert self.stack is not None
        names = ("STATE_TABLE", "TOKEN_PARAMETER_PREFIX", "CLEVER_API_URL")
        return {
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": REGION,
            **{name: os.environ[name] for name in names},
            "POLL_STATE_MACHINE_ARN": self.stack.poll_arn,
            "NOTIFY_FUNCTION_NAME": self.stack.function_names["NotifyFunction"],
        }

    # -- what /dev/* does --------------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """The scheduled discovery of districts, then the scheduled poll of every district, now;
        returns when the poll's executions have finished."""
        assert self.stack is not None
        with self._tick_lock:
            discovery = self._scheduled("DiscoverDistrictsFunction", {})
            if "error" in discovery:
                return {"discovery": discovery}
            if self.simulator is not None and self.district_id in discovery.get("onboarded", []):
                self._add_platform_schools()
            result = self._scheduled_poll({"poll_all": True})
            if "error" not in result:
                self.wait_for_executions()
            return result | {"discovery": discovery}

    def _scheduled(self, function: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function with the event its EventBridge schedule would send (moto never fires one)."""
        assert self.stack is not None
        event = {
            "id": str(uuid.uuid4()),
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "time": datetime.now(UTC).isoformat(),
            "detail": detail,
        }
        response = boto3.client("lambda").invoke(
            FunctionName=self.stack.function_names[function], Payload=json.dumps(event)
        )
        result: dict[str, Any] = json.loads(response["Payload"].read())
        return {"error": result} if "FunctionError" in response else result

    def _scheduled_poll(self, detail: dict[str, Any]) -> dict[str, Any]:
        """Run the poll schedule's target, the poll state machine (one poll invocation per due
        district), with the event the schedule would send; its polls' results as `syncs`."""
        assert self.stack is not None
        machine = self.stack.resolver.resolve({"Ref": "PollStateMachine"})
        output = run_execution(
            boto3.client("stepfunctions"), machine, scheduled_event(detail), timeout_s=EXECUTION_WAIT_SECONDS
        )
        if "error" in output:
            return output
        return {"syncs": [sync for poll in output.get("polls", []) for sync in poll.get("syncs", [])]}

    def wait_for_executions(self) -> list[str]:
        """Until the executions in flight (a poll the API started, the evaluations and releases
        it and the schedule's poll started) and the asynchronous invokes (a disconnection e-mail)
        have finished; bounded: the names of those still running then (none: all finished)."""
        assert self.stack is not None
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + EXECUTION_WAIT_SECONDS
        self._join_invokes(deadline)
        running: list[str] = []
        for arn in (self.stack.poll_arn, self.stack.evaluate_arn, self.stack.release_arn):
            while True:
                executions = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
                if not executions or time.monotonic() >= deadline:
                    running += [execution["name"] for execution in executions]
                    break
                time.sleep(0.1)
        self._join_invokes(deadline)  # anything the executions invoked asynchronously
        return running

    def _join_invokes(self, deadline: float) -> None:
        if self.invokes is not None:
            self.invokes.join(max(deadline - time.monotonic(), 0.0))

    def outbox(self) -> list[dict[str, Any]]:
        assert self.stack is not None
        return sent_messages(self.stack.account_id, self.stack.region)

    def reset(self) -> dict[str, Any]:
        """Back to what `start` left (tests share one devstack): what the system wrote to moto
        goes, the simulated district, the demo panel and the sign-ins start over, the app's Clever
        credentials are given again and the first sync runs again; returns that sync's result."""
        assert self.stack is not None
        assert self.simulator is not None
        assert self.scenarios is not None
        with self._tick_lock:  # not while a tick runs; what a test left in flight ends first
            running = self.wait_for_executions()
            if running:  # their threads would go on writing into the stack after the reset
                raise ResetRefusedError(
                    f"executions still running after {EXECUTION_WAIT_SECONDS} s: {', '.join(running)}"
                )
            assert self._fresh is not None
            if not restore_fresh_state(self._fresh, boto3.client("s3")):
                raise RuntimeError("moto no longer holds the stack the devstack built")
            self.simulator.reset()
            self.scenarios.reset()
            if self._authorization is not None:
                self._authorization.forget_sign_ins()
            self._give_app_credentials(*self.simulator.client_credentials)
        return self.tick()

    def scenario(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.scenarios is not None
        try:
            return self.scenarios.run(request)
        except ScenarioRefusedError as refused:
            return {"error": {"code": refused.code, "message": refused.message}}

    def _applied_sync_id(self, clever_school_id: str) -> str | None:
        """The sync whose snapshot sis-sync last applied for a Clever school of the simulated district."""
        from sis_sync import services

        for school in services.state_table().schools(self.district_id):
            if school.clever_school_id == clever_school_id:
                return school.applied.sync_id if school.applied else None
        return None

    def _authorize_district(self, clever_district_id: str) -> dict[str, Any]:
        """The Clever district authorizes the app again, or a new district (2 schools) does."""
        assert self.simulator is not None
        sim = self.simulator
        if clever_district_id in sim.districts:
            sim.connect(clever_district_id)
            return {"clever_district_id": clever_district_id}
        if clever_district_id:
            return {
                "error": {"code": "unknown_district", "message": f"choose one of {sorted(sim.districts)}"}
            }
        district = GeneratedDistrict(self.settings.seed + len(sim.districts), schools=2, students=200)
        sim.add_district(district)
        return {"clever_district_id": district.district_id}

    def _remove_district(self, clever_district_id: str) -> dict[str, Any]:
        """The Clever district removes the app: its token is no longer listed (nor accepted)."""
        assert self.simulator is not None
        if clever_district_id not in self.simulator.districts:
            choices = sorted(self.simulator.districts)
            return {"error": {"code": "unknown_district", "message": f"choose one of {choices}"}}
        removed = self.simulator.disconnect(clever_district_id)
        return {"clever_district_id": clever_district_id, "removed_tokens": len(removed)}

    def _timer(self) -> None:
        while not self._stop.wait(self.settings.sync_interval_seconds):
            self.tick()


def _done(*steps: Callable[[], object]) -> dict[str, Any]:
    for step in steps:
        step()
    return {}


def _starting(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The app of a server that has its port but does not serve yet (never called)."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]
