"""The Clever app's client id and secret, kept in one Secrets Manager secret the template creates.

The template creates the secret with empty values; the operator fills it once after deploying
(`aws secretsmanager put-secret-value --secret-id <CleverAppSecretArn> --secret-string
'{"client_id":"…","client_secret":"…"}'`). Until then there are no credentials, which is not an error.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError


class AppCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")

    @property
    def complete(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())


class AppCredentialsStore:
    def __init__(self, secretsmanager: Any, secret_id: str) -> None:
        """`secretsmanager` is a boto3 Secrets Manager client; `secret_id` the secret's ARN or name."""
        self._secretsmanager = secretsmanager
        self._secret_id = secret_id

    def get(self) -> AppCredentials | None:
        """The credentials, or None while the secret is missing, empty or not the expected JSON."""
        if not self._secret_id:
            return None
        try:
            response = self._secretsmanager.get_secret_value(SecretId=self._secret_id)
        except self._secretsmanager.exceptions.ResourceNotFoundException:
            return None
        try:
            credentials = AppCredentials.model_validate_json(response.get("SecretString") or "{}")
        except ValidationError:
            return None
        return credentials if credentials.complete else None

    def put(self, credentials: AppCredentials) -> None:
        """Fill the secret (the devstack does this for its simulator; an operator uses the CLI)."""
        value = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
        }
        self._secretsmanager.put_secret_value(SecretId=self._secret_id, SecretString=json.dumps(value))
