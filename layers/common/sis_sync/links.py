"""Signed, expiring, read-only links for the hold e-mails (DESIGN §4 `GET /v1/links/{token}`).

A link carries a JWT (PyJWT, HS256) scoped to one district, school and sync and to one purpose (the
changes CSV or the school's report). It grants reading that one thing until it expires (72 h); the
API serves it without a login, so it never allows a change. The signing key is a Secrets Manager
secret the template generates (LINK_KEY_SECRET_ARN), read once per container.

Times are checked against an injected clock (`now`), so tests need no sleeping and no real clock:
PyJWT checks the signature, the algorithm, the audience and that the claims are present, and the
expiry is compared with `now` here.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, ClassVar, Final, Literal
from urllib.parse import quote

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

AUDIENCE: Final = "sis-sync-link"
ALGORITHM: Final = "HS256"
LINK_TTL: Final = timedelta(hours=72)
MIN_KEY_BYTES: Final = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash

Purpose = Literal["changes_csv", "report"]


class InvalidLinkError(Exception):
    """A link that grants nothing; `problem` tells why (the API maps it to its error answer)."""

    problem: ClassVar[str] = "invalid"


class ExpiredLinkError(InvalidLinkError):
    problem = "expired"


class TamperedLinkError(InvalidLinkError):
    """Not signed with our key, not for us, malformed, or missing a claim."""

    problem = "tampered"


class WrongPurposeError(InvalidLinkError):
    problem = "wrong_purpose"


class LinkClaims(BaseModel):
    """What a link grants: reading `purpose` of one school's sync until `exp`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    district_id: str
    school_id: str
    sync_id: str
    purpose: Purpose
    iat: int
    exp: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, tz=UTC)


def sign_link(
    key: bytes,
    *,
    district_id: str,
    school_id: str,
    sync_id: str,
    purpose: Purpose,
    now: datetime,
    ttl: timedelta = LINK_TTL,
) -> str:
    """A token for `GET /v1/links/{token}` that grants reading `purpose` until `now + ttl`."""
    _check_key(key)
    issued = int(now.timestamp())
    claims = {
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + int(ttl.total_seconds()),
        "district_id": district_id,
        "school_id": school_id,
        "sync_id": sync_id,
        "purpose": purpose,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_link(key: bytes, token: str, now: datetime, *, purpose: Purpose | None = None) -> LinkClaims:
    """The claims of a link signed with `key`, still valid at `now` and (if given) for `purpose`.

    Raises ExpiredLinkError, TamperedLinkError or WrongPurposeError (all InvalidLinkError).
    """
    _check_key(key)
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={
                "require": ["aud", "iat", "exp"],
                # compared with the injected clock below, not with the machine's
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        claims = LinkClaims.model_validate(payload)
    except (jwt.InvalidTokenError, ValidationError) as error:
        raise TamperedLinkError("the link is not valid") from error
    if int(now.timestamp()) >= claims.exp:
        raise ExpiredLinkError("the link has expired")
    if purpose is not None and claims.purpose != purpose:
        raise WrongPurposeError(f"the link is not for {purpose}")
    return claims


def link_url(dashboard_url: str, token: str) -> str:
    """Where a signed link is opened: `{DASHBOARD_URL}/v1/links/{token}`."""
    return f"{dashboard_url.rstrip('/')}/v1/links/{quote(token, safe='')}"


def district_page_url(dashboard_url: str, district_id: str) -> str:
    """The district's page on the dashboard (a plain route: the admin signs in)."""
    return f"{dashboard_url.rstrip('/')}/#/districts/{quote(district_id, safe='')}"


def on_hold_page_url(dashboard_url: str, district_id: str) -> str:
    """The district's page listing only its schools on hold (the dashboard reads `?status=`)."""
    return f"{district_page_url(dashboard_url, district_id)}?status=on_hold"


def school_page_url(dashboard_url: str, district_id: str, school_id: str) -> str:
    """The school's SIS sync report on the dashboard (a plain route: the admin signs in)."""
    return f"{district_page_url(dashboard_url, district_id)}/schools/{quote(school_id, safe='')}"


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the link signing key must be at least {MIN_KEY_BYTES} bytes")


class LinkKey:
    """The link signing key, read from its Secrets Manager secret on first use and then kept."""

    def __init__(self, secretsmanager: Any, secret_arn: str) -> None:
        """`secretsmanager` is a boto3 Secrets Manager client; `secret_arn` the secret's ARN
        (LINK_KEY_SECRET_ARN)."""
        self._secretsmanager = secretsmanager
        self._secret_arn = secret_arn
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        with self._lock:
            if self._key is None:
                if not self._secret_arn:
                    raise ValueError("LINK_KEY_SECRET_ARN is not set")
                secret = self._secretsmanager.get_secret_value(SecretId=self._secret_arn)
                self._key = secret["SecretString"].encode()
            return self._key

    def __call__(self) -> bytes:
        return self.get()


@cache
def container_link_key(secretsmanager: Any, secret_arn: str) -> LinkKey:
    """One LinkKey per container (per client and secret: a client rebuilt by `services.reset()`
    reads the key afresh)."""
    return LinkKey(secretsmanager, secret_arn)


__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "LINK_TTL",
    "ExpiredLinkError",
    "InvalidLinkError",
    "LinkClaims",
    "LinkKey",
    "Purpose",
    "TamperedLinkError",
    "WrongPurposeError",
    "container_link_key",
    "district_page_url",
    "link_url",
    "on_hold_page_url",
    "school_page_url",
    "sign_link",
    "verify_link",
]
