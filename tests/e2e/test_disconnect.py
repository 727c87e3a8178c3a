"""A revoked Clever token: the district is disconnected and its admins get one e-mail."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.outbox import sent_messages
from sis_sync import services
from sis_sync.model import Connection, SchoolStatus
from sis_sync.polling import status_of
from tests.e2e.flow import real_handlers, sync
from tests.onboarded import DISTRICT, TOKEN


@pytest.fixture
def flow(stack: Any) -> Any:
    with real_handlers(stack) as log:
        yield log


def test_a_revoked_token_disconnects_once_and_mails_once(stack: Any, flow: Any, simulator: Any) -> None:
    # Given a synced district whose token Clever then revokes
    sim, _ = simulator
    sync("s001")
    sim.faults.revoke_token(TOKEN)
    # When two polls fail
    sync("s002")
    sync("s003")
    assert flow.join(60), "the disconnection e-mail (an asynchronous invoke) is still being sent"
    # Then the district is disconnected, every school shows it, and one e-mail went out
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert {status_of(s, district) for s in services.state_table().schools(DISTRICT)} == {
        SchoolStatus.DISCONNECTED
    }
    mails = [m for m in sent_messages(stack.account_id, stack.region) if "admin@example.org" in m["to"]]
    assert len(mails) == 1
    assert "I fixed it" in mails[0]["text"]
