"""Where the dashboard signs in (`GET /v1/auth-config`) and the dashboard's Content-Security-Policy,
which must let the page post to that token endpoint."""

from __future__ import annotations

from urllib.parse import urlsplit

from sis_sync.api.errors import NotFoundError
from sis_sync.api.models import AuthConfig
from sis_sync.config import Environment

# The dashboard loads only its own files (no inline script or style) and is never framed.
DASHBOARD_POLICY = "default-src 'self'; frame-ancestors 'none'"


def auth_config(env: Environment) -> AuthConfig:
    """The sign-in endpoints the template wired into the function's environment."""
    urls = (env.auth_authorize_url, env.auth_token_url, env.auth_logout_url)
    if not all(urls) or not env.auth_client_id:
        raise NotFoundError("sign-in is not configured for this deployment")
    return AuthConfig(
        authorize_url=env.auth_authorize_url,
        token_url=env.auth_token_url,
        logout_url=env.auth_logout_url,
        client_id=env.auth_client_id,
        scopes=env.auth_scopes.split(),
        clever_client_id=env.auth_clever_client_id or None,
    )


def dashboard_policy(env: Environment) -> str:
    """The dashboard's CSP: its own origin, plus the token endpoint's for the code exchange (the
    authorize and logout endpoints are navigations, which `connect-src` does not govern)."""
    parts = urlsplit(env.auth_token_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return DASHBOARD_POLICY
    return f"{DASHBOARD_POLICY}; connect-src 'self' {parts.scheme}://{parts.netloc}"
