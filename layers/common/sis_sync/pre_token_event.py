"""Cognito's pre token generation trigger event, as the user pool sends it (field names are Cognito's).

Version "1" (`V1_0`, the template's choice) answers in `response.claimsOverrideDetails`; versions
"2" and "3" (`V2_0`/`V3_0`, Essentials/Plus plans) in `response.claimsAndScopeOverrideDetails`,
whose `idTokenGeneration` holds the same two lists. `Answer.into` writes whichever the event asks.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel


class _CognitoModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)


class CallerContext(_CognitoModel):
    aws_sdk_version: str = ""
    client_id: str = ""


class GroupConfiguration(_CognitoModel):
    groups_to_override: list[str] = Field(default_factory=list)
    iam_roles_to_override: list[str] = Field(default_factory=list)
    preferred_role: str | None = None


class LinkedIdentity(_CognitoModel):
    """One entry of the `identities` attribute Cognito keeps for a federated user."""

    user_id: str
    provider_name: str
    provider_type: str = ""


class TokenRequest(_CognitoModel):
    user_attributes: dict[str, str] = Field(default_factory=dict)
    group_configuration: GroupConfiguration = Field(default_factory=GroupConfiguration)
    client_metadata: dict[str, str] | None = None
    scopes: list[str] | None = None  # versions 2 and 3 only


class PreTokenGenerationEvent(_CognitoModel):
    version: str
    trigger_source: str
    region: str
    user_pool_id: str
    user_name: str
    caller_context: CallerContext = Field(default_factory=CallerContext)
    request: TokenRequest
    response: dict[str, Any] = Field(default_factory=dict)

    def identities(self) -> list[LinkedIdentity]:
        """The federated identities this user signed in with; none for a native (COGNITO) user.

        Cognito writes `identities` itself (a JSON list) and no app client can write it, unlike the
        user name's `<Provider>_` prefix, which a native user name could imitate. Malformed, it
        raises (`ValueError`): better no sign-in than a guess."""
        raw = self.request.user_attributes.get("identities")
        if not raw:
            return []
        try:
            return [LinkedIdentity.model_validate(entry) for entry in json.loads(raw)]
        except (TypeError, ValidationError) as error:
            raise ValueError("the identities attribute is not Cognito's list") from error


class Answer(BaseModel):
    """The ID-token claims to add or override, and those to suppress."""

    model_config = ConfigDict(frozen=True)

    add_or_override: dict[str, str] = Field(default_factory=dict)
    suppress: list[str] = Field(default_factory=list)

    def into(self, event: PreTokenGenerationEvent) -> dict[str, Any]:
        """The event Cognito expects back: the one it sent, with this answer as its response."""
        details = {"claimsToAddOrOverride": self.add_or_override, "claimsToSuppress": self.suppress}
        if event.version == "1":
            response: dict[str, Any] = {"claimsOverrideDetails": details}
        else:
            response = {"claimsAndScopeOverrideDetails": {"idTokenGeneration": details}}
        return event.model_dump(by_alias=True, exclude_none=True) | {"response": response}
