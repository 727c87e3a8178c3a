"""District settings: hold thresholds with per-school overrides, and connection tolerance."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Count = Annotated[int, Field(ge=1, le=1_000_000)]


class HoldThresholds(BaseModel):
    """The numbers that decide whether a school's change set is held (DESIGN §1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    removal_min_count: Count = 10
    removal_pct: Annotated[float, Field(gt=0, le=100)] = 10.0
    removal_max_count: Count = 500
    max_guardians: Annotated[int, Field(ge=2, le=100)] = 6
    blocked_contact_types: tuple[str, ...] = ("Emergency", "Secondary")

    @field_validator("blocked_contact_types")
    @classmethod
    def _distinct_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(t.strip() for t in value if t.strip()))
        return cleaned

    @model_validator(mode="after")
    def _cap_above_floor(self) -> HoldThresholds:
        if self.removal_max_count < self.removal_min_count:
            raise ValueError("removal_max_count must be at least removal_min_count")
        return self

    def blocks(self, contact_type: str) -> bool:
        return contact_type.casefold() in {t.casefold() for t in self.blocked_contact_types}


class ThresholdOverride(BaseModel):
    """A school's exceptions to the district thresholds; unset fields inherit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    removal_min_count: Count | None = None
    removal_pct: Annotated[float, Field(gt=0, le=100)] | None = None
    removal_max_count: Count | None = None
    max_guardians: Annotated[int, Field(ge=2, le=100)] | None = None
    blocked_contact_types: tuple[str, ...] | None = None


class DistrictSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: HoldThresholds = HoldThresholds()
    school_overrides: dict[str, ThresholdOverride] = Field(default_factory=dict)
    disconnect_after_failures: Annotated[int, Field(ge=1, le=50)] = 3
    sync_interval_minutes: Annotated[int, Field(ge=5, le=7 * 24 * 60)] = 120
    # apply the part of every held change set that trips no rule at once (DESIGN §7); off = the
    # article's all-or-nothing hold
    apply_safe_changes_automatically: bool = False

    def thresholds_for(self, school_id: str) -> HoldThresholds:
        override = self.school_overrides.get(school_id)
        if override is None:
            return self.thresholds
        merged = self.thresholds.model_dump() | override.model_dump(exclude_none=True)
        return HoldThresholds.model_validate(merged)
