"""The API's pure pieces: identity from claims, match suggestions, execution names, cursors,
static files, body refusal; and the 401/404/415/422 answers that need no AWS at all."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sis_sync.api.audit_log import decode_cursor, encode_cursor
from sis_sync.api.errors import BadRequestError, NotAuthenticatedError, NotFoundError
from sis_sync.api.holds import release_execution_name
from sis_sync.api.identity import Role, identity_from_claims
from sis_sync.api.school_matching import normalise_name, suggestions
from sis_sync.model import CleverSchool, School
from tests.api_events import admin, call, http_event, operator


def test_claims_make_an_admin_or_an_operator() -> None:
    who = identity_from_claims(admin("d1"))
    assert (who.role, who.district_id) == (Role.DISTRICT_ADMIN, "d1")
    assert who.can_reach("d1")
    assert not who.can_reach("d2")
    with pytest.raises(NotFoundError):
        who.require("d2")
    assert identity_from_claims(operator()).can_reach("anything")


@pytest.mark.parametrize(
    "claims",
    [
        None,
        {},
        {"email": "a@b.org", "custom:role": "district_admin"},
        {"email": "a@b.org", "custom:role": "root"},
        {"email": "not-an-email", "custom:role": "operator"},
    ],
)
def test_incomplete_claims_are_not_an_identity(claims: Any) -> None:
    with pytest.raises(NotAuthenticatedError):
        identity_from_claims(claims)


@pytest.mark.parametrize("verified", [None, "false", "False", False, "", "yes"])
def test_an_unverified_email_is_not_trusted_as_the_actor(verified: Any) -> None:
    # Given an admin's claims whose e-mail is not (or not said to be) verified
    claims: dict[str, Any] = admin("d1") | {"email_verified": verified}
    if verified is None:
        del claims["email_verified"]

    # When they are turned into an identity / Then 401, and the message says why
    with pytest.raises(NotAuthenticatedError, match="not verified"):
        identity_from_claims(claims)


@pytest.mark.parametrize("verified", ["true", True])
def test_a_verified_email_is_the_actor_as_a_string_or_a_boolean_claim(verified: Any) -> None:
    assert identity_from_claims(admin("d1") | {"email_verified": verified}).email == "admin@example.org"


def test_suggestions_prefer_nces_then_state_id_then_similar_names() -> None:
    clever = CleverSchool(
        district_id="d", clever_school_id="c1", name="Lincoln High", nces_id="1", first_seen_sync_id="s"
    )
    schools = [
        School(district_id="d", school_id="by-name", name="LINCOLN HIGH SCHOOL"),
        School(district_id="d", school_id="by-nces", name="Other", nces_id="1"),
        School(district_id="d", school_id="unrelated", name="Zeta Academy"),
        School(district_id="d", school_id="taken", name="Lincoln High", clever_school_id="c9"),
    ]
    found = suggestions(clever, schools)
    assert [(s.school_id, s.match) for s in found] == [("by-nces", "nces_id"), ("by-name", "name")]
    assert normalise_name("The Lincoln-High School!") == "lincoln high"


def test_release_names_are_valid_execution_names() -> None:
    assert release_execution_name("s-1", "20261102T080000Z-d") == "release-s-1-20261102T080000Z-d"
    long = release_execution_name("s" * 70, "x.y")
    assert len(long) <= 80
    assert long == release_execution_name("s" * 70, "x.y")  # stable: a repeat starts nothing new


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    sort_key = "AUDIT#2026-11-02T08:00:00.000000+00:00#abc"
    assert decode_cursor(encode_cursor(sort_key)) == sort_key
    for bad in ["!!!", encode_cursor("SCHOOL#x"), "%%"]:
        with pytest.raises(BadRequestError):
            decode_cursor(bad)


def test_static_files_are_served_with_types_and_never_outside_the_folder(tmp_path: Path) -> None:
    from routes.dashboard import static_file

    (tmp_path / "index.html").write_text("<h1>x</h1>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("1")
    (tmp_path.parent / "secret.txt").write_text("no")
    assert static_file("index.html", tmp_path) == (b"<h1>x</h1>", "text/html; charset=utf-8")
    assert static_file("js/app.js", tmp_path)[1] in {
        "text/javascript; charset=utf-8",
        "application/javascript; charset=utf-8",
    }
    for refused in ["../secret.txt", "js/../../secret.txt", "missing.css", "", "js"]:
        with pytest.raises(NotFoundError):
            static_file(refused, tmp_path)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from functions.api.app import lambda_handler

    return lambda_handler


def test_answers_that_need_no_aws(handler: Any) -> None:
    assert call(handler, http_event("GET", "/v1/health")).json() == {"status": "ok"}
    assert call(handler, http_event("GET", "/v1/me")).status == 401
    assert call(handler, http_event("GET", "/v1/districts/d1", claims={"email": "x"})).status == 401
    assert call(handler, http_event("DELETE", "/v1/health")).status == 404
    wrong_type = http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="a=b")
    wrong_type["headers"]["content-type"] = "multipart/form-data"
    assert call(handler, wrong_type).json()["error"]["code"] == "unsupported_media_type"
    binary = http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="/w==")
    binary["isBase64Encoded"] = True
    assert call(handler, binary).status == 400
    bad_json = call(handler, http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="{"))
    assert (bad_json.status, bad_json.json()["error"]["code"]) == (422, "validation_error")


def test_a_very_deeply_nested_body_is_400_not_500(handler: Any) -> None:
    # Given bodies nested 5,000 deep (past json's recursion limit) and 40 deep (parses, too deep)
    path = "/v1/districts/d1/sync"
    for depth in (5_000, 40):
        body = '{"confirm":true,"x":' + "[" * depth + "]" * depth + "}"
        # When they are posted, as text or base64 (what the devstack's gateway sends)
        plain = http_event("POST", path, claims=admin("d1"), body=body)
        binary = http_event("POST", path, claims=admin("d1"), body=base64.b64encode(body.encode()).decode())
        binary["isBase64Encoded"] = True
        for event in (plain, binary):
            response = call(handler, event)
            # Then 400 with a message that says why, not a 500
            assert response.status == 400, (depth, response.text)
            assert response.json()["error"]["code"] == "bad_request"
            assert "32 deep" in response.json()["error"]["message"]
    # And brackets inside strings, or a body at the limit, are not refused for depth
    nested_text = json.dumps({"confirm": False, "x": "[" * 5000})
    response = call(handler, http_event("POST", path, claims=admin("d1"), body=nested_text))
    assert response.json()["error"]["code"] != "bad_request"
    at_limit = '{"confirm":false,"x":' + "[" * 31 + "]" * 31 + "}"
    response = call(handler, http_event("POST", path, claims=admin("d1"), body=at_limit))
    assert response.json()["error"]["code"] != "bad_request"


def test_a_nul_byte_in_a_static_path_is_404_not_500(handler: Any, tmp_path: Path) -> None:
    from routes.dashboard import static_file

    with pytest.raises(NotFoundError):
        static_file("app.js\x00", tmp_path)
    for raw_path in ["/static/app.js\x00", "/static/app.js%00", "/static/" + "x" * 5000]:
        response = call(handler, http_event("GET", raw_path))
        assert (response.status, response.json()["error"]["code"]) == (404, "not_found"), raw_path


def test_the_dashboard_cannot_be_framed_and_runs_no_inline_code(handler: Any) -> None:
    for raw_path in ["/", "/static/app.js", "/static/app.css", "/static/favicon.svg"]:
        response = call(handler, http_event("GET", raw_path))
        assert response.status == 200, raw_path
        assert response.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    index = call(handler, http_event("GET", "/")).text
    assert "<style" not in index
    assert " style=" not in index
    assert "data:" not in index
    assert all(' src="static/' in tag for tag in index.split("<script")[1:])  # no inline script


class FakeStepFunctions:
    """start_execution / describe_execution over a dict of name -> status."""

    class exceptions:  # noqa: N801 (boto3's shape)
        class ExecutionAlreadyExists(Exception):  # noqa: N818 (boto3 names it so)
            pass

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.started: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, str]:  # noqa: N803
        if name in self.statuses:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.statuses[name] = "RUNNING"
        self.started.append(name)
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:release:{name}"}

    def describe_execution(self, *, executionArn: str) -> dict[str, str]:  # noqa: N803
        return {"status": self.statuses[executionArn.rsplit(":", 1)[1]]}


MACHINE = "arn:aws:states:us-east-1:1:stateMachine:release"


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_a_running_or_succeeded_execution_is_not_started_again(status: str) -> None:
    from sis_sync.store.executions import Executions

    sfn = FakeStepFunctions({"release-s-1": status})
    arn = Executions(sfn, MACHINE).start("release-s-1", {}, retry_failed=True)
    assert arn.endswith(":release-s-1")
    assert sfn.started == []


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_failed_execution_is_retried_under_the_next_attempt_name(status: str) -> None:
    from sis_sync.store.executions import Executions

    sfn = FakeStepFunctions({"release-s-1": status, "release-s-1-2": "FAILED"})
    arn = Executions(sfn, MACHINE).start("release-s-1", {}, retry_failed=True)
    assert sfn.started == ["release-s-1-3"]
    assert arn.endswith(":release-s-1-3")
    # without retry_failed (the evaluate flow), a name is started at most once, whatever happened
    assert Executions(sfn, MACHINE).start("release-s-1", {}).endswith(":release-s-1")
    assert sfn.started == ["release-s-1-3"]


class StartOnlyStepFunctions(FakeStepFunctions):
    """What the api role may do with the poll machine: start an execution, never describe one."""

    def __init__(self) -> None:
        super().__init__({})
        self.inputs: dict[str, Any] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, str]:  # noqa: N803
        started = super().start_execution(stateMachineArn=stateMachineArn, name=name, input=input)
        self.inputs[name] = json.loads(input)
        return started

    def describe_execution(self, *, executionArn: str) -> dict[str, str]:  # noqa: N803
        raise AssertionError("the api role has no states:DescribeExecution on the poll machine")


def test_a_sync_starts_one_poll_execution_named_by_its_sync_id_however_often_it_is_asked() -> None:
    from sis_sync.api.adapters import PollMachineStarter
    from sis_sync.api.models import PollRequest
    from sis_sync.store.executions import Executions

    # Given the poll machine, which the API may only start executions of
    sfn = StartOnlyStepFunctions()
    starter = PollMachineStarter(Executions(sfn, "arn:aws:states:us-east-1:1:stateMachine:poll"))
    request = PollRequest(district_id="d-1", sync_id="20261130T120000000Z-ab12cd34-d-1", trigger="manual")
    # When the same sync is started twice (a retried request)
    starter.start(request)
    starter.start(request)
    # Then one execution runs, named by the sync id, its one order the request (school_ids too)
    assert sfn.started == [request.sync_id]
    assert sfn.inputs[request.sync_id] == {
        "polls": [{"district_id": "d-1", "sync_id": request.sync_id, "trigger": "manual", "school_ids": None}]
    }


def test_attempt_names_stay_valid_execution_names() -> None:
    from sis_sync.store.executions import attempt_execution_name

    assert attempt_execution_name("release-s-1-x", 2) == "release-s-1-x-2"
    long = release_execution_name("s" * 30, "y" * 41)  # exactly 80 characters
    assert len(long) == 80
    names = {attempt_execution_name(long, n) for n in range(2, 12)}
    assert len(names) == 10
    assert all(len(name) <= 80 and name.startswith("release-") for name in names)
