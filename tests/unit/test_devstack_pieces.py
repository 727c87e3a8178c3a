"""The devstack's own pieces that need no AWS: the local API Gateway's events (rawPath stays
percent-encoded, as API Gateway sends it) and asynchronous (`Event`) invokes on threads."""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from devstack.auth import JwtAuthorizer, TokenIssuer
from devstack.gateway import DevHooks, create_gateway
from devstack.lambdas import route_lambda_invokes
from devstack.reset import ResetRefusedError


def _gateway(seen: list[dict[str, Any]]) -> Any:
    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    hooks = DevHooks(
        district_of=lambda email: "demo", outbox=list, tick=dict, scenario=None, panel=lambda: "<p>panel</p>"
    )
    return create_gateway(api, *_signing(), hooks).test_client()


def _signing() -> tuple[JwtAuthorizer, TokenIssuer]:
    issuer = TokenIssuer("http://127.0.0.1:1", "client")
    return JwtAuthorizer(issuer.issuer, issuer.audience, lambda token: issuer.public_key), issuer


def test_the_gateway_passes_the_raw_percent_encoded_path_like_api_gateway() -> None:
    seen: list[dict[str, Any]] = []
    client = _gateway(seen)
    client.get("/static/app.js%00")
    client.get("/static/a%2Fb.js?x=%20y")
    assert [event["rawPath"] for event in seen] == ["/static/app.js%00", "/static/a%2Fb.js"]
    assert seen[1]["rawQueryString"] == "x=%20y"
    assert seen[1]["requestContext"]["http"]["path"] == "/static/a%2Fb.js"


def test_the_gateway_refuses_a_foreign_host_and_a_dev_post_that_is_not_json() -> None:
    # Given the gateway on 127.0.0.1:8000, whose /dev/tick runs a sync
    ticks: list[int] = []
    hooks = DevHooks(
        district_of=lambda email: "demo",
        outbox=list,
        tick=lambda: ticks.append(1) or {},
        scenario=None,
        panel=lambda: "<p>panel</p>",
    )
    client = create_gateway(lambda e, c: {"statusCode": 200, "body": "{}"}, *_signing(), hooks).test_client()
    here = {"base_url": "http://127.0.0.1:8000"}  # the server listens on port 8000
    # When a rebound name (or another port) reaches it: 421, nothing runs, no token is minted
    for host in ["evil.example:8000", "127.0.0.1:9999", "localhost.evil.example:8000", "evil.example"]:
        for path in ["/dev/outbox", "/v1/health"]:
            assert client.get(path, headers={"Host": host}, **here).status_code == 421, (host, path)
        token = client.post("/dev/token", json={"email": "a@b.org"}, headers={"Host": host}, **here)
        assert token.status_code == 421
    # And a cross-site form or text/plain POST to /dev/tick is refused (415) and runs no sync
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]:
        posted = client.post(
            "/dev/tick", data="{}", headers={"Host": "127.0.0.1:8000", "Content-Type": content_type}, **here
        )
        assert posted.status_code == 415, content_type
    assert ticks == []
    # Then 127.0.0.1 and localhost on its own port, with JSON, work
    for host in ["127.0.0.1:8000", "localhost:8000", "LOCALHOST:8000"]:
        assert client.post("/dev/tick", json={}, headers={"Host": host}, **here).status_code == 200
        assert client.get("/dev/outbox", headers={"Host": host}, **here).status_code == 200
    assert ticks == [1, 1, 1]


def test_a_reset_refused_while_executions_run_answers_409_naming_them() -> None:
    # Given a devstack whose reset finds an execution still running after its wait
    def reset() -> dict[str, Any]:
        raise ResetRefusedError("executions still running after 120 s: poll-d-1-20261130T000000Z")

    hooks = DevHooks(
        district_of=lambda email: "demo", outbox=list, tick=dict, scenario=None, panel=str, reset=reset
    )
    client = create_gateway(lambda e, c: {"statusCode": 200, "body": "{}"}, *_signing(), hooks).test_client()
    # When the tests ask for a reset
    answer = client.post("/dev/reset", json={}, base_url="http://127.0.0.1:8000")
    # Then it is refused, saying which execution, rather than restoring moto under it
    assert answer.status_code == 409
    error = json.loads(answer.data)["error"]
    assert error["code"] == "executions_running"
    assert "poll-d-1-20261130T000000Z" in error["message"]


def test_the_gateway_decides_on_sign_in_from_the_raw_path() -> None:
    seen: list[dict[str, Any]] = []
    client = _gateway(seen)
    assert client.get("/v1/districts/demo").status_code == 401
    assert client.get("/v1/health").status_code == 404  # (public: reached the fake api)
    assert [event["rawPath"] for event in seen] == ["/v1/health"]


def _invoke(
    function_name: str, payload: dict[str, Any], invocation_type: str
) -> tuple[bytes | str | None, dict[str, Any]]:
    response_headers: dict[str, Any] = {}
    backend = LambdaSimpleBackend.__new__(LambdaSimpleBackend)
    result = LambdaSimpleBackend.invoke(
        backend,
        function_name,
        None,
        json.dumps(payload),
        {"X-Amz-Invocation-Type": invocation_type},
        response_headers,
    )
    return result, response_headers


def test_an_event_invoke_returns_at_once_and_runs_on_its_own_thread() -> None:
    release = threading.Event()
    ran: list[tuple[str, dict[str, Any]]] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert release.wait(10)
        ran.append((threading.current_thread().name, event))
        return {"done": True}

    with route_lambda_invokes({"poll": slow}) as log:
        # When the poll is invoked asynchronously
        result, _ = _invoke("poll", {"n": 1}, "Event")
        # Then the invoke answered at once (an empty 202 body), the handler still waiting
        assert result == b""
        assert ran == []
        assert log.names() == ["poll"]
        assert not log.join(0.05)  # still in flight
        release.set()
        assert log.join(10)
    assert ran == [("invoke-poll", {"n": 1})]


def test_a_request_response_invoke_still_runs_in_the_caller() -> None:
    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"thread": threading.current_thread().name, **event}

    with route_lambda_invokes({"f": echo}) as log:
        result, _ = _invoke("f", {"n": 2}, "RequestResponse")
        assert log.join(0)
    assert json.loads(result or b"") == {"thread": threading.current_thread().name, "n": 2}


def test_an_event_invoke_that_raises_is_logged_not_lost() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with route_lambda_invokes({"f": broken}) as log:
        assert _invoke("f", {}, "Event")[0] == b""
        assert log.join(10)
    assert [(name, type(error).__name__) for name, error in log.async_errors] == [("f", "RuntimeError")]


def test_the_gateway_hands_the_api_one_event_at_a_time() -> None:
    # (the resolver keeps per-request state on its module-level app, as one Lambda environment may)
    inside = 0
    most = 0
    lock = threading.Lock()

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        threading.Event().wait(0.05)
        with lock:
            inside -= 1
        return {"statusCode": 200, "headers": {}, "body": "{}"}

    hooks = DevHooks(district_of=lambda _: "demo", outbox=list, tick=dict, scenario=None, panel=lambda: "")
    app = create_gateway(api, *_signing(), hooks)
    threads = [threading.Thread(target=lambda: app.test_client().get("/v1/health")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 1
