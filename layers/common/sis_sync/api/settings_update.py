"""Changing a district's settings: a partial patch, validated as a whole before it is stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sis_sync.api import audit_log
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import ConflictError, InvalidRequestError
from sis_sync.api.identity import Identity
from sis_sync.api.models import DistrictView, SettingsPatch
from sis_sync.api.reports import district_view
from sis_sync.observability import logger
from sis_sync.settings import DistrictSettings

ATTEMPTS = 3


def update_settings(ctx: ApiContext, who: Identity, district_id: str, patch: SettingsPatch) -> DistrictView:
    """Only the settings are written, and only over the settings the patch was applied to: a
    change saved meanwhile (another admin) is read again and the patch re-applied on top."""
    for _ in range(ATTEMPTS):
        district = ctx.require_district(who, district_id)
        settings = _patched(ctx, district_id, district.settings, patch)
        if ctx.state.update_settings(district_id, settings, read_version=district.settings_version):
            break
        logger.info("settings saved meanwhile; applying the change again", district_id=district_id)
    else:
        raise ConflictError("the settings kept changing; try again")
    audit_log.record(
        ctx,
        who,
        district_id,
        "settings_updated",
        result="updated",
        detail={"changed": sorted(patch.model_dump(exclude_none=True))},
    )
    logger.info("settings updated", district_id=district_id)
    return district_view(district.model_copy(update={"settings": settings}))


def proposed_settings(
    ctx: ApiContext, district_id: str, current: DistrictSettings, patch: SettingsPatch
) -> DistrictSettings:
    """The settings saving `patch` would make, refused exactly as a save would refuse it (the
    threshold preview judges with these)."""
    return _patched(ctx, district_id, current, patch)


def _patched(
    ctx: ApiContext, district_id: str, current: DistrictSettings, patch: SettingsPatch
) -> DistrictSettings:
    data: dict[str, Any] = current.model_dump()
    if patch.thresholds is not None:
        data["thresholds"] |= patch.thresholds.model_dump(exclude_none=True)
    if patch.school_overrides is not None:
        known = {school.school_id for school in ctx.state.schools(district_id)}
        unknown = sorted(set(patch.school_overrides) - known)
        if unknown:
            raise InvalidRequestError(f"unknown schools in school_overrides: {', '.join(unknown[:5])}")
        for school_id, override in patch.school_overrides.items():
            if override is None:
                data["school_overrides"].pop(school_id, None)
            else:
                data["school_overrides"][school_id] = override.model_dump(exclude_none=True)
    for name in ("disconnect_after_failures", "sync_interval_minutes", "apply_safe_changes_automatically"):
        if (value := getattr(patch, name)) is not None:
            data[name] = value
    try:
        return DistrictSettings.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_input=False)
        )
        raise InvalidRequestError(f"invalid settings: {problems}") from error
