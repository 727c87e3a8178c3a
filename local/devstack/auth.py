"""Local ID tokens: the devstack's authorization server signs them like Cognito does (RS256, a key
published as a JWKS), and the local API Gateway verifies them like API Gateway's JWT authorizer
(signature through the JWKS, `iss`, `aud`, `exp`), handing the function the same claims (`email`,
`email_verified`, `custom:district_id`, `custom:role`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenIssuer:
    """Signs ID tokens for one app client with an RSA key made per run (tokens die with the devstack)."""

    def __init__(
        self, issuer: str, audience: str, ttl: timedelta = timedelta(hours=1), clock: Clock = utc_now
    ) -> None:
        self.issuer = issuer
        self.audience = audience  # the app client id: an ID token's `aud`
        self._ttl = ttl
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(8)

    def issue(
        self,
        email: str,
        district_id: str | None,
        role: str = "district_admin",
        *,
        email_verified: bool = True,
        kind: str = "id",  # the `token_use` claim: "id" or "access"
    ) -> str:
        now = self._clock()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": email,
            "email": email,
            "email_verified": email_verified,
            "custom:role": role,
            "token_use": kind,
            "auth_time": int(now.timestamp()),
            "iat": now,
            "exp": now + self._ttl,
        }
        if district_id:
            claims["custom:district_id"] = district_id
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def issue_claims(self, claims: Mapping[str, Any], audience: str, kind: str = "id") -> str:
        """An ID token with these user claims (a federated sign-in's, as the pre token generation
        trigger left them) for another app client of the same pool (`aud`)."""
        now = self._clock()
        registered = {
            "iss": self.issuer,
            "aud": audience,
            "token_use": kind,
            "auth_time": int(now.timestamp()),
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(
            dict(claims) | registered, self._key, algorithm="RS256", headers={"kid": self.key_id}
        )

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The public key as `/.well-known/jwks.json` publishes it."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {"keys": [public | {"kid": self.key_id, "alg": "RS256", "use": "sig"}]}


class TokenRejectedError(Exception):
    """The bearer token is not one the authorizer accepts; the message says why (no token content)."""


class JwtAuthorizer:
    """API Gateway's JWT authorizer: a token signed by a key of the issuer's JWKS, for one of these
    audiences (the template's: the dashboard's client and the Clever sign-in client), from this
    issuer, not expired."""

    def __init__(self, issuer: str, audience: str | Sequence[str], signing_key: Callable[[str], Any]) -> None:
        self.issuer = issuer
        self.audience = [audience] if isinstance(audience, str) else list(audience)
        self._signing_key = signing_key

    @classmethod
    def from_jwks_url(cls, issuer: str, audience: str | Sequence[str], jwks_url: str) -> JwtAuthorizer:
        keys = jwt.PyJWKClient(jwks_url, cache_keys=True)
        return cls(issuer, audience, lambda token: keys.get_signing_key_from_jwt(token).key)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._signing_key(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRejectedError("the sign-in token has expired: sign in again") from error
        except jwt.InvalidIssuerError as error:
            raise TokenRejectedError("the sign-in token was issued by another sign-in service") from error
        except jwt.InvalidAudienceError as error:
            raise TokenRejectedError("the sign-in token was issued for another application") from error
        except (jwt.PyJWKClientError, jwt.InvalidSignatureError) as error:
            raise TokenRejectedError("the sign-in token's signature is not valid") from error
        except jwt.PyJWTError as error:
            raise TokenRejectedError("the sign-in token is not valid") from error
        return claims
