"""The one hold mail of a sync that held several schools: order, grouping, size bounds, links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from sis_sync import hold_digest
from sis_sync.hold_digest import DIGEST_DETAILED, DigestLinks, ordered, render_hold_digest
from sis_sync.mail_content import Email, HeldSchool, HoldMailLinks
from sis_sync.model import SafeApplied, School, SchoolStatus
from sis_sync.notifications import HoldDigestNotice, notice_for
from sis_sync.rules import Hold
from tests.unit.test_notifications import T0, district, emergency_hold, guardians_hold, hrefs, removals_hold

SYNC = "sync-7"
BASE = "https://sis.example.org"
ON_HOLD_URL = f"{BASE}/#/districts/d-1?status=on_hold"
DISTRICT_URL = f"{BASE}/#/districts/d-1"
LINKS = DigestLinks(district_url=DISTRICT_URL, on_hold_url=ON_HOLD_URL, expires_at=T0 + timedelta(hours=72))


def entry(school_id: str, *holds: Hold, name: str = "", removed: int = 30, safe: bool = False) -> HeldSchool:
    school = School(
        district_id="d-1",
        school_id=school_id,
        name=name or f"School {school_id}",
        status=SchoolStatus.ON_HOLD,
        changes={"added": 0, "updated": 0, "removed": removed, "source_id_changed": 0, "sync_id": SYNC},
        safe_applied=(
            SafeApplied(sync_id=SYNC, at=T0, actor="system", changes={"added": 5, "updated": 2, "removed": 0})
            if safe
            else None
        ),
    )
    links = HoldMailLinks(
        school_url=f"{DISTRICT_URL}/schools/{school_id}",
        csv_url=f"{BASE}/v1/links/token-{school_id}",
        district_url=DISTRICT_URL,
        expires_at=LINKS.expires_at,
    )
    return HeldSchool(school=school, holds=list(holds), links=links)


def digest(*held: HeldSchool) -> Email:
    return render_hold_digest(district(), SYNC, held, LINKS)


def test_the_most_important_school_comes_first_removals_then_size_then_name() -> None:
    # Given schools held for contact types, guardians, and removals of different sizes
    small = entry("small", removals_hold())  # 30 removed
    bigger = entry("bigger", removals_hold(), emergency_hold())
    contacts = entry("contacts", emergency_hold(), name="Aardvark Elementary")
    guardians = entry("guardians", guardians_hold())

    # When they are ordered / Then removals first (more marked rows first), then guardians, contacts
    assert [e.school.school_id for e in ordered([contacts, small, guardians, bigger])] == [
        "bigger",
        "small",
        "guardians",
        "contacts",
    ]


def test_each_reason_is_explained_once_with_its_school_count_and_remedies() -> None:
    email = digest(entry("a", removals_hold()), entry("b", removals_hold(), emergency_hold()))

    assert email.subject == (
        "Sync on hold for 2 schools of Springfield Unified: "
        "Large number of removals, Emergency contacts included"
    )
    for part in (email.text, email.html):
        assert "Large number of removals: 2 schools" in part
        assert "Emergency contacts included: 1 school" in part
        assert part.count("If the data removals are expected for specific schools") == 1
        # the per-school facts a one-school mail gives, for the detailed schools
        assert part.count("Students: 30 removed (30 of 100, 30%)") == 2


def test_the_first_schools_are_detailed_the_rest_a_compact_table_grouped_by_first_reason() -> None:
    # Given more held schools than the mail details
    held = [entry(f"r{n:02d}", removals_hold()) for n in range(DIGEST_DETAILED + 3)]
    held.append(entry("contacts", emergency_hold()))
    email = digest(*held)

    # Then the first ones show their facts, the others a row each under their first reason, all linked
    assert email.text.count("Students: 30 removed") == DIGEST_DETAILED
    assert "The other 4 schools, by first hold reason" in email.text
    table = email.text.split("The other 4 schools")[1]
    assert (
        table.index("Large number of removals:")
        < table.index(f"School r{DIGEST_DETAILED + 2:02d}")
        < table.index("School contacts")
    )
    assert table.index("Emergency contacts included:") < table.index("School contacts")
    for part in (email.text, email.html):
        for held_school in held:
            assert held_school.links is not None
            assert held_school.links.csv_url in part
            assert held_school.links.school_url in part


def test_beyond_the_listed_schools_the_mail_points_to_the_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given more schools than a mail lists (the ones beyond it come without links)
    monkeypatch.setattr(hold_digest, "DIGEST_LISTED", 12)
    held = [entry(f"r{n:02d}", removals_hold()) for n in range(12)]
    held += [
        HeldSchool(school=e.school, holds=e.holds, links=None)
        for e in (entry("x1", removals_hold(), removed=1),)
    ]
    email = digest(*held)

    assert email.subject.startswith("Sync on hold for 13 schools of ")
    text = " ".join(email.text.split())
    assert "And 1 more school on hold, too many for their links in one e-mail: School x1." in text
    assert "School x1</a>" not in email.html  # named, without links
    assert ON_HOLD_URL in email.text.split()
    assert f'href="{ON_HOLD_URL}"' in email.html


def test_a_300_school_digest_stays_small() -> None:
    held = [entry(f"s{n:03d}", removals_hold(), emergency_hold()) for n in range(300)]

    email = digest(*held)

    assert len(email.html.encode()) + len(email.text.encode()) < 600_000  # SES's limit is 10 MB
    assert all(f"School s{n:03d}" in email.text for n in range(300))  # every school named


def test_what_apply_safe_applied_is_said_in_total_and_per_school() -> None:
    email = digest(entry("a", removals_hold(), safe=True), entry("b", emergency_hold()))

    text = " ".join(email.text.split())
    assert "At 1 of them the changes that trip no hold rule were applied already (5 added, 2 updated)" in text
    assert "Applied already (trips no hold rule): 5 added, 2 updated." in text


def test_every_link_of_the_html_part_is_a_full_url_in_the_text_part() -> None:
    email = digest(*[entry(f"s{n:02d}", removals_hold()) for n in range(DIGEST_DETAILED + 2)])

    links = set(hrefs(email.html))
    assert {ON_HOLD_URL, DISTRICT_URL} <= links
    for href in links:
        assert href.startswith("https://")
        assert href in email.text.split(), href


def test_html_escapes_school_names_and_the_subject_keeps_the_district_on_one_line() -> None:
    email = render_hold_digest(
        district(name="Evil\r\nBcc: x@example.org  District"),
        SYNC,
        [entry("a", removals_hold(), name="<script>alert(1)</script>"), entry("b", emergency_hold())],
        LINKS,
    )

    assert "<script>alert(1)</script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text
    assert "\n" not in email.subject
    assert re.search(r"of Evil Bcc: x@example.org District: ", email.subject)


def test_a_digest_notice_is_keyed_on_district_and_sync() -> None:
    notice = notice_for({"kind": "holds", "district_id": "d-1", "sync_id": SYNC})

    assert notice == HoldDigestNotice(kind="holds", district_id="d-1", sync_id=SYNC)
    assert notice.idempotency_key == "holds#d-1#sync-7"


def test_the_devstack_outbox_text_of_a_digest_keeps_every_url() -> None:
    from devstack.outbox import text_of  # the demo's /dev/outbox: moto keeps only the HTML part

    email = digest(*[entry(f"s{n:02d}", removals_hold()) for n in range(DIGEST_DETAILED + 2)])

    text = text_of(email.html)

    for href in hrefs(email.html):
        assert href in text
