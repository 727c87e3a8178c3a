"""A district: its connection, last sync and settings."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import reports, settings_update
from sis_sync.api.models import DistrictView, SettingsPatch

from .common import SECURED, Caller, context, responses

router = Router()


@router.get("/v1/districts/<d>", tags=["districts"], security=SECURED, responses=responses())
def get_district(d: str, who: Caller) -> DistrictView:
    return reports.district(context(), who, d)


@router.patch("/v1/districts/<d>/settings", tags=["districts"], security=SECURED, responses=responses())
def update_settings(d: str, patch: SettingsPatch, who: Caller) -> DistrictView:
    return settings_update.update_settings(context(), who, d, patch)
