"""Signed e-mail links: round trip, expiry on an injected clock, tampering, purpose, the secret key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from sis_sync.links import (
    AUDIENCE,
    ExpiredLinkError,
    InvalidLinkError,
    LinkClaims,
    LinkKey,
    TamperedLinkError,
    WrongPurposeError,
    container_link_key,
    district_page_url,
    link_url,
    school_page_url,
    sign_link,
    verify_link,
)

KEY = b"k" * 48
OTHER_KEY = b"o" * 48
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def token(purpose: Any = "changes_csv", key: bytes = KEY, **overrides: Any) -> str:
    claims = {"district_id": "d-1", "school_id": "s-1", "sync_id": "sync-1"} | overrides
    return sign_link(key, purpose=purpose, now=T0, **claims)


def test_a_signed_link_verifies_to_its_claims() -> None:
    # Given a link signed now / When it is opened an hour later / Then it grants exactly that scope
    claims = verify_link(KEY, token(), T0 + timedelta(hours=1), purpose="changes_csv")

    assert claims == LinkClaims(
        district_id="d-1",
        school_id="s-1",
        sync_id="sync-1",
        purpose="changes_csv",
        iat=int(T0.timestamp()),
        exp=int((T0 + timedelta(hours=72)).timestamp()),
    )
    assert claims.expires_at == T0 + timedelta(hours=72)


def test_the_token_is_a_short_hs256_jwt_for_our_audience() -> None:
    header = jwt.get_unverified_header(token())
    payload = jwt.decode(token(), options={"verify_signature": False})

    assert header["alg"] == "HS256"
    assert set(payload) == {"aud", "iat", "exp", "district_id", "school_id", "sync_id", "purpose"}
    assert payload["aud"] == AUDIENCE


def test_a_link_is_valid_until_72_hours_and_not_a_second_longer() -> None:
    link = token()

    assert verify_link(KEY, link, T0 + timedelta(hours=72) - timedelta(seconds=1))
    with pytest.raises(ExpiredLinkError):
        verify_link(KEY, link, T0 + timedelta(hours=72))


def test_a_shorter_ttl_is_honoured() -> None:
    link = sign_link(
        KEY, district_id="d", school_id="s", sync_id="y", purpose="report", now=T0, ttl=timedelta(minutes=5)
    )

    with pytest.raises(ExpiredLinkError):
        verify_link(KEY, link, T0 + timedelta(minutes=5))


def test_another_key_is_tampering() -> None:
    with pytest.raises(TamperedLinkError):
        verify_link(KEY, token(key=OTHER_KEY), T0)


def _with_payload(link: str, **changes: Any) -> str:
    header, payload, signature = link.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | changes
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "changes",
    [{"school_id": "s-2"}, {"district_id": "d-2"}, {"exp": 4_000_000_000}, {"purpose": "report"}],
    ids=["school", "district", "expiry", "purpose"],
)
def test_a_changed_claim_breaks_the_signature(changes: dict[str, Any]) -> None:
    # Given a valid link / When a claim is edited / Then it no longer verifies
    with pytest.raises(TamperedLinkError):
        verify_link(KEY, _with_payload(token(), **changes), T0)


@pytest.mark.parametrize(
    "bad",
    ["", "not-a-jwt", "a.b.c", jwt.encode({"aud": AUDIENCE}, KEY, algorithm="HS256")],
    ids=["empty", "garbage", "three-parts", "missing-claims"],
)
def test_malformed_tokens_are_tampered(bad: str) -> None:
    with pytest.raises(TamperedLinkError):
        verify_link(KEY, bad, T0)


def test_another_audience_or_algorithm_is_refused() -> None:
    claims = {"district_id": "d", "school_id": "s", "sync_id": "y", "purpose": "report"}
    times = {"iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 60}
    foreign = jwt.encode(claims | times | {"aud": "someone-else"}, KEY, algorithm="HS256")
    unsigned = jwt.encode(claims | times | {"aud": AUDIENCE}, "", algorithm="none")
    for bad in (foreign, unsigned):
        with pytest.raises(TamperedLinkError):
            verify_link(KEY, bad, T0)


def test_a_link_for_the_report_does_not_open_the_csv() -> None:
    link = token(purpose="report")

    assert verify_link(KEY, link, T0).purpose == "report"
    with pytest.raises(WrongPurposeError) as raised:
        verify_link(KEY, link, T0, purpose="changes_csv")
    assert isinstance(raised.value, InvalidLinkError)
    assert raised.value.problem == "wrong_purpose"


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        sign_link(b"short", district_id="d", school_id="s", sync_id="y", purpose="report", now=T0)


def test_urls() -> None:
    assert link_url("https://sis.example.org/", "a.b-c_d") == "https://sis.example.org/v1/links/a.b-c_d"
    assert school_page_url("https://sis.example.org", "d 1", "s/1") == (
        "https://sis.example.org/#/districts/d%201/schools/s%2F1"
    )
    assert district_page_url("https://sis.example.org", "d-1") == "https://sis.example.org/#/districts/d-1"


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:LinkSigningKey-AbCdEf"


class FakeSecretsManager:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"ARN": kwargs["SecretId"], "SecretString": "s" * 64}


def test_the_key_is_read_from_its_secret_once_per_container() -> None:
    # Given a Secrets Manager client / When the key is asked for three times / Then it is read once
    secretsmanager = FakeSecretsManager()
    key = LinkKey(secretsmanager, SECRET_ARN)

    assert key.get() == key() == key.get() == b"s" * 64
    assert secretsmanager.calls == [{"SecretId": SECRET_ARN}]


def test_the_container_key_is_shared_per_client_and_secret() -> None:
    secretsmanager, other = FakeSecretsManager(), FakeSecretsManager()

    assert container_link_key(secretsmanager, SECRET_ARN) is container_link_key(secretsmanager, SECRET_ARN)
    assert container_link_key(other, SECRET_ARN) is not container_link_key(secretsmanager, SECRET_ARN)


def test_no_secret_arn_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="LINK_KEY_SECRET_ARN"):
        LinkKey(FakeSecretsManager(), "").get()
