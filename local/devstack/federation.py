"""Cognito's federation with Clever, played by the devstack's authorization server.

What the user pool does for `/oauth2/authorize?identity_provider=Clever` once Clever's sign-in comes
back to its `/oauth2/idpresponse`: trade the code at the provider's token URL (HTTP basic with the
provider's client id and secret), read the provider's `attributes_url` with the access token, map
the answers onto user pool attributes (the template's `AttributeMapping`), build the pre token
generation event (sis_sync.pre_token_event) and invoke the trigger function, then give the ID token
the claims the trigger returned. A trigger failure refuses the sign-in with Cognito's words.

The provider's settings are read back from the user pool the stack built in moto; Clever's public
hosts in them are pointed at the Clever simulator, as the devstack does for Clever's Data API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sis_sync.pre_token_event import CallerContext, PreTokenGenerationEvent, TokenRequest

CLEVER_HOSTS = ("https://clever.com", "https://api.clever.com")  # the template's provider URLs
TRIGGER_SOURCE = "TokenGeneration_HostedAuth"  # a sign-in through the Hosted UI (federated too)
USER_NAMESPACE = uuid.UUID("6f1c2f4e-56a1-4c47-9d0e-5a7a0b0c1e7e")  # a stable `sub` per provider user
HTTP_TIMEOUT_S = 10.0

if TYPE_CHECKING:
    from devstack.authorization_server import AppClient

Trigger = Callable[[dict[str, Any]], dict[str, Any]]
"""The pre token generation trigger: the event in, the event with its response out; raises
`TriggerFailedError` when the function failed (Cognito then issues nothing)."""


class TriggerFailedError(Exception):
    """The trigger function failed; `str()` is its error message."""


class FederationError(Exception):
    """The federated sign-in is refused: `error` and `description` go back to the app's callback."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class IdentityProvider:
    """A user pool's OIDC identity provider, as `DescribeIdentityProvider` answers."""

    name: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    attributes_url: str
    scopes: str
    attribute_mapping: Mapping[str, str]  # user pool attribute -> the provider's claim


class _ClaimsOverride(BaseModel):
    """`response.claimsOverrideDetails` of a version 1 answer (the template's `V1_0`)."""

    model_config = ConfigDict(populate_by_name=True)

    add_or_override: dict[str, str] = Field(default_factory=dict, alias="claimsToAddOrOverride")
    suppress: list[str] = Field(default_factory=list, alias="claimsToSuppress")


@dataclass(frozen=True)
class Federation:
    """One identity provider of the pool and the app client that signs in with it."""

    provider: IdentityProvider
    client: AppClient
    read_attributes: Collection[str]  # what the client's ID tokens carry of the user's attributes
    user_pool_id: str
    region: str
    trigger: Trigger
    http: Callable[[], httpx.Client] = lambda: httpx.Client(timeout=HTTP_TIMEOUT_S)

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where the browser signs in with the provider; it comes back to `redirect_uri`."""
        query = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.provider.scopes,
            "state": state,
        }
        return f"{self.provider.authorize_url}?{urlencode(query)}"

    def sign_in(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """The ID token's user claims for the provider's `code`, as the trigger left them."""
        userinfo = self._userinfo(code, redirect_uri)
        subject = str(userinfo.get("sub", ""))
        if not subject:
            raise FederationError("invalid_request", f"{self.provider.name} named no user")
        event = self._trigger_event(subject, userinfo)
        try:
            answer = self.trigger(event.model_dump(by_alias=True))
        except TriggerFailedError as failed:  # Cognito's own words around the function's message
            raise FederationError(
                "invalid_request", f"PreTokenGeneration failed with error {failed}."
            ) from failed
        details = PreTokenGenerationEvent.model_validate(answer).response.get("claimsOverrideDetails")
        override = _ClaimsOverride.model_validate(details or {})
        attributes = event.request.user_attributes
        claims: dict[str, Any] = {
            "sub": attributes["sub"],
            "cognito:username": event.user_name,
            "identities": json.loads(attributes["identities"]),
        }
        claims |= {name: attributes[name] for name in self.read_attributes if name in attributes}
        claims |= override.add_or_override
        return {name: value for name, value in claims.items() if name not in override.suppress}

    def _userinfo(self, code: str, redirect_uri: str) -> dict[str, Any]:
        provider = self.provider
        with self.http() as http:
            try:
                tokens = http.post(
                    provider.token_url,
                    data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                    auth=(provider.client_id, provider.client_secret),
                )
                if tokens.status_code != 200:
                    raise FederationError("invalid_request", f"{provider.name} refused the sign-in code")
                access_token = str(tokens.json().get("access_token", ""))
                answer = http.get(
                    provider.attributes_url, headers={"Authorization": f"Bearer {access_token}"}
                )
                if answer.status_code != 200:
                    raise FederationError("invalid_request", f"{provider.name} did not say who signed in")
                userinfo: dict[str, Any] = answer.json()
            except (httpx.HTTPError, ValueError) as error:
                raise FederationError("server_error", f"{provider.name} could not be reached") from error
        return userinfo

    def _trigger_event(self, subject: str, userinfo: Mapping[str, Any]) -> PreTokenGenerationEvent:
        """The event Cognito sends after a federated sign-in: the mapped attributes, and the
        `identities` attribute Cognito itself keeps for the user."""
        mapped = {
            attribute: _attribute_text(userinfo[claim])
            for attribute, claim in self.provider.attribute_mapping.items()
            if userinfo.get(claim) not in (None, "")
        }
        identity = {
            "userId": subject,
            "providerName": self.provider.name,
            "providerType": "OIDC",
            "issuer": None,
            "primary": "true",
            "dateCreated": "0",
        }
        attributes = {
            "email_verified": "false",  # not mapped: Cognito does not vouch for a provider's e-mail
            **mapped,
            "sub": str(uuid.uuid5(USER_NAMESPACE, f"{self.provider.name}/{subject}")),
            "cognito:user_status": "EXTERNAL_PROVIDER",
            "identities": json.dumps([identity]),
        }
        return PreTokenGenerationEvent(
            version="1",
            trigger_source=TRIGGER_SOURCE,
            region=self.region,
            user_pool_id=self.user_pool_id,
            user_name=f"{self.provider.name}_{subject}",
            caller_context=CallerContext(
                aws_sdk_version="aws-sdk-unknown-unknown", client_id=self.client.client_id
            ),
            request=TokenRequest(user_attributes=attributes),
            response={"claimsOverrideDetails": None},
        )


def _attribute_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def lambda_trigger(lambda_client: Any, function_name: str) -> Trigger:
    """The trigger as Cognito calls it: a synchronous Lambda invoke of the pool's function."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event))
        answer: dict[str, Any] = json.loads(response["Payload"].read())
        if "FunctionError" in response:
            raise TriggerFailedError(str(answer.get("errorMessage", "the function failed")))
        return answer

    return invoke


def provider_from_cognito(cognito: Any, user_pool_id: str, name: str, clever_url: str) -> IdentityProvider:
    """The pool's provider as the stack built it, Clever's hosts pointed at `clever_url`."""
    described = cognito.describe_identity_provider(UserPoolId=user_pool_id, ProviderName=name)
    provider = described["IdentityProvider"]
    details: dict[str, str] = provider["ProviderDetails"]

    def local(url: str) -> str:
        for host in CLEVER_HOSTS:
            if url.startswith(host + "/"):
                return clever_url.rstrip("/") + url.removeprefix(host)
        return url

    return IdentityProvider(
        name=name,
        client_id=details["client_id"],
        client_secret=details["client_secret"],
        authorize_url=local(details["authorize_url"]),
        token_url=local(details["token_url"]),
        attributes_url=local(details["attributes_url"]),
        scopes=details.get("authorize_scopes", "openid"),
        attribute_mapping=dict(provider.get("AttributeMapping", {})),
    )


def federation_from_cognito(cognito: Any, client_id: str, clever_url: str, trigger: Trigger) -> Federation:
    """The federated app client as the stack built it in moto, with the one provider it supports."""
    from devstack.authorization_server import client_from_cognito  # it imports this module

    client = client_from_cognito(cognito, client_id)
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        try:
            described = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=client_id)
        except cognito.exceptions.ResourceNotFoundException:
            continue
        settings = described["UserPoolClient"]
        [name] = settings["SupportedIdentityProviders"]  # the template gives it Clever only
        return Federation(
            provider=provider_from_cognito(cognito, pool["Id"], name, clever_url),
            client=client,
            read_attributes=tuple(settings.get("ReadAttributes", [])),
            user_pool_id=pool["Id"],
            region=cognito.meta.region_name,
            trigger=trigger,
        )
    raise LookupError(f"no user pool has the app client {client_id}")
