"""Threshold preview: what proposed settings would have held, before they are saved."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from sis_sync.api import settings_preview
from sis_sync.api.models import SettingsPatch, SettingsPreview

from .common import SECURED, Caller, context, responses

router = Router()


@router.post(
    "/v1/districts/<d>/settings/preview",
    tags=["districts"],
    security=SECURED,
    responses=responses(description="Every school's verdicts; nothing is saved"),
    description=(
        "Takes the body `PATCH …/settings` takes, validated the same way (422 naming the field), and "
        "saves nothing. For each school, its pending change set and its last three applied ones are "
        "judged by the hold rules under the thresholds in force (`current`) and under the proposed "
        "ones (`proposed`); `happened` says what became of each. The summary counts the schools that "
        "would have been held that were not (`newly_held`) and the reverse (`no_longer_held`)."
    ),
)
def preview_settings(d: str, patch: SettingsPatch, who: Caller) -> SettingsPreview:
    return settings_preview.preview_settings(context(), who, d, patch)
