"""Every route of DESIGN §4 through API Gateway v2 events, against the template's stack in moto and
a simulated Clever district: shapes, statuses, tenant isolation, links, CSV, audit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.lambdas import route_lambda_invokes
from sis_sync import services
from sis_sync.changes_csv import CSV_HEADER
from sis_sync.evaluation import csv_key
from sis_sync.links import sign_link
from sis_sync.model import (
    AuditEntry,
    CleverSchool,
    Connection,
    Decision,
    District,
    ErrorInfo,
    PendingChange,
    School,
    SchoolStatus,
    SnapshotRef,
)
from sis_sync.rules import Hold, HoldReason
from tests.api_events import ApiResponse, admin, call, http_event, operator
from tests.onboarded import DISTRICT
from tests.poll_orders import poll_inputs, recorded_polls

OTHER = "d-other"
HELD = "s-held"
CALM = "s-calm"
LOOSE = "s-loose"
EVIL_NAME = '=HYPERLINK("http://evil.example","x")'
CHANGES = {
    "added": 1,
    "updated": 0,
    "removed": 40,
    "source_id_changed": 2,
    "by_type": {
        "student": {"added": 1, "updated": 0, "removed": 40, "source_id_changed": 2},
        "teacher": {"added": 0, "updated": 0, "removed": 0, "source_id_changed": 0},
    },
}


def _pending(school_id: str, sync_id: str) -> PendingChange:
    return PendingChange(
        sync_id=sync_id,
        key=f"snapshots/{DISTRICT}/{school_id}/x.json.gz",
        sha256="x",
        decision=Decision.HOLD,
        evaluated_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        csv_key=csv_key(DISTRICT, school_id, sync_id),
    )


@pytest.fixture
def seeded(stack: Any) -> Any:
    """d-test (onboarded by `stack`) with a held, a connected and a not-connected school, two
    unmatched Clever schools, a stored changes CSV; and a second district."""
    state = services.state_table()
    held = School(
        district_id=DISTRICT,
        school_id=HELD,
        name="Held Elementary",
        clever_school_id="c-held",
        status=SchoolStatus.ON_HOLD,
        applied=SnapshotRef(sync_id="s001", key="k", sha256="a"),
        pending=_pending(HELD, "s002"),
        latest_sync_id="s002",
        holds=[
            Hold(
                reason=HoldReason.LARGE_REMOVALS,
                detail={
                    "examples": [
                        {"record_type": "student", "change": "removed", "clever_id": "u1", "name": "A B"}
                    ]
                },
            )
        ],
        changes=CHANGES,
    )
    state.put_school(held)
    state.put_school(
        School(
            district_id=DISTRICT,
            school_id=CALM,
            name="Calm Middle",
            clever_school_id="c-calm",
            status=SchoolStatus.CONNECTED,
        )
    )
    state.put_school(
        School(district_id=DISTRICT, school_id=LOOSE, name="Lincoln High School", nces_id="360000000001")
    )
    for clever_id, name, nces in [("c-new", "Lincoln High", "360000000001"), ("c-odd", "Zeta Academy", "")]:
        state.put_clever_school(
            CleverSchool(
                district_id=DISTRICT,
                clever_school_id=clever_id,
                name=name,
                nces_id=nces,
                first_seen_sync_id="s002",
            )
        )
    body = (
        ",".join(CSV_HEADER)
        + "\r\nremoved,student,u1,,,'"
        + EVIL_NAME.replace('"', '""')
        + ",,,large_removals\r\n"
    )
    services.client("s3").put_object(
        Bucket=stack.bucket, Key=csv_key(DISTRICT, HELD, "s002"), Body=body.encode(), ContentType="text/csv"
    )
    state.put_district(District(district_id=OTHER, name="Other", clever_district_id="c-other"))
    state.put_school(School(district_id=OTHER, school_id="s-x", name="Other School", clever_school_id="c-x"))
    return stack


@pytest.fixture
def api() -> Any:
    from functions.api.app import lambda_handler  # imported inside the mock (STYLE: tests)

    def request(method: str, raw_path: str, *, claims: Any = "admin", **kwargs: Any) -> ApiResponse:
        who = admin(DISTRICT) if claims == "admin" else claims
        return call(lambda_handler, http_event(method, raw_path, claims=who, **kwargs))

    return request


@pytest.fixture
def polls(seeded: Any) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The polls the API started (poll machine executions), their poll_clever steps recorded
    instead of run: `polls()` once the executions ended."""
    with recorded_polls(seeded) as recorded:
        yield recorded


def _error(response: ApiResponse, status: int, code: str | None = None) -> None:
    assert response.status == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code


# --- meta --------------------------------------------------------------------------------------------


def test_health_needs_no_sign_in(seeded: Any, api: Any) -> None:
    assert api("GET", "/v1/health", claims=None).json() == {"status": "ok"}


def test_me_lists_the_admins_district_or_every_district_for_an_operator(seeded: Any, api: Any) -> None:
    assert api("GET", "/v1/me").json() == {
        "email": "admin@example.org",
        "role": "district_admin",
        "district_ids": [DISTRICT],
    }
    assert api("GET", "/v1/me", claims=operator()).json()["district_ids"] == sorted([DISTRICT, OTHER])


@pytest.mark.parametrize(
    "claims",
    [
        None,
        {},
        {"email": "a@b.org"},
        {"email": "a@b.org", "custom:role": "district_admin"},
        {"email": "a@b.org", "custom:role": "superuser", "custom:district_id": DISTRICT},
        {"email": "nobody", "custom:role": "operator"},
    ],
)
def test_no_or_invalid_claims_are_401(seeded: Any, api: Any, claims: Any) -> None:
    _error(api("GET", f"/v1/districts/{DISTRICT}", claims=claims), 401, "unauthenticated")


def test_openapi_document_and_docs_page_are_served(seeded: Any, api: Any) -> None:
    document = api("GET", "/v1/openapi.json", claims=None).json()
    assert "/v1/districts/{d}/holds/clear" in document["paths"]
    docs = api("GET", "/v1/docs", claims=None)
    assert docs.status == 200
    assert "/v1/openapi.json" in docs.text
    assert "https://" not in docs.text  # nothing loaded from a CDN


def test_an_unverified_email_is_401_with_a_clear_message(seeded: Any, api: Any) -> None:
    claims = admin(DISTRICT) | {"email_verified": "false"}
    response = api("GET", f"/v1/districts/{DISTRICT}", claims=claims)
    _error(response, 401, "unauthenticated")
    assert "not verified" in response.json()["error"]["message"]


def test_auth_config_is_public_documented_and_names_the_stacks_client(seeded: Any, api: Any) -> None:
    # Given the stack built from the template (its user pool client created in moto)
    [pool] = services.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    [client] = services.client("cognito-idp").list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]

    # When the dashboard asks where to sign in, without a token
    config = api("GET", "/v1/auth-config", claims=None).json()

    # Then the Hosted UI's endpoints and the public client, as the template wired them
    hosted_ui = f"https://sis-sync-local.auth.{seeded.region}.amazoncognito.com"
    assert config == {
        "authorize_url": f"{hosted_ui}/oauth2/authorize",
        "token_url": f"{hosted_ui}/oauth2/token",
        "logout_url": f"{hosted_ui}/logout",
        "client_id": client["ClientId"],
        "scopes": ["openid", "email", "profile"],
        "clever_client_id": None,  # the stack has no Clever app: no Log in with Clever
    }
    assert "/v1/auth-config" in api("GET", "/v1/openapi.json", claims=None).json()["paths"]
    # and the dashboard page may post the code exchange to that origin, and only there
    policy = api("GET", "/", claims=None).headers["content-security-policy"]
    assert f"connect-src 'self' {hosted_ui}" in policy
    assert "frame-ancestors 'none'" in policy


def test_unknown_route_is_404_in_the_error_shape(seeded: Any, api: Any) -> None:
    _error(api("GET", "/v1/nothing-here"), 404, "not_found")


# --- districts -------------------------------------------------------------------------------------


def test_district_shows_connection_last_error_and_settings(seeded: Any, api: Any) -> None:
    body = api("GET", f"/v1/districts/{DISTRICT}").json()
    assert set(body) == {
        "district_id",
        "name",
        "connection",
        "last_error",
        "last_sync_at",
        "settings",
        "clever_pause",
    }
    assert body["connection"] == "connected"
    assert body["last_error"] is None
    assert body["settings"]["thresholds"]["removal_min_count"] == 10


def test_another_district_is_404_for_an_admin_and_visible_to_an_operator(seeded: Any, api: Any) -> None:
    for route in ["", "/schools", "/schools/s-x", "/schools/s-x/roster", "/audit", "/clever-schools"]:
        _error(api("GET", f"/v1/districts/{OTHER}{route}"), 404, "not_found")
    _error(api("GET", f"/v1/districts/{OTHER}/syncs/s1"), 404, "not_found")
    _error(api("PATCH", f"/v1/districts/{OTHER}/settings", body={"sync_interval_minutes": 60}), 404)
    posts: list[tuple[str, Any]] = [
        ("/holds/clear", {"schools": [{"school_id": "s-x", "sync_id": "s1"}]}),
        ("/sync", {"confirm": True}),
        ("/reconnect", None),
        ("/schools/match", {"matches": [{"clever_school_id": "c-x"}]}),
    ]
    for route, body in posts:
        _error(api("POST", f"/v1/districts/{OTHER}{route}", body=body), 404, "not_found")
    assert api("GET", f"/v1/districts/{OTHER}", claims=operator()).json()["name"] == "Other"
    _error(api("GET", "/v1/districts/d-missing", claims=operator()), 404)


def test_settings_merge_partially_validate_and_are_audited(seeded: Any, api: Any) -> None:
    path = f"/v1/districts/{DISTRICT}/settings"
    body = api(
        "PATCH",
        path,
        body={"thresholds": {"removal_pct": 25}, "school_overrides": {HELD: {"max_guardians": 8}}},
    )
    assert body.status == 200, body.text
    settings = body.json()["settings"]
    assert settings["thresholds"]["removal_pct"] == 25
    assert settings["thresholds"]["removal_min_count"] == 10  # untouched
    assert settings["school_overrides"][HELD]["max_guardians"] == 8
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.settings.thresholds_for(HELD).max_guardians == 8
    removed = api("PATCH", path, body={"school_overrides": {HELD: None}}).json()["settings"]
    assert removed["school_overrides"] == {}
    # invalid: out of range (schema), contradictory (model), unknown field, unknown school
    _error(api("PATCH", path, body={"thresholds": {"removal_pct": 0}}), 422, "validation_error")
    _error(api("PATCH", path, body={"thresholds": {"removal_max_count": 5}}), 422, "invalid_request")
    _error(api("PATCH", path, body={"thresholdz": {}}), 422, "validation_error")
    _error(api("PATCH", path, body={"school_overrides": {"s-nope": {"max_guardians": 3}}}), 422)
    _error(api("PATCH", path, body="{not json"), 422, "validation_error")
    entries, _ = services.state_table().audit(DISTRICT)
    assert [e.action for e in entries].count("settings_updated") == 2
    assert entries[0].actor == "admin@example.org"


# --- schools ---------------------------------------------------------------------------------------


def test_school_list_has_the_contract_shape_and_filters_by_status(seeded: Any, api: Any) -> None:
    body = api("GET", f"/v1/districts/{DISTRICT}/schools").json()
    by_id = {school["school_id"]: school for school in body["schools"]}
    assert set(by_id) == {HELD, CALM, LOOSE}
    held = by_id[HELD]
    assert set(held) == {
        "school_id",
        "name",
        "clever_school_id",
        "status",
        "holds",
        "pending_sync_id",
        "last_synced_at",
        "changes",
        "changes_kind",  # added (issue 11): what `changes` counts, and since when
        "changes_at",
        "safe_changes",  # added (issue 12): how many held changes Apply safe changes applies now
    }
    assert held["status"] == "on_hold"
    assert held["changes_kind"] == "pending"
    assert held["pending_sync_id"] == "s002"
    assert held["holds"][0]["reason"] == "large_removals"
    assert held["changes"] == {"added": 1, "updated": 0, "removed": 40, "source_id_changed": 2}
    assert by_id[LOOSE]["status"] == "not_connected"
    only = api("GET", f"/v1/districts/{DISTRICT}/schools", query={"status": "on_hold"}).json()["schools"]
    assert [s["school_id"] for s in only] == [HELD]
    _error(api("GET", f"/v1/districts/{DISTRICT}/schools", query={"status": "sleeping"}), 422)


def test_a_disconnected_district_shows_its_matched_schools_disconnected(seeded: Any, api: Any) -> None:
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    error = ErrorInfo(code="auth", message="token revoked", at=datetime(2026, 11, 2, tzinfo=UTC))
    state.update_district(DISTRICT, connection=Connection.DISCONNECTED, last_error=error)
    statuses = {
        s["school_id"]: s["status"] for s in api("GET", f"/v1/districts/{DISTRICT}/schools").json()["schools"]
    }
    assert statuses == {HELD: "disconnected", CALM: "disconnected", LOOSE: "not_connected"}
    body = api("GET", f"/v1/districts/{DISTRICT}").json()
    assert body["connection"] == "disconnected"
    assert body["last_error"]["code"] == "auth"


def test_listing_many_schools_is_one_paged_query(seeded: Any, api: Any) -> None:
    state = services.state_table()
    for n in range(120):
        state.put_school(
            School(district_id=DISTRICT, school_id=f"s-{n:04d}", name="x" * 2000, clever_school_id=f"c{n}")
        )
    calls: list[dict[str, Any]] = []
    table = state._table
    original = table.query

    def spy(**kwargs: Any) -> Any:
        # pages of 25 items: what DynamoDB's 1 MB pages do to a district with ~1,800 schools
        calls.append(kwargs)
        return original(**kwargs | {"Limit": 25})

    table.query = spy
    try:
        body = api("GET", f"/v1/districts/{DISTRICT}/schools").json()
    finally:
        table.query = original
    assert len(body["schools"]) == 123
    school_queries = [c for c in calls if "IndexName" not in c]
    assert len(school_queries) >= 5  # 123 schools and the district's other items, 25 a page
    assert "ExclusiveStartKey" not in school_queries[0]
    assert all("ExclusiveStartKey" in c for c in school_queries[1:])  # pages of one Query, nothing else
    assert len({c["ExclusiveStartKey"]["sk"] for c in school_queries[1:]}) == len(school_queries) - 1


def test_school_report_adds_counts_examples_history_and_csv_url(seeded: Any, api: Any) -> None:
    services.state_table().append_audit(
        AuditEntry(
            district_id=DISTRICT,
            at=datetime(2026, 11, 2, 9, tzinfo=UTC),
            actor="system",
            action="hold",
            school_ids=[HELD],
            sync_ids=["s002"],
            result="hold",
        )
    )
    body = api("GET", f"/v1/districts/{DISTRICT}/schools/{HELD}").json()
    assert body["by_type"]["student"]["removed"] == 40
    assert body["examples"] == [
        {
            "reason": "large_removals",
            "record_type": "student",
            "change": "removed",
            "clever_id": "u1",
            "name": "A B",
        }
    ]
    assert [h["action"] for h in body["history"]] == ["hold"]
    assert body["csv_url"] == f"/v1/districts/{DISTRICT}/schools/{HELD}/changes.csv"
    assert api("GET", f"/v1/districts/{DISTRICT}/schools/{CALM}").json()["csv_url"] is None
    _error(api("GET", f"/v1/districts/{DISTRICT}/schools/s-nope"), 404)


def test_changes_csv_is_the_stored_neutralised_csv(seeded: Any, api: Any) -> None:
    response = api("GET", f"/v1/districts/{DISTRICT}/schools/{HELD}/changes.csv")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert "'=HYPERLINK" in lines[1]
    assert ",=" not in response.text
    _error(api("GET", f"/v1/districts/{DISTRICT}/schools/{CALM}/changes.csv"), 404)


def test_a_changes_csv_gone_from_the_bucket_is_not_found(seeded: Any, api: Any) -> None:
    # Given the held school's CSV expired from the bucket (the changes/ lifecycle rule)
    services.client("s3").delete_object(Bucket=seeded.bucket, Key=csv_key(DISTRICT, HELD, "s002"))
    # When the admin asks for it; Then 404 (S3 says "no such key" only to a role that may list the bucket)
    _error(api("GET", f"/v1/districts/{DISTRICT}/schools/{HELD}/changes.csv"), 404)


@pytest.fixture
def tiny_inline_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every stored CSV counts as too large to return inline (the limit is 5 MB otherwise)."""
    monkeypatch.setenv("CSV_INLINE_LIMIT", "10")
    services.environment.cache_clear()
    yield
    monkeypatch.delenv("CSV_INLINE_LIMIT")
    services.environment.cache_clear()


def test_a_large_csv_is_a_download_url_as_json_for_the_dashboard(
    seeded: Any, api: Any, tiny_inline_limit: None
) -> None:
    path = f"/v1/districts/{DISTRICT}/schools/{HELD}/changes.csv"
    # the dashboard's fetch (it cannot follow a 303 to S3: no CORS there) asks for JSON too
    response = api("GET", path, headers={"accept": "text/csv, application/json;q=0.9"})
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"url", "expires_in"}
    assert body["expires_in"] == 300
    assert f"changes/{DISTRICT}/{HELD}/s002.csv" in body["url"]
    assert "response-content-disposition=attachment" in body["url"]
    # a client that wants the CSV itself is redirected, as before
    redirected = api("GET", path, headers={"accept": "text/csv"})
    assert redirected.status == 303
    assert redirected.headers["location"] == redirected.headers["location"].strip()
    assert f"changes/{DISTRICT}/{HELD}/s002.csv" in redirected.headers["location"]
    # and the e-mail's CSV link too
    link = api(
        "GET",
        f"/v1/links/{_link(seeded, 'changes_csv')}",
        claims=None,
        headers={"accept": "application/json"},
    )
    assert (link.status, link.json()["expires_in"]) == (200, 300)


def test_a_small_csv_stays_inline_even_when_json_is_accepted(seeded: Any, api: Any) -> None:
    path = f"/v1/districts/{DISTRICT}/schools/{HELD}/changes.csv"
    response = api("GET", path, headers={"accept": "text/csv, application/json;q=0.9"})
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")


def test_roster_counts_use_plural_keys(seeded: Any, api: Any) -> None:
    body = api("GET", f"/v1/districts/{DISTRICT}/schools/{CALM}/roster").json()
    keys = {"students", "teachers", "staff", "contacts", "sections"}
    assert set(body) == {"counts", "archived"}
    assert set(body["counts"]) == keys
    assert set(body["archived"]) == keys


# --- Clear holds --------------------------------------------------------------------------------------


def test_clear_holds_starts_one_release_and_reports_each_school(seeded: Any, api: Any) -> None:
    body = {"schools": [{"school_id": HELD, "sync_id": "s002"}, {"school_id": CALM, "sync_id": "s002"}]}
    response = api("POST", f"/v1/districts/{DISTRICT}/holds/clear", body=body)
    assert response.status == 202, response.text
    assert response.json() == {
        "results": [
            {"school_id": HELD, "result": "released", "sync_id": "s002"},
            {"school_id": CALM, "result": "not_on_hold", "sync_id": "s002"},
        ]
    }
    sfn = services.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=seeded.release_arn)["executions"]
    assert [e["name"] for e in executions] == [f"release-{HELD}-s002"]
    started = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    manifest = {"bucket": seeded.bucket, "key": f"releases/{DISTRICT}/release-{HELD}-s002.json"}
    # the released school's history is the release's first step's to write (the refused one's is here)
    history = started.pop("history")
    assert (history["action"], history["actor"], history["result"]) == (
        "clear_holds",
        "admin@example.org",
        "released",
    )
    refused = services.state_table().audit_entries_of_school(DISTRICT, CALM)
    assert [(h.action, h.result) for h in refused] == [("clear_holds", "not_on_hold")]
    assert started == {
        "district_id": DISTRICT,
        "approved_by": "admin@example.org",
        "manifest": manifest,
        "school_count": 1,
    }
    stored = services.client("s3").get_object(Bucket=manifest["bucket"], Key=manifest["key"])
    assert json.loads(stored["Body"].read()) == [{"school_id": HELD, "sync_id": "s002"}]
    entries, _ = services.state_table().audit(DISTRICT)
    entry = next(e for e in entries if e.action == "clear_holds")
    assert (entry.actor, entry.school_ids, entry.sync_ids) == ("admin@example.org", [HELD, CALM], ["s002"])
    assert entry.detail["results"] == {HELD: "released", CALM: "not_on_hold"}


def test_clearing_a_stale_sync_id_is_409_and_starts_nothing(seeded: Any, api: Any) -> None:
    body = {"schools": [{"school_id": HELD, "sync_id": "s001"}]}
    response = api("POST", f"/v1/districts/{DISTRICT}/holds/clear", body=body)
    _error_body = response.json()
    assert response.status == 409
    assert _error_body["error"]["code"] == "stale_sync_id"
    assert _error_body["results"] == [{"school_id": HELD, "result": "stale", "sync_id": "s001"}]
    executions = services.client("stepfunctions").list_executions(stateMachineArn=seeded.release_arn)
    assert executions["executions"] == []


def test_holds_cannot_be_cleared_while_the_district_is_disconnected(seeded: Any, api: Any) -> None:
    # Given the held school's district lost its Clever connection
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    error = ErrorInfo(code="auth", message="token revoked", at=datetime(2026, 11, 2, tzinfo=UTC))
    state.update_district(DISTRICT, connection=Connection.DISCONNECTED, last_error=error)
    # When the admin clears its hold with the right sync id
    body = {"schools": [{"school_id": HELD, "sync_id": "s002"}, {"school_id": CALM, "sync_id": "s002"}]}
    response = api("POST", f"/v1/districts/{DISTRICT}/holds/clear", body=body)
    # Then nothing is released: every school's result says why
    assert response.status == 202, response.text
    assert response.json()["results"] == [
        {"school_id": HELD, "result": "disconnected", "sync_id": "s002"},
        {"school_id": CALM, "result": "disconnected", "sync_id": "s002"},
    ]
    executions = services.client("stepfunctions").list_executions(stateMachineArn=seeded.release_arn)
    assert executions["executions"] == []
    entries, _ = state.audit(DISTRICT)
    entry = next(e for e in entries if e.action == "clear_holds")
    assert (entry.result, entry.detail["results"][HELD]) == ("refused", "disconnected")
    document = api("GET", "/v1/openapi.json", claims=None).json()
    assert "`disconnected`" in document["paths"]["/v1/districts/{d}/holds/clear"]["post"]["description"]


def test_a_release_that_failed_can_be_cleared_again(seeded: Any, api: Any) -> None:
    from tests.e2e.flow import wait

    attempts: list[dict[str, Any]] = []

    def apply(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "history" in event:  # the release's first step
            return {"histories": 1}
        attempts.append(event)
        if len(attempts) == 1:
            raise RuntimeError("the roster table was unavailable")
        return {"released": event["school_id"]}  # (the school stays on hold in this stub)

    sfn = services.client("stepfunctions")
    path = f"/v1/districts/{DISTRICT}/holds/clear"
    body = {"schools": [{"school_id": HELD, "sync_id": "s002"}]}

    def released_names() -> list[str]:
        return sorted(
            e["name"] for e in sfn.list_executions(stateMachineArn=seeded.release_arn)["executions"]
        )

    def arn_of(name: str) -> str:
        return str(seeded.release_arn.replace(":stateMachine:", ":execution:") + f":{name}")

    with route_lambda_invokes({seeded.function_names["ApplyChangesFunction"]: apply}):
        # Given a release whose apply failed
        assert api("POST", path, body=body).json()["results"][0]["result"] == "released"
        first = f"release-{HELD}-s002"
        assert wait(arn_of(first))["status"] == "FAILED"
        # When the admin clears the same (still pending) change set again
        again = api("POST", path, body=body)
        # Then a new attempt runs, under a name of its own
        assert again.json()["results"][0]["result"] == "released"
        assert released_names() == [first, f"{first}-2"]
        assert wait(arn_of(f"{first}-2"))["status"] == "SUCCEEDED"
        # And once one succeeded, another click starts nothing more
        assert api("POST", path, body=body).json()["results"][0]["result"] == "released"
        assert released_names() == [first, f"{first}-2"]
    assert len(attempts) == 2


def test_clear_holds_refuses_unknown_schools_and_bad_bodies(seeded: Any, api: Any) -> None:
    path = f"/v1/districts/{DISTRICT}/holds/clear"
    _error(api("POST", path, body={"schools": [{"school_id": "s-nope", "sync_id": "s002"}]}), 404)
    _error(api("POST", path, body={"schools": []}), 422, "validation_error")
    _error(api("POST", path, body={"schools": [{"school_id": HELD}]}), 422, "validation_error")
    dup = {"schools": [{"school_id": HELD, "sync_id": "s002"}] * 2}
    _error(api("POST", path, body=dup), 422, "invalid_request")


# --- Check for new Clever data / I fixed it -----------------------------------------------------------


def test_check_now_needs_confirmation_then_starts_the_poll_machine_named_by_the_sync_id(
    seeded: Any, api: Any, polls: Any
) -> None:
    path = f"/v1/districts/{DISTRICT}/sync"
    _error(api("POST", path), 400, "confirmation_required")  # no body at all
    _error(api("POST", path, body=""), 400, "confirmation_required")  # an empty one
    _error(api("POST", path, body={}), 400, "confirmation_required")
    _error(api("POST", path, body={"confirm": False}), 400, "confirmation_required")
    assert polls() == []
    response = api("POST", path, body={"confirm": True, "school_ids": [HELD]})
    assert response.status == 202, response.text
    sync_id = response.json()["sync_id"]
    assert sync_id.endswith(f"-{DISTRICT}")
    order = {"district_id": DISTRICT, "sync_id": sync_id, "trigger": "manual", "school_ids": [HELD]}
    # one execution of the poll machine (one poll_clever step per invocation, however large the
    # district), named by the sync id, its one order carrying the schools through to the step
    assert polls() == [order]
    assert poll_inputs(seeded.poll_arn) == {sync_id: {"polls": [order]}}
    _error(api("POST", path, body={"confirm": True, "school_ids": ["s-nope"]}), 404)
    from functions.poll_clever.app import PollRequest  # the poll handler reads what the API sends

    assert PollRequest.model_validate(polls()[0]).sync_id == sync_id


def test_i_fixed_it_reconnects_and_syncs_when_clever_answers(seeded: Any, api: Any, polls: Any) -> None:
    state = services.state_table()
    district = state.get_district(DISTRICT)
    assert district is not None
    error = ErrorInfo(code="auth", message="revoked", at=datetime(2026, 11, 2, tzinfo=UTC))
    state.update_district(
        DISTRICT, connection=Connection.DISCONNECTED, consecutive_failures=3, last_error=error
    )
    body = api("POST", f"/v1/districts/{DISTRICT}/reconnect").json()
    assert body["connection"] == "connected"
    assert polls()[0]["sync_id"] == body["sync_id"]
    assert polls()[0]["trigger"] == "reconnect"
    after = state.get_district(DISTRICT)
    assert after is not None
    assert (after.connection, after.consecutive_failures, after.last_error) == (Connection.CONNECTED, 0, None)
    entries, _ = state.audit(DISTRICT)
    assert {"reconnect", "sync_after_reconnect"} <= {e.action for e in entries}


def test_i_fixed_it_reports_the_error_when_clever_still_refuses(seeded: Any, api: Any, polls: Any) -> None:
    state = services.state_table()
    services.token_store().put(DISTRICT, "revoked-token")
    district = state.get_district(DISTRICT)
    assert district is not None
    state.update_district(DISTRICT, connection=Connection.DISCONNECTED)
    response = api("POST", f"/v1/districts/{DISTRICT}/reconnect")
    assert response.status == 200
    body = response.json()
    assert body["connection"] == "disconnected"
    assert body["error"]["code"] == "auth"
    assert "revoked-token" not in response.text
    assert polls() == []
    after = state.get_district(DISTRICT)
    assert after is not None
    assert after.connection is Connection.DISCONNECTED
    assert after.last_error is not None
    assert after.last_error.code == "auth"


# --- Match schools -------------------------------------------------------------------------------------


def test_clever_schools_come_with_suggestions(seeded: Any, api: Any) -> None:
    body = api("GET", f"/v1/districts/{DISTRICT}/clever-schools").json()
    by_id = {c["clever_school_id"]: c for c in body["clever_schools"]}
    assert by_id["c-new"]["suggestions"] == [
        {"school_id": LOOSE, "name": "Lincoln High School", "match": "nces_id", "score": 1.0}
    ]
    assert by_id["c-odd"]["suggestions"] == []


def test_matching_links_or_adds_schools(seeded: Any, api: Any) -> None:
    path = f"/v1/districts/{DISTRICT}/schools/match"
    body = {"matches": [{"clever_school_id": "c-new", "school_id": LOOSE}, {"clever_school_id": "c-odd"}]}
    response = api("POST", path, body=body)
    assert response.status == 200, response.text
    assert response.json()["results"] == [
        {"clever_school_id": "c-new", "school_id": LOOSE, "result": "linked"},
        {"clever_school_id": "c-odd", "school_id": "s-c-odd", "result": "added"},
    ]
    state = services.state_table()
    linked = state.get_school(DISTRICT, LOOSE)
    assert linked is not None
    assert (linked.clever_school_id, linked.status) == ("c-new", SchoolStatus.CONNECTED)
    assert list(state.clever_schools(DISTRICT)) == []
    _error(api("POST", path, body={"matches": [{"clever_school_id": "c-new"}]}), 404)
    state.put_clever_school(
        CleverSchool(district_id=DISTRICT, clever_school_id="c-3", name="Three", first_seen_sync_id="s003")
    )
    _error(
        api("POST", path, body={"matches": [{"clever_school_id": "c-3", "school_id": CALM}]}), 409, "conflict"
    )


# --- audit ---------------------------------------------------------------------------------------------


def test_audit_pages_newest_first_with_a_cursor(seeded: Any, api: Any) -> None:
    state = services.state_table()
    start = datetime(2026, 11, 3, tzinfo=UTC)
    for n in range(5):
        state.append_audit(
            AuditEntry(district_id=DISTRICT, at=start + timedelta(minutes=n), actor="system", action=f"a{n}")
        )
    path = f"/v1/districts/{DISTRICT}/audit"
    first = api("GET", path, query={"limit": "3"}).json()
    assert [e["action"] for e in first["entries"]] == ["a4", "a3", "a2"]
    second = api("GET", path, query={"limit": "3", "cursor": first["next_cursor"]}).json()
    assert [e["action"] for e in second["entries"]][:2] == ["a1", "a0"]
    _error(api("GET", path, query={"cursor": "not-a-cursor!"}), 400, "bad_request")
    _error(api("GET", path, query={"limit": "0"}), 422)


# --- signed links ------------------------------------------------------------------------------------


def _link(stack: Any, purpose: str, *, now: datetime | None = None, school_id: str = HELD) -> str:
    key = services.client("secretsmanager").get_secret_value(SecretId=stack.secret_arns["LinkSigningKey"])
    return sign_link(
        key["SecretString"].encode(),
        district_id=DISTRICT,
        school_id=school_id,
        sync_id="s002",
        purpose=purpose,  # type: ignore[arg-type]
        now=now or datetime.now(UTC),
    )


def test_a_csv_link_serves_the_csv_without_sign_in(seeded: Any, api: Any) -> None:
    response = api("GET", f"/v1/links/{_link(seeded, 'changes_csv')}", claims=None)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK" in response.text


def test_a_report_link_serves_the_school_report_without_history(seeded: Any, api: Any) -> None:
    services.state_table().append_audit(
        AuditEntry(
            district_id=DISTRICT,
            at=datetime(2026, 11, 2, 9, tzinfo=UTC),
            actor="other.admin@example.org",
            action="settings_updated",
            school_ids=[HELD],
            result="updated",
        )
    )
    response = api("GET", f"/v1/links/{_link(seeded, 'report')}", claims=None)
    body = response.json()
    assert body["school_id"] == HELD
    assert body["status"] == "on_hold"
    assert body["pending_sync_id"] == "s002"
    assert "history" not in body
    assert "other.admin@example.org" not in response.text


def test_a_report_link_is_refused_once_its_change_set_is_no_longer_pending(seeded: Any, api: Any) -> None:
    # Given a report link for s002, then a newer change set s003 replaced it
    token = _link(seeded, "report")
    state = services.state_table()
    held = state.get_school(DISTRICT, HELD)
    assert held is not None
    state.put_school(held.model_copy(update={"pending": _pending(HELD, "s003"), "latest_sync_id": "s003"}))
    # Then the link answers 404 (it does not show s003's report)
    _error(api("GET", f"/v1/links/{token}", claims=None), 404, "not_found")
    # And once nothing is pending (released), still 404
    state.put_school(held.model_copy(update={"pending": None, "status": SchoolStatus.CONNECTED}))
    _error(api("GET", f"/v1/links/{token}", claims=None), 404, "not_found")


def test_a_csv_link_dies_with_its_change_set(seeded: Any, api: Any) -> None:
    # Given an e-mailed CSV link for the pending change set s002 (it serves the CSV while pending)
    token = _link(seeded, "changes_csv")
    assert api("GET", f"/v1/links/{token}", claims=None).status == 200
    state = services.state_table()
    held = state.get_school(DISTRICT, HELD)
    assert held is not None
    # When the hold is released (nothing pending; the CSV object itself is still in the bucket)
    state.put_school(held.model_copy(update={"pending": None, "status": SchoolStatus.CONNECTED}))
    # Then the link answers 410 change_set_not_pending, with no roster data in it
    released = api("GET", f"/v1/links/{token}", claims=None)
    _error(released, 410, "change_set_not_pending")
    assert "dashboard" in released.json()["error"]["message"]
    assert "HYPERLINK" not in released.text
    # And also when a newer change set replaced it, though the school is on hold again
    state.put_school(held.model_copy(update={"pending": _pending(HELD, "s003"), "latest_sync_id": "s003"}))
    _error(api("GET", f"/v1/links/{token}", claims=None), 410, "change_set_not_pending")
    # And the documented answer says so
    document = api("GET", "/v1/openapi.json", claims=None).json()
    assert "410" in document["paths"]["/v1/links/{token}"]["get"]["responses"]


def test_expired_and_tampered_links_are_refused(seeded: Any, api: Any) -> None:
    old = _link(seeded, "changes_csv", now=datetime.now(UTC) - timedelta(hours=73))
    _error(api("GET", f"/v1/links/{old}", claims=None), 401, "link_expired")
    token = _link(seeded, "changes_csv")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    _error(api("GET", f"/v1/links/{tampered}", claims=None), 403, "link_invalid")
    _error(api("GET", "/v1/links/not-a-jwt", claims=None), 403, "link_invalid")


def test_links_and_reads_change_nothing(seeded: Any, api: Any) -> None:
    state = services.state_table()
    before = (
        list(state.schools(DISTRICT)),
        state.audit(DISTRICT, limit=500)[0],
        state.get_district(DISTRICT),
    )
    api("GET", f"/v1/links/{_link(seeded, 'report')}", claims=None)
    api("GET", f"/v1/links/{_link(seeded, 'changes_csv')}", claims=None)
    for route in [
        "",
        "/schools",
        f"/schools/{HELD}",
        f"/schools/{HELD}/changes.csv",
        f"/schools/{HELD}/roster",
        "/clever-schools",
        "/audit",
    ]:
        assert api("GET", f"/v1/districts/{DISTRICT}{route}").status == 200
    after = (list(state.schools(DISTRICT)), state.audit(DISTRICT, limit=500)[0], state.get_district(DISTRICT))
    assert after == before
