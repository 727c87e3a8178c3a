"""Signed e-mail links: read one school's changes CSV or report without signing in (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from sis_sync.api import signed_links
from sis_sync.api.models import ErrorResponse, LinkedReport

from .common import PUBLIC, context, responses
from .schools import csv_response, wants_json

router = Router()


def _refusal(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {
            "application/json": {"model": ErrorResponse},
            "text/html": {"schema": {"type": "string"}},
        },
    }


@router.get(
    "/v1/links/<token>",
    tags=["links"],
    security=PUBLIC,
    responses=responses(
        s200={
            "description": (
                "The linked changes CSV (text/csv) or school report (JSON, without history); a report "
                "link answers 404 once its change set is no longer the pending one"
            ),
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"model": LinkedReport},
            },
        },
        s303={"description": "A very large CSV: download it from `Location`"},
        s401=_refusal("`link_expired`: the link is older than 72 hours"),
        s403=_refusal("`link_invalid`: the link was tampered with or cut short"),
        s404=_refusal("`not_found`: a report link's change set is no longer pending, or the school is gone"),
        s410=_refusal(
            "`change_set_not_pending`: the CSV link's change set was released or replaced "
            "(the hold is over): open the dashboard"
        ),
    ),
    description=(
        'A refusal is JSON `{"error"}`, except for a client that prefers `text/html` (a browser '
        "following the link from its e-mail): it gets a page saying why, with the same status."
    ),
)
def open_link(token: Annotated[str, Path(max_length=4096)]) -> Response[Any]:
    ctx = context()
    claims = signed_links.link_claims(ctx, token)
    if claims.purpose == "changes_csv":
        csv: Response[Any] = csv_response(
            signed_links.link_csv(ctx, claims),
            f"changes-{claims.school_id}.csv",
            wants_json(router.current_event),
        )
        return csv
    return Response(
        status_code=200,
        content_type="application/json",
        body=signed_links.link_report(ctx, claims),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
