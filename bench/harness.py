"""What the NYC benches (bench/nyc.py, bench/evaluate_map.py) share: the district onboarded as an
admin onboards it, a process's peak memory."""

from __future__ import annotations

import resource
from datetime import UTC, datetime
from pathlib import Path

from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.onboarding import onboard_district


def onboard(url: str, token: str, district_id: str, admin_email: str) -> None:
    """`district_id` onboarded against the Clever at `url` (its token stored; no poll yet), in the
    stack the environment names."""
    services.reset()
    with CleverClient(url, token) as client:
        onboard_district(
            services.state_table(),
            services.token_store(),
            client,
            district_id=district_id,
            token=token,
            admin_emails=[admin_email],
            now=datetime.now(UTC),
            source="bench",
        )


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Not getrusage's ru_maxrss: Linux carries that over
    fork and exec, so a child process would report its parent's RSS when it is the larger."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
