"""Liveness and the caller's own identity."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import reports
from sis_sync.api.models import Health, Me

from .common import PUBLIC, SECURED, Caller, context, responses

router = Router()


@router.get("/v1/health", tags=["meta"], security=PUBLIC, responses=responses())
def health() -> Health:
    return Health()


@router.get("/v1/me", tags=["meta"], security=SECURED, responses=responses())
def me(who: Caller) -> Me:
    return reports.me(context(), who)
