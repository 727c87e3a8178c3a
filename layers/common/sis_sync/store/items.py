"""Conversions between pydantic models and DynamoDB items (numbers as Decimal on the way in)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def to_item(model: BaseModel, **keys: str) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True), parse_float=Decimal)
    return item | keys


def plain(value: Any) -> Any:
    """DynamoDB hands back Decimal for every number; JSON and pydantic want int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def from_item(model: type[M], item: dict[str, Any]) -> M:
    return model.model_validate(plain(item))
