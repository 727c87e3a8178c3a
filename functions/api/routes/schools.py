"""A district's schools: the list, a school's SIS sync report, its changes CSV and roster counts."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from sis_sync.api import reports
from sis_sync.api.adapters import StoredCsv
from sis_sync.api.models import (
    SCHOOL_PAGE_DEFAULT,
    SCHOOL_PAGE_MAX,
    CsvDownload,
    RosterView,
    SchoolList,
    SchoolReport,
    SchoolSort,
)
from sis_sync.changes_csv import CONTENT_TYPE as CSV_CONTENT_TYPE
from sis_sync.model import SchoolStatus

from .common import SECURED, Caller, context, responses

router = Router()

CSV_RESPONSE = responses(
    description="The pending change set as CSV; when very large, a short-lived download URL instead",
    s200={
        "description": (
            "The pending change set (text/csv). When it is too large to return inline and the request "
            'accepts `application/json`: `{"url", "expires_in"}`, a presigned download URL'
        ),
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"model": CsvDownload},
        },
    },
    s303={"description": "Too large to return inline (and JSON not accepted): download it from `Location`"},
)


def wants_json(event: BaseProxyEvent) -> bool:
    """Whether the client accepts JSON (the dashboard's fetch: it cannot follow a 303 to S3)."""
    accept = (event.headers or {}).get("accept") or ""
    return any(part.split(";")[0].strip().lower() == "application/json" for part in accept.split(","))


def csv_response(stored: StoredCsv, filename: str, as_json: bool = False) -> Response[Any]:
    """The stored CSV as is (its cells were neutralised when it was written); a very large one as
    its presigned URL: JSON `{"url", "expires_in"}` for a client that accepts JSON, else a 303."""
    if stored.url is not None:
        if as_json:
            return Response(
                status_code=200,
                content_type="application/json",
                body=CsvDownload(url=stored.url, expires_in=stored.expires_in).model_dump_json(),
                headers={"Cache-Control": "no-store"},
            )
        return Response(
            status_code=303, headers={"Location": stored.url, "Cache-Control": "no-store"}, body=""
        )
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
    d: str,
    who: Caller,
    status: Annotated[SchoolStatus | None, Query(description="only this status")] = None,
    sort: Annotated[
        SchoolSort, Query(description="`status`: on hold first; `-` before a field sorts descending")
    ] = SchoolSort.STATUS,
    limit: Annotated[int, Query(ge=1, le=SCHOOL_PAGE_MAX)] = SCHOOL_PAGE_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(max_length=1024, description="next_cursor of the previous page (same sort and status)"),
    ] = None,
) -> SchoolList:
    return reports.schools(context(), who, d, status, sort=sort, limit=limit, cursor=cursor)


@router.get("/v1/districts/<d>/schools/<s>", tags=["schools"], security=SECURED, responses=responses())
def school_report(d: str, s: str, who: Caller) -> SchoolReport:
    return reports.school_report(context(), who, d, s)


@router.get(
    "/v1/districts/<d>/schools/<s>/changes.csv", tags=["schools"], security=SECURED, responses=CSV_RESPONSE
)
def changes_csv(d: str, s: str, who: Caller) -> Response[Any]:
    return csv_response(
        reports.changes_csv(context(), who, d, s), f"changes-{s}.csv", wants_json(router.current_event)
    )


@router.get("/v1/districts/<d>/schools/<s>/roster", tags=["schools"], security=SECURED, responses=responses())
def roster(d: str, s: str, who: Caller) -> RosterView:
    return reports.roster_counts(context(), who, d, s)
