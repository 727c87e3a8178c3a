"""Match schools: Clever schools shared with us that no school is matched to, and matching them."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import school_matching
from sis_sync.api.models import CleverSchoolList, MatchRequest, MatchResponse

from .common import SECURED, Caller, context, responses

router = Router()


@router.get("/v1/districts/<d>/clever-schools", tags=["match"], security=SECURED, responses=responses())
def clever_schools(d: str, who: Caller) -> CleverSchoolList:
    return school_matching.clever_schools(context(), who, d)


@router.post("/v1/districts/<d>/schools/match", tags=["match"], security=SECURED, responses=responses())
def match_schools(d: str, request: MatchRequest, who: Caller) -> MatchResponse:
    return school_matching.match(context(), who, d, request)
