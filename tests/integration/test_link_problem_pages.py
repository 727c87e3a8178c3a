"""An e-mail link that opens nothing: a browser (Accept: text/html) gets a page saying why, with the
refusal's status; API clients (JSON, CSV, */*) keep the JSON error of DESIGN §4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sis_sync import services
from sis_sync.model import SchoolStatus
from tests.integration.test_api_routes import HELD, _error, _link, api, seeded  # noqa: F401 (fixtures)
from tests.onboarded import DISTRICT

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"}


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[:-4]}AAAA"


def _release_held() -> None:
    state = services.state_table()
    held = state.get_school(DISTRICT, HELD)
    assert held is not None
    state.put_school(held.model_copy(update={"pending": None, "status": SchoolStatus.CONNECTED}))


@pytest.mark.parametrize(
    ("make_token", "status", "title"),
    [
        (lambda s: _link(s, "changes_csv", now=datetime.now(UTC) - timedelta(hours=73)), 401, "has expired"),
        (lambda s: _tampered(_link(s, "changes_csv")), 403, "is not valid"),
        (lambda s: "not-a-jwt", 403, "is not valid"),
    ],
    ids=["expired", "tampered", "garbage"],
)
def test_a_browser_gets_a_page_for_a_link_that_is_not_valid(
    seeded: Any,  # noqa: F811
    api: Any,  # noqa: F811
    make_token: Any,
    status: int,
    title: str,
) -> None:
    # Given a bad link, When a browser follows it
    response = api("GET", f"/v1/links/{make_token(seeded)}", claims=None, headers=BROWSER)
    # Then it gets an HTML page saying why, with the same status, that leads to the dashboard
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"This link {title}" in response.text
    assert 'href="../../"' in response.text
    assert '"error"' not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_browser_gets_a_page_once_the_hold_of_a_csv_link_is_over(seeded: Any, api: Any) -> None:  # noqa: F811
    # Given an e-mailed CSV link, and then the hold is released
    token = _link(seeded, "changes_csv")
    _release_held()
    # When a browser follows it
    response = api("GET", f"/v1/links/{token}", claims=None, headers=BROWSER)
    # Then the page says the hold is over, with no roster data in it
    assert response.status == 410
    assert "This hold is over" in response.text
    assert "HYPERLINK" not in response.text


def test_a_browser_gets_a_page_for_a_report_link_no_longer_pending(seeded: Any, api: Any) -> None:  # noqa: F811
    token = _link(seeded, "report")
    _release_held()
    response = api("GET", f"/v1/links/{token}", claims=None, headers=BROWSER)
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "This link opens nothing any more" in response.text


@pytest.mark.parametrize(
    "accept",
    ["application/json", "text/csv, application/json;q=0.9", "*/*", "", "text/html;q=0.5, application/json"],
)
def test_api_clients_keep_the_json_error(seeded: Any, api: Any, accept: str) -> None:  # noqa: F811
    # Given an expired link, When an API client (not preferring HTML) opens it
    old = _link(seeded, "changes_csv", now=datetime.now(UTC) - timedelta(hours=73))
    response = api("GET", f"/v1/links/{old}", claims=None, headers={"accept": accept})
    # Then the answer is the documented JSON error
    _error(response, 401, "link_expired")


def test_a_browser_still_downloads_the_csv_of_a_valid_link(seeded: Any, api: Any) -> None:  # noqa: F811
    response = api("GET", f"/v1/links/{_link(seeded, 'changes_csv')}", claims=None, headers=BROWSER)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")


def test_other_routes_keep_json_errors_for_a_browser(seeded: Any, api: Any) -> None:  # noqa: F811
    response = api("GET", "/v1/districts/d-unknown", headers=BROWSER)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] in {"not_found", "forbidden"}


def test_the_page_is_documented_for_the_link_route(seeded: Any, api: Any) -> None:  # noqa: F811
    document = api("GET", "/v1/openapi.json", claims=None).json()
    responses = document["paths"]["/v1/links/{token}"]["get"]["responses"]
    assert {"application/json", "text/html"} <= set(responses["401"]["content"])
