"""A district's schools: the list, a school's SIS sync report, its changes CSV and roster counts."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from sis_sync.api.adapters import StoredCsv
from sis_sync.api.models import RosterView, SchoolList, SchoolReport
from sis_sync.changes_csv import CONTENT_TYPE as CSV_CONTENT_TYPE
from sis_sync.model import SchoolStatus

from .common import SECURED, Caller, actions, responses

router = Router()

CSV_RESPONSE = responses(
    description="The pending change set as CSV (or 303 to a short-lived download URL when very large)",
    s200={
        "description": "The pending change set",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    s303={"description": "Too large to return inline: download it from `Location`"},
)


def csv_response(stored: StoredCsv, filename: str) -> Response[str]:
    """The stored CSV as is (its cells were neutralised when it was written)."""
    if stored.url is not None:
        return Response(status_code=303, headers={"Location": stored.url}, body="")
    return Response(
        status_code=200,
        content_type=CSV_CONTENT_TYPE,
        body=(stored.body or b"").decode("utf-8"),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/v1/districts/<d>/schools", tags=["schools"], security=SECURED, responses=responses())
def list_schools(
    d: str, who: Caller, status: Annotated[SchoolStatus | None, Query(description="only this status")] = None
) -> SchoolList:
    return actions().schools(who, d, status)


@router.get("/v1/districts/<d>/schools/<s>", tags=["schools"], security=SECURED, responses=responses())
def school_report(d: str, s: str, who: Caller) -> SchoolReport:
    return actions().school_report(who, d, s)


@router.get(
    "/v1/districts/<d>/schools/<s>/changes.csv", tags=["schools"], security=SECURED, responses=CSV_RESPONSE
)
def changes_csv(d: str, s: str, who: Caller) -> Response[str]:
    return csv_response(actions().changes_csv(who, d, s), f"changes-{s}.csv")


@router.get("/v1/districts/<d>/schools/<s>/roster", tags=["schools"], security=SECURED, responses=responses())
def roster(d: str, s: str, who: Caller) -> RosterView:
    return actions().roster_counts(who, d, s)
