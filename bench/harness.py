"""What the NYC benches (bench/nyc.py, bench/evaluate_map.py) share: the district onboarded as an
admin onboards it, a process's peak memory."""

from __future__ import annotations

import resource
from datetime import UTC, datetime
from pathlib import Path

from devstack.token_onboarding import onboard_with_token


def onboard(url: str, token: str, district_id: str, admin_email: str) -> None:
    """`district_id` onboarded against the Clever at `url` now, audited as the bench's (its token
    stored; no poll yet), in the stack the environment names."""
    onboard_with_token(
        url, token, district_id=district_id, admin_email=admin_email, now=datetime.now(UTC), source="bench"
    )


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries that over
    fork and exec, so a child process would report its parent's RSS when it is the larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
