"""The devstack's own settings (DESIGN §5), read once from the environment."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class DevstackSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    port: int = Field(default=8000, ge=0, le=65535)
    clever_api_url: str = ""  # empty: start the Clever simulator
    clever_district_token: str = ""
    sync_interval_seconds: float = Field(default=0, ge=0)  # 0 = only on demand (/dev/tick)
    district_admin_email: str = "admin@example.org"
    students: int = Field(default=1200, ge=10)
    schools: int = Field(default=3, ge=1)
    seed: int = 7

    @classmethod
    def from_environment(cls) -> DevstackSettings:
        names = {
            "port": "PORT",
            "clever_api_url": "CLEVER_API_URL",
            "clever_district_token": "CLEVER_DISTRICT_TOKEN",
            "sync_interval_seconds": "SYNC_INTERVAL_SECONDS",
            "district_admin_email": "DISTRICT_ADMIN_EMAIL",
            "students": "DEMO_STUDENTS",
            "schools": "DEMO_SCHOOLS",
        }
        return cls.model_validate(
            {field: os.environ[env] for field, env in names.items() if os.environ.get(env)}
        )
