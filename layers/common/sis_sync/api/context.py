"""What every admin API read and action works with: the stores, clients and clock (built by
`services.admin_api`), and the lookups each of them starts with, checked against the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sis_sync.api.adapters import CsvReader, PollStarter
from sis_sync.api.errors import NotFoundError
from sis_sync.api.identity import Identity
from sis_sync.clever.client import CleverClient
from sis_sync.model import District, School
from sis_sync.store.change_sets import ChangeSetBucket
from sis_sync.store.releases import ReleaseStarter
from sis_sync.store.roster_table import RosterTable
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore


@dataclass(frozen=True)
class ApiContext:
    state: StateTable
    roster: RosterTable
    csv: CsvReader
    releases: ReleaseStarter
    polls: PollStarter
    tokens: TokenStore
    clever: Callable[[str], CleverClient]  # district token -> client
    link_key: Callable[[], bytes]
    now: Callable[[], datetime]
    change_sets: ChangeSetBucket  # the evaluated change sets the threshold preview judges

    def require_district(self, who: Identity, district_id: str) -> District:
        """The district, if the caller may see it and it exists (else 403/404)."""
        who.require(district_id)
        district = self.state.get_district(district_id)
        if district is None:
            raise NotFoundError(f"district {district_id} not found")
        return district

    def require_school(self, district_id: str, school_id: str) -> School:
        school = self.state.get_school(district_id, school_id)
        if school is None:
            raise NotFoundError(f"school {school_id} not found")
        return school
