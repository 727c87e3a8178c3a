"""A process's environment for moto: what the machine's own AWS and Powertools settings would change
(a real endpoint, profile or region; tracing, metrics) removed, moto's fake credentials in."""

from __future__ import annotations

import os
from typing import Final

REGION: Final = "us-east-1"


def use_fake_aws(credentials: str, log_level: str, **extra: str) -> None:
    """This process's AWS_ and POWERTOOLS_ settings replaced: `credentials` as moto's fake key pair,
    no tracing or metrics, Powertools logging at `log_level`; `extra` besides."""
    for name in [n for n in os.environ if n.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID=credentials,
        AWS_SECRET_ACCESS_KEY=credentials,
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL=log_level,
        **extra,
    )
