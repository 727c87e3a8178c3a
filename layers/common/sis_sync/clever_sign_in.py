"""Log in with Clever: which tenant claims a Clever sign-in earns (the pre token generation trigger).

Cognito federates Clever's OIDC; before it issues the ID token it asks `tenant_claims`. Only a
Clever `district_admin` of an onboarded district gets `custom:role=district_admin` and
`custom:district_id`, and only once the district's own token confirms it: the trigger reads the
user with that district's token (`GET /v3.0/users/{id}`), so neither a claim Clever put in the
sign-in nor anything the user could change decides the role.

The e-mail the API trusts (the audit log's actor) is that same district record's e-mail, written
over the ID token's `email` with `email_verified` "true". Clever marks its e-mails unverified, and
the user pool's mapped `email` is whatever Clever's sign-in said; the district's roster record,
read with the district's token, is what the district itself vouches for (the same source the
district's hold e-mails go to).

Anyone else is refused (`CleverSignInRefused`): the trigger fails, Cognito issues no token and the
dashboard shows the message. A native Cognito user (created by an operator) is left untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sis_sync.clever.client import CleverClient, RetryPolicy
from sis_sync.clever.errors import CleverAuthError, CleverError, CleverRequestError
from sis_sync.model import District
from sis_sync.observability import logger
from sis_sync.polling import parked
from sis_sync.pre_token_event import Answer, PreTokenGenerationEvent
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import MissingTokenError, TokenStore

CLEVER_PROVIDER: Final = "Clever"  # the UserPoolIdentityProvider's ProviderName
DISTRICT_ATTRIBUTE: Final = "custom:clever_district"  # mapped from Clever's `district` claim
DISTRICT_ADMIN: Final = "district_admin"

# Cognito waits 5 s for the trigger: one quick retry, short timeouts.
SIGN_IN_RETRY: Final = RetryPolicy(
    max_attempts=2, max_elapsed_s=3.0, base_delay_s=0.2, max_delay_s=0.5, max_rate_limit_wait_s=0.5
)
SIGN_IN_TIMEOUT_S: Final = 1.5


class CleverSignInRefused(Exception):  # noqa: N818 - the name is the contract
    """The sign-in earns nothing; `str()` is what the user sees (no PII, no token)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CleverSignIn:
    state: StateTable
    tokens: TokenStore
    clever: Callable[[str], CleverClient]  # a district token -> a client with SIGN_IN_RETRY


def tenant_claims(sign_in: CleverSignIn, event: PreTokenGenerationEvent) -> dict[str, Any] | None:
    """The event to hand back to Cognito with the claims a Clever district admin earns; None for a
    native user (hand the event back unchanged). Raises `CleverSignInRefused` for anyone else."""
    clever = next((i for i in event.identities() if i.provider_name == CLEVER_PROVIDER), None)
    if clever is None:
        if event.identities():
            raise CleverSignInRefused(
                "unknown_provider", "This sign-in provider grants no access to sis-sync."
            )
        return None
    clever_district_id = event.request.user_attributes.get(DISTRICT_ATTRIBUTE, "")
    if not clever_district_id:
        raise CleverSignInRefused("no_district", "Clever did not say which district your account belongs to.")
    district = sign_in.state.district_by_clever_id(clever_district_id)
    if district is None or parked(district):
        logger.warning(
            "Clever sign-in refused", code="district_not_onboarded", clever_district_id=clever_district_id
        )
        raise CleverSignInRefused("district_not_onboarded", "Your Clever district does not use sis-sync.")
    email = _confirmed_admin_email(sign_in, district, clever.user_id)
    logger.info("Clever district admin signed in", district_id=district.district_id)
    return Answer(
        add_or_override={
            "custom:role": DISTRICT_ADMIN,
            "custom:district_id": district.district_id,
            "email": email,
            "email_verified": "true",
        }
    ).into(event)


def _confirmed_admin_email(sign_in: CleverSignIn, district: District, clever_user_id: str) -> str:
    """The user's e-mail on the district's own Clever record, if that record is a district admin's."""
    district_id = district.district_id
    try:
        token = sign_in.tokens.get(district_id)
    except MissingTokenError:
        token = ""
    if not token:
        logger.warning("Clever sign-in refused", code="no_district_token", district_id=district_id)
        raise CleverSignInRefused(
            "district_not_connected", "Your district no longer shares its Clever data with sis-sync."
        )
    try:
        with sign_in.clever(token) as client:
            user = client.user(clever_user_id)
    except CleverAuthError as error:
        logger.warning("Clever sign-in refused", code="district_token_refused", district_id=district_id)
        raise CleverSignInRefused(
            "district_not_connected", "Your district no longer shares its Clever data with sis-sync."
        ) from error
    except CleverRequestError as error:
        if error.status != 404:
            raise _unconfirmed(district_id, error) from error
        logger.warning("Clever sign-in refused", code="not_in_district", district_id=district_id)
        raise CleverSignInRefused(
            "not_district_admin", "Clever sign-in is for district administrators of your district."
        ) from error
    except (CleverError, ValueError) as error:
        raise _unconfirmed(district_id, error) from error
    if user.roles.district_admin is None or (user.district and user.district != district.clever_district_id):
        logger.warning("Clever sign-in refused", code="not_district_admin", district_id=district_id)
        raise CleverSignInRefused(
            "not_district_admin", "Clever sign-in is for district administrators of your district."
        )
    email = user.email.strip().lower()
    if "@" not in email:
        logger.warning("Clever sign-in refused", code="no_email", district_id=district_id)
        raise CleverSignInRefused("no_email", "Your district's Clever record has no e-mail address for you.")
    return email


def _unconfirmed(district_id: str, error: Exception) -> CleverSignInRefused:
    logger.warning(
        "Clever sign-in refused",
        code="clever_unavailable",
        district_id=district_id,
        error=type(error).__name__,
    )
    return CleverSignInRefused(
        "clever_unavailable",
        "sis-sync could not confirm your role with Clever just now. Try again in a minute.",
    )
