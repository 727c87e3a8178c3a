"""The operator CLI (`python -m sis_sync.admin`) against the stack in moto and a Clever simulator:
what it prints, what it changes, what it audits."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from clever_simulator import CleverSimulator, GeneratedDistrict
from devstack.lambdas import route_lambda_invokes, stack_handlers
from sis_sync import services
from sis_sync.admin.cli import run
from sis_sync.admin.wiring import names_from_cloudformation
from sis_sync.model import Connection
from tests.poll_orders import poll_inputs

DISTRICT = "d-cli"
POLL_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:prod-poll"
ADMIN = "ops.admin@cli.example.org"


@pytest.fixture
def clever(monkeypatch: pytest.MonkeyPatch) -> Iterator[CleverSimulator]:
    sim = CleverSimulator(GeneratedDistrict(31, schools=1, students=40, admin_emails=[ADMIN]))
    with sim.serve() as base_url:
        monkeypatch.setenv("CLEVER_API_URL", base_url)
        yield sim


@pytest.fixture
def cli(aws: Any, clever: CleverSimulator) -> Iterator[Any]:
    """`cli(*argv)` -> (exit code, stdout, stderr), with the stack's invokes routed to its handlers."""
    services.reset()

    def call(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    with route_lambda_invokes(stack_handlers(aws.function_names, aws.function_modules)):
        yield call
    services.reset()


def test_onboard_list_poll_offboard(aws: Any, cli: Any, clever: CleverSimulator) -> None:
    # Given no district yet
    assert cli("list") == (0, "no districts\n", "")
    # When the operator onboards one with its token on stdin
    code, out, _ = cli("--json", "onboard", DISTRICT, "--token", "-", stdin=clever.token + "\n")
    # Then it exists, with Clever's district admins, its token stored, and the action audited
    assert code == 0
    assert json.loads(out)["result"] == "onboarded"
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert ADMIN in district.admin_emails
    assert services.token_store().get(DISTRICT) == clever.token
    [entry], _ = services.state_table().audit(DISTRICT)
    assert entry.action == "district_onboarded"
    assert entry.actor.startswith("operator:arn:aws:")
    # When it is polled and the operator waits for the poll
    code, out, _ = cli("--json", "poll", DISTRICT, "--wait")
    # Then the poll ran through the poll state machine (as the API's do: one poll_clever step per
    # invocation, execution named by the sync id) and succeeded
    assert code == 0
    polled = json.loads(out)
    assert polled["result"] == "succeeded"
    order = {"district_id": DISTRICT, "sync_id": polled["sync_id"], "trigger": "operator"}
    assert poll_inputs(aws.poll_arn) == {polled["sync_id"]: {"polls": [order]}}
    # And `list` shows it, as a table and as JSON
    code, table, _ = cli("list")
    assert code == 0
    assert table.splitlines()[0].split() == [
        "district_id",
        "name",
        "clever_district_id",
        "connection",
        "error",
        "admins",
        "last_sync_at",
    ]
    assert DISTRICT in table.splitlines()[2]
    [row] = json.loads(cli("--json", "list")[1])
    assert row["connection"] == "connected"
    assert row["last_sync_at"] is not None
    # When it is offboarded (asked for confirmation first)
    assert cli("offboard", DISTRICT)[0] == 2
    code, out, _ = cli("--json", "offboard", DISTRICT, "--yes")
    # Then it is disconnected as offboarded, its token is gone, its schools and roster stay
    assert json.loads(out) == {
        "district_id": DISTRICT,
        "action": "offboard",
        "result": "offboarded",
        "sync_id": None,
        "detail": {"token_removed": True},
    }
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert district.last_error is not None
    assert district.last_error.code == "offboarded"
    assert list(services.state_table().schools(DISTRICT))
    assert json.loads(cli("--json", "poll", DISTRICT, "--wait")[1])["result"] == "failed"  # parked
    # When it is onboarded again with its token
    code, out, _ = cli("--json", "onboard", DISTRICT, "--token", clever.token)
    # Then it is back
    assert json.loads(out)["result"] == "reconnected"
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.connection is Connection.CONNECTED


def test_unknown_district_and_foreign_token_are_clear_errors(cli: Any, clever: CleverSimulator) -> None:
    assert cli("poll", "d-nobody") == (1, "", "error: unknown district d-nobody\n")
    code, _, err = cli("onboard", DISTRICT, "--token", "not-a-clever-token")
    assert code == 1
    assert "auth" in err
    assert services.state_table().get_district(DISTRICT) is None


class FakeCloudFormation:
    class exceptions:  # noqa: N801 - boto3's shape
        ClientError = RuntimeError

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's shape
        return {
            "Stacks": [
                {
                    "Outputs": [
                        {"OutputKey": "StateTableName", "OutputValue": "prod-StateTable-1"},
                        {"OutputKey": "TokenParameterPrefix", "OutputValue": "/sis-sync/prod/clever-tokens/"},
                        {"OutputKey": "PollStateMachineArn", "OutputValue": POLL_MACHINE},
                    ],
                    "Parameters": [
                        {"ParameterKey": "CleverApiUrl", "ParameterValue": "https://api.clever.com"}
                    ],
                }
            ]
        }


def test_stack_names_come_from_cloudformation() -> None:
    names = names_from_cloudformation(FakeCloudFormation(), "prod")
    assert (names.state_table, names.poll_state_machine_arn) == ("prod-StateTable-1", POLL_MACHINE)
    assert names.token_parameter_prefix == "/sis-sync/prod/clever-tokens/"
