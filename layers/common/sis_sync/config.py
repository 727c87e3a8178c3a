"""The environment a function runs in, read once at cold start into a typed model."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict


class Environment(BaseModel):
    """Names of the resources the template wires into every function (see template.yaml Globals)."""

    model_config = ConfigDict(frozen=True)

    state_table: str = ""
    roster_table: str = ""
    idempotency_table: str = ""
    snapshot_bucket: str = ""
    clever_api_url: str = "https://api.clever.com"
    clever_oauth_url: str = "https://clever.com"  # the app's /oauth/tokens (not the Data API host)
    clever_app_secret_arn: str = ""  # {"client_id","client_secret"} of the Clever app
    token_parameter_prefix: str = "/sis-sync/clever-tokens/"  # noqa: S105 (a path, not a secret)
    link_key_secret_arn: str = ""
    sender_email: str = ""
    dashboard_url: str = ""
    evaluate_state_machine_arn: str = ""
    release_state_machine_arn: str = ""
    notify_function_name: str = ""
    poll_state_machine_arn: str = ""
    # where the dashboard signs in: the Hosted UI's OAuth 2.0 endpoints and the public app client
    auth_authorize_url: str = ""
    auth_token_url: str = ""
    auth_logout_url: str = ""
    auth_client_id: str = ""
    auth_clever_client_id: str = ""  # the Log in with Clever app client; empty: no Clever sign-in
    auth_scopes: str = "openid email profile"
    # a change CSV larger than this is served through a presigned URL (a Lambda response holds 6 MB)
    csv_inline_limit: int = 5 * 1024 * 1024

    @classmethod
    def from_os(cls) -> Environment:
        fields = cls.model_fields
        return cls.model_validate(
            {name: os.environ[name.upper()] for name in fields if os.environ.get(name.upper())}
        )


@cache
def environment() -> Environment:
    return Environment.from_os()
