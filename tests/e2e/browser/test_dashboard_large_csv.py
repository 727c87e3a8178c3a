"""Download CSV of changes for a change set too large to return inline: the API answers the
dashboard's fetch with a short-lived download URL (JSON) and the dashboard downloads from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.conftest import RunningDevstack
from tests.e2e.browser.dashboard import HEADER, hold

pytestmark = pytest.mark.browser


@pytest.fixture
def devstack_env() -> dict[str, str]:
    return {"CSV_INLINE_LIMIT": "100"}  # every change CSV counts as "very large"


def test_a_large_csv_of_changes_downloads_from_its_url(page: Any, devstack: RunningDevstack) -> None:
    # Given a school on hold whose change CSV is over the inline limit
    held = hold(page, devstack, "semester_end")
    held.first.get_by_role("link").first.click()
    page.get_by_test_id("report-status").wait_for()
    # When the admin clicks Download CSV of changes
    with page.expect_download() as download:
        page.get_by_test_id("download-csv").click()
    # Then the CSV downloads (from the presigned URL) and no error shows
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv_text.splitlines()[0] == HEADER
    assert "large_removals" in csv_text
    assert download.value.suggested_filename.endswith(".csv")
    assert page.get_by_test_id("alert").inner_text().strip() == ""
