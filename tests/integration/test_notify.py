"""notify in moto: hold and disconnection mails through SES v2, once per (school, sync, reasons)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.ses.models import ses_backends

from sis_sync import services
from sis_sync.links import ExpiredLinkError, verify_link
from sis_sync.model import (
    Connection,
    ErrorInfo,
    School,
)
from sis_sync.notifications import NotificationConfigError
from sis_sync.rules import Hold, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.store.state_table import StateTable
from tests import notify_district
from tests.conftest import AwsStack
from tests.notify_district import ADMINS, DASHBOARD, DISTRICT, T0, Handler
from tests.unit.test_changes import contact, roster, student

SCHOOL = "s-1"
SYNC_1 = "2026-11-02T08:00:00Z"
SYNC_2 = "2026-11-02T10:00:00Z"


# ------------------------------------------------------------------ given


def kids(count: int) -> list[Any]:
    return [student(f"st{n:03d}", f"sis-{n}", first_name=f"Kid{n}") for n in range(count)]


def real_holds(*, emergency: bool) -> list[Hold]:
    """What the rules produce for 20 of 100 students removed (and, if asked, new emergency contacts)."""
    helpers = [
        contact(f"e{n}", name=f"Helper {n}", relationships=[{"student": "st050", "type": "Emergency"}])
        for n in range(2)
    ]
    current = roster(student=kids(100)[20:], contact=helpers if emergency else [])
    return list(evaluate(roster(student=kids(100)), current, HoldThresholds()).holds)


def held_school(sync_id: str, holds: list[Hold], notified: list[str] | None = None) -> School:
    """Pinecrest, held at `sync_id` for `holds`."""
    return notify_district.held_school(
        SCHOOL, sync_id, holds, name="Pinecrest Middle School", notified=notified
    )


def hold_event(sync_id: str, holds: list[Hold], notify: bool = True) -> dict[str, Any]:
    return {
        "district_id": DISTRICT,
        "sync_id": sync_id,
        "school_id": SCHOOL,
        "decision": "hold",
        "notify": notify,
        "reasons": sorted(hold.reason.value for hold in holds),
        "superseded": False,
    }


def outbox(aws: AwsStack) -> list[Any]:
    """Mail SES v2 accepted (moto keeps it in the SES v1 backend, with the HTML part as the body)."""
    messages: list[Any] = ses_backends[aws.account_id][aws.region].sent_messages
    return messages


def csv_token(html: str) -> str:
    match = re.search(rf'href="{re.escape(DASHBOARD)}/v1/links/([^"]+)"', html)
    assert match, "no signed CSV link in the mail"
    return match.group(1)


# ------------------------------------------------------------------ hold mails


def test_a_hold_is_mailed_to_the_district_admins_with_reasons_and_links(
    aws: AwsStack, state: StateTable, notify: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a school held for removals and emergency contacts
    holds = real_holds(emergency=True)
    state.put_school(held_school(SYNC_1, holds))

    # When notify runs for the evaluation that held it
    result = notify(hold_event(SYNC_1, holds))

    # Then one mail went to every admin of the district, from the verified sender
    [message] = outbox(aws)
    assert result == {"sent": True, "message_id": message.id}
    assert message.source == aws.sender_email
    assert message.destinations == {"ToAddresses": ADMINS}
    assert message.subject == (
        "Sync on hold for Pinecrest Middle School: Large number of removals, Emergency contacts included"
    )
    html = message.body
    assert "Students: 20 removed (20 of 100, 20%)" in html
    assert "Helper 0 (Emergency contact)" in html
    assert f'href="{DASHBOARD}/#/districts/{DISTRICT}/schools/{SCHOOL}"' in html
    assert csv_token(html)
    # and the school records what was mailed, leaving the rest of the item as it was
    school = state.get_school(DISTRICT, SCHOOL)
    assert school is not None
    assert school.notified_reasons == ["emergency_contacts", "large_removals"]
    expected = held_school(SYNC_1, holds, notified=["emergency_contacts", "large_removals"])
    assert school == expected.model_copy(update={"version": school.version})
    assert school.version == 2  # written once by the test, once by the mail's record
    # and the logs name no recipient and carry no body
    [sent] = [record for record in caplog.records if record.getMessage() == "hold mail sent"]
    assert sent.__dict__["recipients"] == 2
    logs = repr([record.__dict__ for record in caplog.records])
    assert not any(address in logs for address in ADMINS)
    assert "Helper 0" not in logs


def test_the_signed_csv_link_verifies_with_the_generated_key_and_expires_after_72_hours(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    holds = real_holds(emergency=False)
    state.put_school(held_school(SYNC_1, holds))

    notify(hold_event(SYNC_1, holds))

    token = csv_token(outbox(aws)[0].body)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=aws.secret_arns["LinkSigningKey"])
    key = secret["SecretString"].encode()
    claims = verify_link(key, token, datetime.now(UTC), purpose="changes_csv")
    assert (claims.district_id, claims.school_id, claims.sync_id) == (DISTRICT, SCHOOL, SYNC_1)
    issued = datetime.fromtimestamp(claims.iat, tz=UTC)
    assert abs(issued - datetime.now(UTC)) < timedelta(minutes=5)
    assert verify_link(key, token, issued + timedelta(hours=72) - timedelta(seconds=1))
    with pytest.raises(ExpiredLinkError):
        verify_link(key, token, issued + timedelta(hours=72))


def test_the_same_school_sync_and_reasons_twice_is_one_mail(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given a held school / When notify is retried with the same input
    holds = real_holds(emergency=True)
    state.put_school(held_school(SYNC_1, holds))
    first = notify(hold_event(SYNC_1, holds))
    second = notify(hold_event(SYNC_1, holds))

    # Then one mail, and the retry answers what the first call did
    assert len(outbox(aws)) == 1
    assert second == first


def test_a_retry_after_the_idempotency_record_expired_still_sends_nothing(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given a mailed hold whose idempotency record is gone (TTL)
    holds = real_holds(emergency=False)
    state.put_school(held_school(SYNC_1, holds))
    notify(hold_event(SYNC_1, holds))
    table = boto3.resource("dynamodb").Table(aws.idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})

    # When the same notice comes again / Then the school's notified reasons stop a second mail
    assert notify(hold_event(SYNC_1, holds)) == {"sent": False, "message_id": None}
    assert len(outbox(aws)) == 1


def test_a_grown_reason_set_in_a_later_sync_is_a_second_mail(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given a school mailed about removals in sync 1
    removals = real_holds(emergency=False)
    state.put_school(held_school(SYNC_1, removals))
    notify(hold_event(SYNC_1, removals))
    # When sync 2 still holds it, now also for emergency contacts (evaluate keeps notified_reasons)
    grown = real_holds(emergency=True)
    state.put_school(held_school(SYNC_2, grown, notified=["large_removals"]))
    result = notify(hold_event(SYNC_2, grown))

    # Then a second mail names both reasons, and both are recorded as notified
    first, second = outbox(aws)
    assert result == {"sent": True, "message_id": second.id}
    assert first.subject.endswith(": Large number of removals")
    assert second.subject.endswith(": Large number of removals, Emergency contacts included")
    assert f"/v1/links/{csv_token(second.body)}" in second.body
    school = state.get_school(DISTRICT, SCHOOL)
    assert school is not None
    assert school.notified_reasons == ["emergency_contacts", "large_removals"]


def test_notify_false_sends_nothing(aws: AwsStack, state: StateTable, notify: Handler) -> None:
    holds = real_holds(emergency=False)
    state.put_school(held_school(SYNC_1, holds))

    assert notify(hold_event(SYNC_1, holds, notify=False)) == {"sent": False, "message_id": None}
    assert outbox(aws) == []


def test_a_notice_for_a_sync_the_school_has_moved_past_sends_nothing(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    # Given sync 2 is pending (it mails for itself) / When sync 1's notice arrives late
    holds = real_holds(emergency=False)
    state.put_school(held_school(SYNC_2, holds))

    # Then nothing is sent and nothing is recorded
    assert notify(hold_event(SYNC_1, holds)) == {"sent": False, "message_id": None}
    assert outbox(aws) == []
    school = state.get_school(DISTRICT, SCHOOL)
    assert school is not None
    assert school.notified_reasons == []


def test_a_notice_for_an_unknown_school_fails(state: StateTable, notify: Handler) -> None:
    holds = real_holds(emergency=False)

    with pytest.raises(LookupError):
        notify(hold_event(SYNC_1, holds))


# ------------------------------------------------------------------ disconnection mails


def disconnect(state: StateTable) -> None:
    district = state.get_district(DISTRICT)
    assert district is not None
    error = ErrorInfo(code="token_revoked", message="Clever answered 401 invalid_token", at=T0)
    state.update_district(DISTRICT, connection=Connection.DISCONNECTED, last_error=error)


def test_a_disconnection_is_mailed_once_per_sync(aws: AwsStack, state: StateTable, notify: Handler) -> None:
    # Given a district Clever refuses
    disconnect(state)
    event = {"kind": "disconnected", "district_id": DISTRICT, "sync_id": SYNC_1}

    # When the poller's notice arrives twice for one sync, then once for a later sync
    first = notify(event)
    again = notify(event)
    later = notify(event | {"sync_id": SYNC_2})

    # Then one mail per sync, with Clever's error, what to check and "I fixed it"
    assert first["sent"]
    assert again == first
    assert later["sent"]
    assert later["message_id"] != first["message_id"]
    messages = outbox(aws)
    assert len(messages) == 2
    message = messages[0]
    assert message.destinations == {"ToAddresses": ADMINS}
    assert message.subject == "Clever sync disconnected for Springfield Unified"
    assert "Clever answered 401 invalid_token" in message.body
    assert "Check your settings in Clever" in message.body
    assert "I fixed it" in message.body
    assert f'href="{DASHBOARD}/#/districts/{DISTRICT}"' in message.body


def test_a_district_connected_again_gets_no_disconnection_mail(
    aws: AwsStack, state: StateTable, notify: Handler
) -> None:
    result = notify({"kind": "disconnected", "district_id": DISTRICT, "sync_id": SYNC_1})

    assert result == {"sent": False, "message_id": None}
    assert outbox(aws) == []


def test_no_dashboard_url_fails_loudly_and_sends_nothing(
    aws: AwsStack, state: StateTable, notify: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack deployed without DashboardUrl (the mail's links would be relative)
    monkeypatch.setenv("DASHBOARD_URL", "")
    services.reset()
    holds = real_holds(emergency=False)
    services.state_table().put_school(held_school(SYNC_1, holds))

    # When a hold is notified / Then the invocation fails (Step Functions records it), no mail
    with pytest.raises(NotificationConfigError):
        notify(hold_event(SYNC_1, holds))
    assert outbox(aws) == []
