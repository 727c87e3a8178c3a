"""Local sign-in: the devstack signs JWTs itself and verifies them where API Gateway's Cognito
authorizer would, handing the function the same claims (`email`, `custom:district_id`,
`custom:role`)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ISSUER = "sis-sync-devstack"
AUDIENCE = "sis-sync-dashboard"


class DevAuthority:
    def __init__(self, key: bytes | None = None, ttl: timedelta = timedelta(hours=12)) -> None:
        self._key = key or secrets.token_bytes(32)  # per run: tokens die with the devstack
        self._ttl = ttl

    def issue(self, email: str, district_id: str | None, role: str = "district_admin") -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": email,
            "email": email,
            "custom:role": role,
            "iat": now,
            "exp": now + self._ttl,
        }
        if district_id:
            claims["custom:district_id"] = district_id
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> dict[str, Any] | None:
        """The token's claims, or None when it is missing, expired or not ours."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
            )
        except jwt.PyJWTError:
            return None
        return claims
