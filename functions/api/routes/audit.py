"""The district's audit log, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from sis_sync.api import audit_log
from sis_sync.api.models import AuditPage

from .common import SECURED, Caller, context, responses

router = Router()


@router.get("/v1/districts/<d>/audit", tags=["audit"], security=SECURED, responses=responses())
def audit(
    d: str,
    who: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=400, description="next_cursor of the previous page")
    ] = None,
) -> AuditPage:
    return audit_log.audit_page(context(), who, d, limit, cursor)
