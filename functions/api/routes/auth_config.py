"""Where to sign in: public, asked by the dashboard before it has a token."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import sign_in
from sis_sync.api.models import AuthConfig
from sis_sync.config import environment

from .common import PUBLIC, responses

router = Router()


@router.get("/v1/auth-config", tags=["meta"], security=PUBLIC, responses=responses())
def auth_config() -> AuthConfig:
    return sign_in.auth_config(environment())
