"""Signed e-mail links: what a link opens without signing in (read-only), one school's changes
CSV or its report."""

from __future__ import annotations

from sis_sync.api.adapters import StoredCsv
from sis_sync.api.context import ApiContext
from sis_sync.api.errors import ChangeSetNotPendingError, NotFoundError
from sis_sync.api.models import LinkedReport
from sis_sync.api.reports import report
from sis_sync.evaluation import csv_key
from sis_sync.links import LinkClaims, verify_link


def link_claims(ctx: ApiContext, token: str) -> LinkClaims:
    """The claims of a valid link (raises links.InvalidLinkError: expired, tampered, ...)."""
    return verify_link(ctx.link_key(), token, ctx.now())


def link_csv(ctx: ApiContext, claims: LinkClaims) -> StoredCsv:
    """The CSV the link was sent for, only while its change set is still the school's pending one:
    once released or replaced its names and e-mails are no business of a forwarded e-mail (410)."""
    school = ctx.state.get_school(claims.district_id, claims.school_id)
    if school is None:
        raise NotFoundError("the school of this link no longer exists")
    if school.pending_sync_id != claims.sync_id:
        raise ChangeSetNotPendingError(
            "the hold this link was sent for has been released or replaced by newer changes: "
            "open the dashboard to see the school"
        )
    # the pending change set's own CSV: after Apply safe changes, only what is still held
    key = (
        school.pending.csv_key
        if school.pending
        else csv_key(claims.district_id, claims.school_id, claims.sync_id)
    )
    stored = ctx.csv.read(key)
    if stored is None:
        raise NotFoundError("the change set of this link is no longer available")
    return stored


def link_report(ctx: ApiContext, claims: LinkClaims) -> LinkedReport:
    """The report of the change set the link was sent for, while it is still the pending one;
    without the history (it names the admins who acted)."""
    district = ctx.state.get_district(claims.district_id)
    school = ctx.state.get_school(claims.district_id, claims.school_id)
    if district is None or school is None:
        raise NotFoundError("the school of this link no longer exists")
    if school.pending_sync_id != claims.sync_id:
        raise NotFoundError("the change set of this link is no longer pending: sign in to see the school")
    return LinkedReport.model_validate(report(ctx, district, school, history=False).model_dump())
