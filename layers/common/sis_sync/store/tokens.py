"""Clever district tokens, kept as SSM SecureString parameters (never in environment variables)."""

from __future__ import annotations

from typing import Any


class MissingTokenError(LookupError):
    pass


class TokenStore:
    def __init__(self, ssm: Any, prefix: str) -> None:
        """`ssm` is a boto3 SSM client; `prefix` the parameter path, e.g. /sis-sync/prod/clever-tokens/."""
        self._ssm = ssm
        self._prefix = prefix if prefix.endswith("/") else prefix + "/"

    def _name(self, district_id: str) -> str:
        return f"{self._prefix}{district_id}"

    def get(self, district_id: str) -> str:
        try:
            response = self._ssm.get_parameter(Name=self._name(district_id), WithDecryption=True)
        except self._ssm.exceptions.ParameterNotFound as error:
            raise MissingTokenError(district_id) from error
        value: str = response["Parameter"]["Value"]
        return value

    def put(self, district_id: str, token: str) -> None:
        self._ssm.put_parameter(
            Name=self._name(district_id), Value=token, Type="SecureString", Overwrite=True
        )

    def delete(self, district_id: str) -> bool:
        """Forget a district's token (offboarding); False when there was none."""
        try:
            self._ssm.delete_parameter(Name=self._name(district_id))
        except self._ssm.exceptions.ParameterNotFound:
            return False
        return True
