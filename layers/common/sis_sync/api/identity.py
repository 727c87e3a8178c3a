"""Who is calling: the JWT authorizer's claims turned into an identity, and what it may reach."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from sis_sync.api.errors import NotAuthenticatedError, NotFoundError


class Role(StrEnum):
    DISTRICT_ADMIN = "district_admin"
    OPERATOR = "operator"


class Identity(BaseModel):
    """An authenticated caller: a district admin (one district) or an operator (every district)."""

    model_config = ConfigDict(frozen=True)

    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
    role: Role
    district_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _admin_has_district(self) -> Identity:
        if self.role is Role.DISTRICT_ADMIN and not self.district_id:
            raise ValueError("a district admin needs a district")
        return self

    def can_reach(self, district_id: str) -> bool:
        return self.role is Role.OPERATOR or self.district_id == district_id

    def require(self, district_id: str) -> None:
        """Another district's resources look exactly like missing ones (404, not 403)."""
        if not self.can_reach(district_id):
            raise NotFoundError(f"district {district_id} not found")


def identity_from_claims(claims: Mapping[str, Any] | None) -> Identity:
    """The identity in Cognito's ID-token claims (`email`, `email_verified`, `custom:role`,
    `custom:district_id`), or 401.

    Only a verified e-mail names the actor (it is what the audit log records). API Gateway hands
    the claims over as strings, so `email_verified` arrives as "true"."""
    if not claims:
        raise NotAuthenticatedError("sign in first")
    if str(claims.get("email_verified", "")).lower() != "true":
        raise NotAuthenticatedError("the sign-in token's e-mail address is not verified")
    try:
        return Identity(
            email=str(claims.get("email", "")),
            role=str(claims.get("custom:role", "")),  # type: ignore[arg-type]
            district_id=str(claims.get("custom:district_id", "")) or None,
        )
    except ValidationError as error:
        raise NotAuthenticatedError("the sign-in token does not identify an admin") from error
