"""The API's pure pieces: identity from claims, match suggestions, execution names, cursors,
static files, body refusal; and the 401/404/415/422 answers that need no AWS at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sis_sync.api.actions import decode_cursor, encode_cursor, release_execution_name
from sis_sync.api.errors import BadRequestError, NotAuthenticatedError, NotFoundError
from sis_sync.api.identity import Role, identity_from_claims
from sis_sync.api.matching import normalise_name, suggestions
from sis_sync.model import CleverSchool, School
from tests.api_events import admin, call, http_event, operator


def test_claims_make_an_admin_or_an_operator() -> None:
    who = identity_from_claims(admin("d1"))
    assert (who.role, who.district_id) == (Role.DISTRICT_ADMIN, "d1")
    assert who.can_reach("d1")
    assert not who.can_reach("d2")
    with pytest.raises(NotFoundError):
        who.require("d2")
    assert identity_from_claims(operator()).can_reach("anything")


@pytest.mark.parametrize(
    "claims",
    [
        None,
        {},
        {"email": "a@b.org", "custom:role": "district_admin"},
        {"email": "a@b.org", "custom:role": "root"},
        {"email": "not-an-email", "custom:role": "operator"},
    ],
)
def test_incomplete_claims_are_not_an_identity(claims: Any) -> None:
    with pytest.raises(NotAuthenticatedError):
        identity_from_claims(claims)


def test_suggestions_prefer_nces_then_state_id_then_similar_names() -> None:
    clever = CleverSchool(
        district_id="d", clever_school_id="c1", name="Lincoln High", nces_id="1", first_seen_sync_id="s"
    )
    schools = [
        School(district_id="d", school_id="by-name", name="LINCOLN HIGH SCHOOL"),
        School(district_id="d", school_id="by-nces", name="Other", nces_id="1"),
        School(district_id="d", school_id="unrelated", name="Zeta Academy"),
        School(district_id="d", school_id="taken", name="Lincoln High", clever_school_id="c9"),
    ]
    found = suggestions(clever, schools)
    assert [(s.school_id, s.match) for s in found] == [("by-nces", "nces_id"), ("by-name", "name")]
    assert normalise_name("The Lincoln-High School!") == "lincoln high"


def test_release_names_are_valid_execution_names() -> None:
    assert release_execution_name("s-1", "20261102T080000Z-d") == "release-s-1-20261102T080000Z-d"
    long = release_execution_name("s" * 70, "x.y")
    assert len(long) <= 80
    assert long == release_execution_name("s" * 70, "x.y")  # stable: a repeat starts nothing new


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    sort_key = "AUDIT#2026-11-02T08:00:00.000000+00:00#abc"
    assert decode_cursor(encode_cursor(sort_key)) == sort_key
    for bad in ["!!!", encode_cursor("SCHOOL#x"), "%%"]:
        with pytest.raises(BadRequestError):
            decode_cursor(bad)


def test_static_files_are_served_with_types_and_never_outside_the_folder(tmp_path: Path) -> None:
    from functions.api.routes.dashboard import static_file

    (tmp_path / "index.html").write_text("<h1>x</h1>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("1")
    (tmp_path.parent / "secret.txt").write_text("no")
    assert static_file("index.html", tmp_path) == (b"<h1>x</h1>", "text/html; charset=utf-8")
    assert static_file("js/app.js", tmp_path)[1] in {
        "text/javascript; charset=utf-8",
        "application/javascript; charset=utf-8",
    }
    for refused in ["../secret.txt", "js/../../secret.txt", "missing.css", "", "js"]:
        with pytest.raises(NotFoundError):
            static_file(refused, tmp_path)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from functions.api.app import lambda_handler

    return lambda_handler


def test_answers_that_need_no_aws(handler: Any) -> None:
    assert call(handler, http_event("GET", "/v1/health")).json() == {"status": "ok"}
    assert call(handler, http_event("GET", "/v1/me")).status == 401
    assert call(handler, http_event("GET", "/v1/districts/d1", claims={"email": "x"})).status == 401
    assert call(handler, http_event("DELETE", "/v1/health")).status == 404
    wrong_type = http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="a=b")
    wrong_type["headers"]["content-type"] = "multipart/form-data"
    assert call(handler, wrong_type).json()["error"]["code"] == "unsupported_media_type"
    binary = http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="/w==")
    binary["isBase64Encoded"] = True
    assert call(handler, binary).status == 400
    bad_json = call(handler, http_event("POST", "/v1/districts/d1/sync", claims=admin("d1"), body="{"))
    assert (bad_json.status, bad_json.json()["error"]["code"]) == (422, "validation_error")
