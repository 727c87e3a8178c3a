"""CleverApp: the app's district tokens from Clever's OAuth API (httpx.MockTransport, no network)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from sis_sync.clever.app_tokens import CleverApp
from sis_sync.clever.client import RetryPolicy
from sis_sync.clever.errors import CleverAuthError, CleverPagingLoop
from sis_sync.clever.models import TokenPage

OAUTH = "https://clever.test"
DEMO_TOKENS = Path(__file__).resolve().parents[2].parent / "shared/clever/demo-district/oauth-tokens.json"
NO_RETRY = RetryPolicy(max_attempts=1)


def token(n: int) -> dict[str, object]:
    return {
        "id": f"t{n}",
        "created": f"2026-01-0{n}T00:00:00.000Z",
        "owner": {"type": "district", "id": f"district{n}"},
        "access_token": f"secret-token-{n}",
        "scopes": ["read:students"],
    }


def app_for(handler: httpx.MockTransport) -> CleverApp:
    return CleverApp(OAUTH, "cid", "csecret", http=httpx.Client(transport=handler), retry=NO_RETRY)


def test_tokens_are_listed_with_basic_auth_across_pages() -> None:
    # Given Clever serves two pages of tokens, linked by rel=next
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "starting_after" in request.url.params:
            return httpx.Response(200, json={"data": [token(2)], "links": []})
        nxt = "/oauth/tokens?owner_type=district&starting_after=t1"
        return httpx.Response(200, json={"data": [token(1)], "links": [{"rel": "next", "uri": nxt}]})

    # When the app lists its district tokens
    with app_for(httpx.MockTransport(serve)) as app:
        tokens = app.district_tokens()

    # Then both pages were read with the app's basic credentials, owner_type=district
    assert [t.district_id for t in tokens] == ["district1", "district2"]
    assert [t.access_token.get_secret_value() for t in tokens] == ["secret-token-1", "secret-token-2"]
    expected = "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert {r.headers["authorization"] for r in seen} == {expected}
    assert seen[0].url.path == "/oauth/tokens"
    assert seen[0].url.params["owner_type"] == "district"
    # And no token shows in a model's repr
    assert "secret-token" not in repr(tokens)


def test_wrong_credentials_are_an_auth_error_not_an_empty_list() -> None:
    refuse = httpx.MockTransport(lambda _: httpx.Response(401, json={"error": "invalid_client"}))
    with app_for(refuse) as app, pytest.raises(CleverAuthError):
        app.district_tokens()


def test_a_next_link_that_repeats_a_page_is_refused() -> None:
    loop = {"rel": "next", "uri": "/oauth/tokens?owner_type=district"}
    serve = httpx.MockTransport(lambda _: httpx.Response(200, json={"data": [token(1)], "links": [loop]}))
    with app_for(serve) as app, pytest.raises(CleverPagingLoop):
        app.district_tokens()


def test_clevers_own_token_list_parses() -> None:
    if not DEMO_TOKENS.exists():
        pytest.skip(f"{DEMO_TOKENS} is not present")
    page = TokenPage.model_validate(json.loads(DEMO_TOKENS.read_text()))
    [only] = page.data
    assert only.district_id == "12341b95c7cc000010d417c"
    assert only.access_token.get_secret_value().startswith("12345")
    assert page.next_uri is None


def test_missing_credentials_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="client id and secret"):
        CleverApp(OAUTH, "cid", "")
