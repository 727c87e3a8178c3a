"""Hold and disconnection mails: the article's words, counts (the CSV's), examples, remedies, links
(full URLs in the text part too), escaping, and the SES call that carries both parts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from sis_sync.changes_csv import changes_csv_bytes, linked_student_names
from sis_sync.mail_content import (
    MAIL_EXAMPLES,
    Email,
    HoldMailLinks,
    hold_subject,
    reason_view,
    render_disconnected_mail,
    render_hold_mail,
)
from sis_sync.model import Connection, District, ErrorInfo, School, SchoolStatus
from sis_sync.notifications import DisconnectNotice, HoldNotice, notice_for
from sis_sync.rules import Evaluation, Hold, HoldReason, evaluate
from sis_sync.settings import HoldThresholds
from sis_sync.snapshot import Record, Records
from sis_sync.store.mailer import SesMailer
from tests.unit.test_changes import contact, roster, student

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SCHOOL_URL = "https://sis.example.org/#/districts/d-1/schools/s-1"
CSV_URL = "https://sis.example.org/v1/links/eyJ.token.sig"
DISTRICT_URL = "https://sis.example.org/#/districts/d-1"
LINKS = HoldMailLinks(
    school_url=SCHOOL_URL, csv_url=CSV_URL, district_url=DISTRICT_URL, expires_at=T0 + timedelta(hours=72)
)


def kids(count: int, first_name: str = "Kid") -> list[Record]:
    return [
        student(f"st{n:03d}", f"sis-{n}", first_name=f"{first_name}{n}", email=f"kid{n}@example.org")
        for n in range(count)
    ]


def removals_hold(first_name: str = "Kid") -> Hold:
    """30 of 100 students removed (Kid0 .. Kid29)."""
    evaluation = evaluate(
        roster(student=kids(100, first_name)), roster(student=kids(100, first_name)[30:]), HoldThresholds()
    )
    [hold] = evaluation.holds
    return hold


def guardians_hold() -> Hold:
    pupils = kids(2)
    linked = [contact(f"g{n}", "st000", name=f"Guardian {n}", phone="555-0100") for n in range(7)]
    evaluation = evaluate(roster(student=pupils), roster(student=pupils, contact=linked), HoldThresholds())
    return next(h for h in evaluation.holds if h.reason is HoldReason.TOO_MANY_PARENT_CONNECTIONS)


def emergency_hold() -> Hold:
    pupils = kids(8)
    contacts = [
        contact(
            f"e{n}",
            name=f"Helper {n}",
            relationships=[{"student": f"st{n:03d}", "type": kind, "relationship": "Aunt"}],
        )
        for n, kind in enumerate(["Emergency"] * 6 + ["secondary"] * 2)
    ]
    evaluation = evaluate(roster(student=pupils), roster(student=pupils, contact=contacts), HoldThresholds())
    [hold] = evaluation.holds
    return hold


def district(**changes: object) -> District:
    base = District(
        district_id="d-1",
        name="Springfield Unified",
        clever_district_id="c-1",
        admin_emails=["a@example.org"],
    )
    return base.model_copy(update=changes)


def school(name: str = "Pinecrest Middle School") -> School:
    return School(district_id="d-1", school_id="s-1", name=name, status=SchoolStatus.ON_HOLD)


def mail(*holds: Hold, school_name: str = "Pinecrest Middle School") -> Email:
    return render_hold_mail(district(), school(school_name), "sync-7", holds, LINKS)


# ------------------------------------------------------------------ subject


def test_subject_names_the_school_and_the_reasons_in_words() -> None:
    subject = hold_subject(
        "Pinecrest Middle School", [HoldReason.LARGE_REMOVALS, HoldReason.EMERGENCY_CONTACTS]
    )

    assert subject == (
        "Sync on hold for Pinecrest Middle School: Large number of removals, Emergency contacts included"
    )


def test_subject_keeps_a_name_on_one_line() -> None:
    subject = hold_subject("Evil\r\nBcc: x@example.org  School", [HoldReason.TOO_MANY_PARENT_CONNECTIONS])

    assert subject == "Sync on hold for Evil Bcc: x@example.org School: Too many parent connections"


# ------------------------------------------------------------------ each reason


def test_large_removals_explains_counts_examples_and_remedies() -> None:
    # Given 30 of 100 students removed / When the mail is rendered
    email = mail(removals_hold())
    # Then it explains the hold in the article's words, with per-type counts
    for body in (email.text, email.html):
        assert "Large number of removals" in body
        assert "semester- and year-end changes" in body
        assert "Students: 30 removed (30 of 100, 30%)" in body
        assert "at least 10 records of one type and 10% of them are removed, or 500" in body
        # at most five examples, by name, and a pointer to the rest
        assert "Kid0 Diaz (student, removed)" in body
        assert "Kid4 Diaz (student, removed)" in body
        assert "Kid5 Diaz" not in body
        assert "and 25 more" in body
        assert "30 rows are marked" in body
        # the article's remedies
        assert "contact your SIS administrator or Clever Support" in body
        assert "Check for new Clever data" in body
        assert "Yes, Continue" in body
        assert "Clear holds" in body
        assert "Download CSV of changes" in body
        # no contact details or dates of birth of students
        assert "@example.org" not in body.replace("a@example.org", "")
        assert "2010-01-01" not in body


def test_too_many_parent_connections_counts_students_and_guardians() -> None:
    email = mail(guardians_hold())

    for body in (email.text, email.html):
        assert "Too many parent connections" in body
        assert "Students have six or more guardians associated with them." in body
        assert "1 student now has 6 or more guardians linked." in body
        # the student and each guardian by name
        guardians = ", ".join(f"Guardian {n}" for n in range(7))
        assert f"Kid0 Diaz: 7 guardians (previously 0); newly linked: {guardians}" in body
        assert "7 rows are marked" in body
        assert "remove the associations in Clever" in body
        assert "select the school and Clear holds" in body
        assert "555-0100" not in body
        assert "maria@example.org" not in body


def test_emergency_contacts_counts_per_type_and_quotes_the_blocked_types() -> None:
    email = mail(emergency_hold())

    for body in (email.text, email.html):
        assert "Emergency contacts included" in body
        assert "8 new contact relationships from 8 contacts (Emergency: 6, secondary: 2)." in body
        assert "Helper 0 (Emergency contact)" in body
        assert "and 3 more" in body
        assert "8 rows are marked" in body
        assert "SIS administrator or Clever Support" in body
        assert "maria@example.org" not in body
    assert 'the "emergency" or "secondary" contact type in Clever' in email.text
    assert "the &#34;emergency&#34; or &#34;secondary&#34; contact type in Clever" in email.html


def test_examples_are_capped_per_reason() -> None:
    for hold in (removals_hold(), emergency_hold()):
        assert len(hold.detail["examples"]) > MAIL_EXAMPLES
        assert len(reason_view(hold).examples) == MAIL_EXAMPLES


def test_several_reasons_are_all_explained_with_the_links() -> None:
    email = mail(removals_hold(), guardians_hold(), emergency_hold())

    assert email.subject == (
        "Sync on hold for Pinecrest Middle School: Large number of removals, "
        "Too many parent connections, Emergency contacts included"
    )
    for body in (email.text, email.html):
        assert body.index("Large number of removals") < body.index("Too many parent connections")
        assert body.index("Too many parent connections") < body.index("Emergency contacts included")
        assert SCHOOL_URL in body
        assert CSV_URL in body
        assert "valid for 72 hours, until November 5, 2026 at 08:00 UTC" in " ".join(body.split())
    assert f'href="{CSV_URL}"' in email.html
    assert f'href="{SCHOOL_URL}"' in email.html


def test_a_reason_without_detail_is_still_explained() -> None:
    email = mail(Hold(reason=HoldReason.LARGE_REMOVALS, detail={}))

    assert "Large number of removals" in email.text
    assert "Clear holds" in email.text


def test_an_emergency_contact_of_several_students_is_one_example_like_its_one_csv_row() -> None:
    # Given one new contact with two emergency relationships and one with a secondary one
    pupils = kids(2)
    two = [{"student": p["id"], "type": "Emergency", "relationship": "Aunt"} for p in pupils]
    contacts = [
        contact("e1", name="Helper 1", relationships=two),
        contact("e2", name="Helper 2", relationships=[{"student": "st000", "type": "Secondary", "relationship": "x"}]),  # noqa: E501
    ]  # fmt: skip
    [hold] = evaluate(
        roster(student=pupils), roster(student=pupils, contact=contacts), HoldThresholds()
    ).holds

    view = reason_view(hold)

    # Then each contact is one example, as it is one row of the CSV, and nothing is "more"
    assert view.examples == ["Helper 1 (Emergency contact)", "Helper 2 (Secondary contact)"]
    assert (view.more_examples, view.marked_rows) == (0, 2)


# ------------------------------------------------------------------ counts match the CSV


def visible(html: str) -> str:
    """The HTML part's text as a reader sees it: tags dropped, whitespace runs collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",").replace(" .", ".")


def csv_for(previous: Records, current: Records) -> tuple[Evaluation, list[dict[str, str]]]:
    evaluation = evaluate(previous, current, HoldThresholds())
    body = changes_csv_bytes(evaluation, linked_student_names(evaluation.change_set, current, previous))
    return evaluation, list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def held(evaluation: Evaluation) -> School:
    summary = dict(evaluation.change_set.summary()) | {"sync_id": "sync-7"}
    return school().model_copy(update={"holds": list(evaluation.holds), "changes": summary})


def test_the_mail_counts_the_rows_of_the_csv_it_links() -> None:
    # Given the reported case: 221 of 1000 students removed next to 24 harmless updates (245 rows)
    pupils = kids(1000)
    current = roster(student=[p | {"grade": "9"} for p in pupils[221:245]] + pupils[245:])
    evaluation, rows = csv_for(roster(student=pupils), current)
    assert len(rows) == 245

    # When the hold is mailed
    email = render_hold_mail(district(), held(evaluation), "sync-7", evaluation.holds, LINKS)

    # Then the mail gives the CSV's own numbers: 5 examples and 216 more of the 221 marked rows,
    # in a file of 245 rows, in both parts
    marked = sum("large_removals" in row["hold_reasons"] for row in rows)
    assert marked == 221
    for body in (email.text, visible(email.html)):
        assert body.count("(student, removed)") == MAIL_EXAMPLES
        assert "and 216 more" in body
        assert "In the CSV of changes, 221 rows are marked large_removals in the hold_reasons column." in body
        assert "The CSV of changes has 245 rows, one per changed record" in body


def test_each_reasons_marked_rows_are_the_csvs_for_every_reason() -> None:
    # Given a school where all three rules fire: removals, a student reaching six guardians, and
    # emergency contacts (one of them linking two students)
    pupils = kids(100)
    guardians = [contact(f"g{n}", "st099", name=f"Guardian {n}") for n in range(6)]
    emergency = [
        contact(f"e{n}", name=f"Helper {n}", relationships=[
            {"student": pupils[n]["id"], "type": "Emergency", "relationship": "Aunt"},
            {"student": pupils[n + 50]["id"], "type": "Emergency", "relationship": "Aunt"},
        ])
        for n in range(7)
    ]  # fmt: skip
    current = roster(student=pupils[:50] + pupils[70:], contact=guardians + emergency)
    evaluation, rows = csv_for(roster(student=pupils), current)
    assert len(evaluation.holds) == 3

    email = render_hold_mail(district(), held(evaluation), "sync-7", evaluation.holds, LINKS)

    # Then for each reason the mail states exactly how many CSV rows carry its code, and the total
    for hold in evaluation.holds:
        marked = sum(hold.reason.value in row["hold_reasons"].split(";") for row in rows)
        view = reason_view(hold)
        assert view.marked_rows == marked, hold.reason
        for body in (email.text, visible(email.html)):
            assert f"{marked} rows are marked {hold.reason.value} in the hold_reasons column" in body
    for body in (email.text, visible(email.html)):
        assert f"The CSV of changes has {len(rows)} rows" in body
    # and the examples plus "and N more" add up to what the reason counts
    removals, emergencies = reason_view(evaluation.holds[0]), reason_view(evaluation.holds[2])
    assert len(removals.examples) + removals.more_examples == 20
    assert len(emergencies.examples) + emergencies.more_examples == 7


def test_no_row_count_is_given_from_another_syncs_summary() -> None:
    # Given a school whose change summary is of an older sync than the one mailed
    evaluation, _ = csv_for(roster(student=kids(100)), roster(student=kids(100)[30:]))
    school = held(evaluation)
    school = school.model_copy(update={"changes": school.changes | {"sync_id": "sync-6"}})

    email = render_hold_mail(district(), school, "sync-7", evaluation.holds, LINKS)

    # Then the mail states no total it cannot vouch for
    assert "The CSV of changes has" not in email.text


# ------------------------------------------------------------------ links in both parts


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")


def hrefs(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def test_every_link_of_the_html_part_is_a_full_url_in_the_text_part() -> None:
    hold_mail = mail(removals_hold(), guardians_hold(), emergency_hold())
    disconnected = render_disconnected_mail(district(connection=Connection.DISCONNECTED), DISTRICT_URL)

    # The hold mail links the report, the CSV and the district's dashboard page
    assert set(hrefs(hold_mail.html)) == {SCHOOL_URL, CSV_URL, DISTRICT_URL}
    assert set(hrefs(disconnected.html)) == {DISTRICT_URL}
    for email in (hold_mail, disconnected):
        for href in hrefs(email.html):
            assert href.startswith("https://")
            assert href in email.text.split(), href  # on a line of its own: mail readers link it


def test_the_devstack_outbox_text_of_a_mail_keeps_every_url() -> None:
    from devstack.outbox import text_of  # the demo's /dev/outbox: moto keeps only the HTML part

    email = mail(removals_hold())

    text = text_of(email.html)

    assert "open the school's SIS sync report (" + SCHOOL_URL + "):" in text
    for href in hrefs(email.html):
        assert href in text


# ------------------------------------------------------------------ the SES call


def test_the_mailer_sends_both_parts_in_one_ses_v2_call() -> None:
    # Given an SES v2 client that expects exactly this call
    email = mail(removals_hold())
    ses = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected = {
        "FromEmailAddress": "sis-sync@example.org",
        "Destination": {"ToAddresses": ["a@example.org", "b@example.org"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": email.text, "Charset": "UTF-8"},
                    "Html": {"Data": email.html, "Charset": "UTF-8"},
                },
            }
        },
    }
    with Stubber(ses) as stub:
        stub.add_response("send_email", {"MessageId": "m-1"}, expected)

        # When the mail is sent
        message_id = SesMailer(ses, "sis-sync@example.org").send(("a@example.org", "b@example.org"), email)

        # Then one call carried the subject and both parts (the text part with its URLs)
        stub.assert_no_pending_responses()
    assert message_id == "m-1"
    assert SCHOOL_URL in email.text


# ------------------------------------------------------------------ escaping


def test_html_escapes_names_and_text_keeps_them() -> None:
    # Given a school and a student whose names carry markup
    evil = "<script>alert(1)</script>"
    email = mail(removals_hold(first_name=evil), school_name=f"Pinecrest {evil}")

    # Then the HTML body shows them as text and the text body is unchanged
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert f"Pinecrest {evil}" in email.text
    assert email.html.lstrip().startswith("<!DOCTYPE html>")


# ------------------------------------------------------------------ disconnected


def test_disconnection_mail_gives_clevers_error_what_to_check_and_i_fixed_it() -> None:
    error = ErrorInfo(code="token_revoked", message="401 <b>Unauthorized</b>", at=T0)
    email = render_disconnected_mail(
        district(connection=Connection.DISCONNECTED, last_error=error),
        "https://sis.example.org/#/districts/d-1",
    )

    assert email.subject == "Clever sync disconnected for Springfield Unified"
    for body in (email.text, email.html):
        assert "cannot connect with Clever" in body
        assert "token_revoked" in body
        assert "November 2, 2026 at 08:00 UTC" in body
        assert "Check your settings in Clever" in body
        assert "I fixed it" in body
        assert "https://sis.example.org/#/districts/d-1" in body
    assert "401 <b>Unauthorized</b>" in email.text
    assert "401 &lt;b&gt;Unauthorized&lt;/b&gt;" in email.html


def test_disconnection_mail_without_a_recorded_error() -> None:
    email = render_disconnected_mail(district(connection=Connection.DISCONNECTED), "https://x.example/#/d")

    assert "The error Clever gave" not in email.text
    assert "I fixed it" in email.text


# ------------------------------------------------------------------ notices


def evaluation_result(**changes: object) -> dict[str, object]:
    return {
        "district_id": "d-1",
        "sync_id": "sync-7",
        "school_id": "s-1",
        "decision": "hold",
        "notify": True,
        "reasons": ["large_removals", "emergency_contacts"],
    } | changes


def test_a_hold_result_that_asks_for_mail_is_a_hold_notice_keyed_on_sorted_reasons() -> None:
    notice = notice_for(evaluation_result())

    assert isinstance(notice, HoldNotice)
    assert notice.reasons == (HoldReason.EMERGENCY_CONTACTS, HoldReason.LARGE_REMOVALS)
    assert notice.idempotency_key == "hold#d-1#s-1#sync-7#emergency_contacts,large_removals"
    reordered = notice_for(evaluation_result(reasons=["emergency_contacts", "large_removals"]))
    assert reordered == notice


@pytest.mark.parametrize(
    "changes",
    [{"notify": False}, {"decision": "apply"}, {"superseded": True}, {"notify": False, "reasons": []}],
    ids=["notify-false", "not-held", "superseded", "no-reasons"],
)
def test_results_that_ask_for_no_mail_give_no_notice(changes: dict[str, object]) -> None:
    assert notice_for(evaluation_result(**changes)) is None


def test_a_hold_notice_needs_a_reason() -> None:
    with pytest.raises(ValidationError):
        notice_for(evaluation_result(reasons=[]))
    with pytest.raises(ValidationError):
        notice_for(evaluation_result(reasons=["not_a_reason"]))


def test_a_disconnection_notice_is_keyed_on_district_and_sync() -> None:
    notice = notice_for({"kind": "disconnected", "district_id": "d-1", "sync_id": "sync-7"})

    assert notice == DisconnectNotice(kind="disconnected", district_id="d-1", sync_id="sync-7")
    assert notice.idempotency_key == "disconnected#d-1#sync-7"
