"""notify in moto, digest mode: one hold mail per sync, however many schools it held (issue 13)."""

from __future__ import annotations

import html
import re
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sis_sync.hold_digest import DIGEST_LISTED
from sis_sync.links import verify_link
from sis_sync.mail_content import HoldMailLinks, render_hold_mail
from sis_sync.model import (
    School,
    SchoolOutcome,
    SyncSchoolOutcome,
)
from sis_sync.rules import Hold, HoldReason
from sis_sync.store.state_table import BATCH_WORKERS, StateTable
from tests.conftest import AwsStack
from tests.iam_guard import acting_as
from tests.integration.test_notify import outbox, real_holds
from tests.notify_district import ADMINS, DASHBOARD, DISTRICT, T0, Handler, held_school

SYNC = "2026-11-02T08:00:00Z"
LATER = "2026-11-02T10:00:00Z"
DIGEST = {"kind": "holds", "district_id": DISTRICT, "sync_id": SYNC}
EMERGENCY = Hold(
    reason=HoldReason.EMERGENCY_CONTACTS,
    detail={"relationships": 1, "contacts": 1, "by_type": {"Emergency": 1}},
)


# ------------------------------------------------------------------ given


def held(
    state: StateTable,
    school_id: str,
    holds: list[Hold],
    *,
    sync_id: str = SYNC,
    notified: list[str] | None = None,
    removed: int = 20,
    safe_applied: dict[str, int] | None = None,
) -> School:
    """A school the sync held, as evaluate_holds leaves it: the school item and its HELD outcome."""
    school = held_school(
        school_id, sync_id, holds, notified=notified, removed=removed, safe_applied=safe_applied
    )
    state.put_school(school)
    outcome = SyncSchoolOutcome(
        district_id=DISTRICT, sync_id=SYNC, school_id=school_id, outcome=SchoolOutcome.HELD, settled=True
    )
    state.record_outcome(outcome, at=T0)
    return school


def link_key(aws: AwsStack) -> bytes:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=aws.secret_arns["LinkSigningKey"])
    key: bytes = secret["SecretString"].encode()
    return key


def csv_tokens(body: str) -> list[str]:
    return re.findall(rf'href="{re.escape(DASHBOARD)}/v1/links/([^"]+)"', body)


# ------------------------------------------------------------------ many schools, one mail


def test_a_sync_holding_300_schools_sends_one_mail_listing_them_all(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given one sync held 300 schools (removals everywhere, more at some, emergency contacts at a few)
    removals = real_holds(emergency=False)
    both = real_holds(emergency=True)
    for n in range(300):
        held(state, f"s{n:03d}", both if n % 50 == 7 else removals)

    # When the flow's NotifyHolds runs for the sync
    result = notify(DIGEST)

    # Then exactly one message went to the admins, naming every school with its links
    [message] = outbox(aws)
    assert result == {"sent": True, "message_id": message.id}
    assert message.destinations == {"ToAddresses": ADMINS}
    assert message.subject == (
        "Sync on hold for 300 schools of Springfield Unified: Large number of removals, "
        "Emergency contacts included"
    )
    body = html.unescape(message.body)
    assert all(f"School s{n:03d}" in body for n in range(300))
    assert "Large number of removals: 300 schools" in body
    assert "Emergency contacts included: 6 schools" in body
    assert f"{DASHBOARD}/#/districts/{DISTRICT}?status=on_hold" in body
    # under the 102 KB of HTML past which Gmail clips a message (SES allows 10 MB)
    assert len(message.body.encode()) < 102_000
    # and the first DIGEST_LISTED schools' CSV links are signed for that school and sync; the rest
    # are named, and the dashboard's on-hold list has them
    tokens = csv_tokens(message.body)
    assert len(tokens) == DIGEST_LISTED < 300
    key = link_key(aws)
    claims = [verify_link(key, token, datetime.now(UTC), purpose="changes_csv") for token in tokens]
    assert len({claim.school_id for claim in claims}) == DIGEST_LISTED
    assert {claim.sync_id for claim in claims} == {SYNC}
    listed = sorted(claim.school_id for claim in claims)
    for school_id in (listed[0], listed[-1]):
        assert f'href="{DASHBOARD}/#/districts/{DISTRICT}/schools/{school_id}"' in message.body
    # and every school records its reasons as notified (a later sync with the same hold mails nothing)
    schools = state.get_schools(DISTRICT, [f"s{n:03d}" for n in range(300)])
    assert {tuple(school.notified_reasons) for school in schools.values()} == {
        ("large_removals",),
        ("emergency_contacts", "large_removals"),
    }


def test_a_retried_notify_sends_nothing_more(aws: AwsStack, state: StateTable, notify: Handler) -> None:
    # Given a sync's digest sent
    for n in range(3):
        held(state, f"s{n}", real_holds(emergency=False))
    first = notify(DIGEST)

    # When Step Functions retries the task, and again once the idempotency record expired
    again = notify(DIGEST)
    table = boto3.resource("dynamodb").Table(aws.idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
    expired = notify(DIGEST)

    # Then one mail: the retry answers what the first call did, and the notified reasons stop the other
    assert len(outbox(aws)) == 1
    assert again == first
    assert expired == {"sent": False, "message_id": None}


def test_a_one_school_sync_sends_the_one_school_mail_as_before(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given one school held by the sync
    holds = real_holds(emergency=True)
    school = held(state, "s-1", holds)

    # When the flow's NotifyHolds runs
    notify(DIGEST)

    # Then the mail is exactly the one-school mail (its own links, the same subject and body)
    [message] = outbox(aws)
    [token] = csv_tokens(message.body)
    claims = verify_link(link_key(aws), token, datetime.now(UTC))
    links = HoldMailLinks(
        school_url=f"{DASHBOARD}/#/districts/{DISTRICT}/schools/s-1",
        csv_url=f"{DASHBOARD}/v1/links/{token}",
        district_url=f"{DASHBOARD}/#/districts/{DISTRICT}",
        expires_at=claims.expires_at,
    )
    district = state.get_district(DISTRICT)
    assert district is not None
    expected = render_hold_mail(district, school, SYNC, holds, links)
    assert message.subject == expected.subject
    assert message.subject.startswith("Sync on hold for School s-1: ")
    assert message.body == expected.html


def test_only_schools_newly_held_or_whose_reasons_grew_are_mailed(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given the sync held four schools: one new hold, one unchanged hold mailed before, one whose
    # reasons grew, and one a newer sync has moved on since; a fifth was applied
    removals = real_holds(emergency=False)
    held(state, "s-new", removals)
    held(state, "s-same", removals, notified=["large_removals"])
    held(state, "s-grew", real_holds(emergency=True), notified=["large_removals"])
    held(state, "s-moved", removals, sync_id=LATER)
    state.record_outcome(
        SyncSchoolOutcome(
            district_id=DISTRICT,
            sync_id=SYNC,
            school_id="s-clean",
            outcome=SchoolOutcome.APPLYING,
            settled=False,
        ),
        at=T0,
    )

    # When the flow's NotifyHolds runs
    notify(DIGEST)

    # Then one mail names the new and the grown hold only
    [message] = outbox(aws)
    assert message.subject.startswith("Sync on hold for 2 schools of Springfield Unified: ")
    assert "School s-new" in message.body
    assert "School s-grew" in message.body
    assert "School s-same" not in message.body
    assert "School s-moved" not in message.body
    assert sorted(
        verify_link(link_key(aws), t, datetime.now(UTC)).school_id for t in csv_tokens(message.body)
    ) == [
        "s-grew",
        "s-new",
    ]


def test_nothing_new_sends_nothing(aws: AwsStack, state: StateTable, notify: Handler) -> None:
    held(state, "s-same", real_holds(emergency=False), notified=["large_removals"])

    assert notify(DIGEST) == {"sent": False, "message_id": None}
    assert outbox(aws) == []


def test_the_digest_says_what_apply_safe_applied_and_what_waits(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given a district applying safe changes automatically: the flow applied the safe part of two holds
    held(state, "s-1", real_holds(emergency=False), safe_applied={"added": 4, "updated": 3, "removed": 0})
    held(state, "s-2", [EMERGENCY], safe_applied={"added": 2, "updated": 0, "removed": 0})

    notify(DIGEST)

    # Then the digest says so, in total and per school
    [message] = outbox(aws)
    body = " ".join(html.unescape(message.body).split())
    assert "At 2 of them the changes that trip no hold rule were applied already (6 added, 3 updated)" in body
    assert "Applied already (trips no hold rule): 4 added, 3 updated." in body
    assert "Applied already (trips no hold rule): 2 added, 0 updated." in body


def test_a_digest_for_a_district_without_admins_records_the_holds_as_told(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    state.update_district(DISTRICT, admin_emails=[])
    held(state, "s-1", real_holds(emergency=False))
    held(state, "s-2", [EMERGENCY])

    assert notify(DIGEST) == {"sent": False, "message_id": None}
    assert outbox(aws) == []
    schools = state.get_schools(DISTRICT, ["s-1", "s-2"])
    assert [schools[s].notified_reasons for s in ("s-1", "s-2")] == [
        ["large_removals"],
        ["emergency_contacts"],
    ]


def test_the_schools_notified_reasons_are_written_several_at_once(
    aws: AwsStack, state: StateTable, notify: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sync that held twice BATCH_WORKERS schools
    ids = [f"s{n:02d}" for n in range(2 * BATCH_WORKERS)]
    for school_id in ids:
        held(state, school_id, real_holds(emergency=False))
    # and each school's conditional write held back until BATCH_WORKERS of them are in flight
    # (written one after another, the first would wait alone until the barrier breaks)
    in_flight = threading.Barrier(BATCH_WORKERS, timeout=10)
    record = StateTable.record_notified
    written: list[str] = []

    def together(self: StateTable, school: School, sync_id: str, reasons: Any) -> bool:
        in_flight.wait()
        written.append(school.school_id)
        return record(self, school, sync_id, reasons)

    monkeypatch.setattr(StateTable, "record_notified", together)

    # When the flow's NotifyHolds runs
    result = notify(DIGEST)

    # Then the mail went, and every school's reasons were written, one write each, BATCH_WORKERS at once
    assert result["sent"] is True
    assert sorted(written) == ids
    schools = state.get_schools(DISTRICT, ids)
    assert {s: schools[s].notified_reasons for s in ids} == {s: ["large_removals"] for s in ids}


def test_a_school_whose_notified_reasons_fail_to_be_written_does_not_stop_the_others(
    aws: AwsStack, state: StateTable, notify: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given four held schools; once the mail is out, DynamoDB refuses the second one's write and
    # a newer sync's evaluation holds the third one (its conditional write finds it moved on)
    ids = ["s-1", "s-2", "s-3", "s-4"]
    for school_id in ids:
        held(state, school_id, real_holds(emergency=False))
    record = StateTable.record_notified

    def meanwhile(self: StateTable, school: School, sync_id: str, reasons: Any) -> bool:
        if school.school_id == "s-2":
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
        if school.school_id == "s-3" and school.pending:
            newer = school.pending.model_copy(update={"sync_id": LATER})
            with acting_as("EvaluateHoldsFunction"):
                state.put_school(school.model_copy(update={"pending": newer}))
        return record(self, school, sync_id, reasons)

    monkeypatch.setattr(StateTable, "record_notified", meanwhile)

    # When the flow's NotifyHolds runs
    result = notify(DIGEST)

    # Then the mail is out and reported sent (a failed invocation would be retried and mail again),
    # and the others' reasons are recorded
    assert result["sent"] is True
    assert len(outbox(aws)) == 1
    schools = state.get_schools(DISTRICT, ids)
    assert [schools[s].notified_reasons for s in ids] == [["large_removals"], [], [], ["large_removals"]]
