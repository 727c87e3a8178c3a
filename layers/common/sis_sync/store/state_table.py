"""The state table: districts, schools, Clever schools, sync runs and the audit log.

One table, partitioned by district (`pk = DISTRICT#<id>`), so that everything the dashboard shows
for a district is one Query away. Districts are also indexed on `gsi1` by their next poll time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, TypeAdapter
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from sis_sync.model import (
    AuditEntry,
    CleverSchool,
    Connection,
    District,
    ErrorInfo,
    School,
    SchoolStatus,
    SnapshotRef,
    SyncRun,
    SyncSchoolOutcome,
)
from sis_sync.settings import DistrictSettings
from sis_sync.store.items import from_item, plain, to_item
from sis_sync.store.roster_table import UnprocessedItemsError

T = TypeVar("T")

BATCH_GET_MAX = 100  # keys per BatchGetItem (DynamoDB's limit)
BATCH_GET_ATTEMPTS = 5  # a throttled batch hands back its unprocessed keys to ask again
BATCH_WRITE_MAX = 25  # puts per BatchWriteItem (DynamoDB's limit)
BATCH_WRITE_ATTEMPTS = 8
# batch requests in flight at once: 1,800 schools' 72 history batches wait 9 round trips, not 72
BATCH_WORKERS = 8
# what deciding Clear holds / Apply safe changes reads of a school (HoldState): a few attributes,
# not the whole item with its change counts (each path read costs: moto copies the item per path),
# nor its holds with their details (Clear holds needs only `undone_applied_at`, stored beside them)
_HOLD_STATE_PATHS: dict[str, str] = {
    "undone_applied_at": "undone_applied_at",
    "safe_changes": "pending.safe_changes",
}

DISTRICT_SK = "#DISTRICT"
POLL_LEASE_SK = "#POLL_LEASE"
OUTCOME_KEPT = timedelta(days=90)
LEASE_CLEANUP_SECONDS = 86400  # an abandoned lease item goes with the TTL a day after it expired
DUE_INDEX = "gsi1"
DUE_PARTITION = "DISTRICTS"
# the school's attributes the commits' expressions name (`status` is a DynamoDB reserved word)
_SCHOOL_NAMES = {"#pending": "pending", "#sync_id": "sync_id", "#status": "status"}


def _with_undone_applied_at(school: School, values: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The SET and REMOVE clauses that keep `undone_applied_at` in step with the holds an update
    writes (`values` gets the value set): every writer of `holds` writes it too."""
    if school.undone_applied_at is None:
        return [], ["undone_applied_at"]
    values[":undone_applied_at"] = school.undone_applied_at
    return ["undone_applied_at = :undone_applied_at"], []


def district_pk(district_id: str) -> str:
    return f"DISTRICT#{district_id}"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _due_key(district_id: str, next_poll_at: datetime | None) -> str:
    """The `gsi1` sort key: districts in the order their next polls are due."""
    return f"{_iso(next_poll_at) if next_poll_at else '0'}#{district_id}"


def _outcome_sk(sync_id: str, school_id: str) -> str:
    # not under SYNC#: `sync_runs` lists that prefix
    return f"OUTCOME#{sync_id}#{school_id}"


class HoldState(BaseModel):
    """A school as Clear holds and Apply safe changes decide it: its status, the change set pending
    (its sync id and how many of its changes are safe) and when its undone change set had been
    applied (School.undone_applied_at)."""

    school_id: str
    status: SchoolStatus
    pending_sync_id: str | None = None
    safe_changes: int | None = None
    undone_applied_at: str | None = None


class SchoolSummary(BaseModel):
    """A school as the school list sorts, filters and counts it; the page shown is read whole."""

    school_id: str
    name: str
    clever_school_id: str | None = None
    status: SchoolStatus
    last_synced_at: datetime | None = None


def _field_value(name: str, value: Any) -> Any:
    """A District field's value as stored (what `to_item` writes for it)."""
    if name not in District.model_fields:
        raise ValueError(f"District has no field {name}")
    dumped = TypeAdapter(District.model_fields[name].annotation).dump_json(value, exclude_none=True)
    return json.loads(dumped, parse_float=Decimal)


class StateTable:
    def __init__(self, table: Any) -> None:
        """`table` is a boto3 DynamoDB Table resource."""
        self._table = table

    # Districts -----------------------------------------------------------------------------------

    def get_district(self, district_id: str) -> District | None:
        item = self._table.get_item(Key={"pk": district_pk(district_id), "sk": DISTRICT_SK}).get("Item")
        return from_item(District, item) if item else None

    def put_district(self, district: District) -> bool:
        """Create a district (False: it exists already, nothing written). Every later change is a
        field-level `update_district`: writing back a whole item read earlier would undo what
        others wrote meanwhile (a settings change saved while a poll ran)."""
        item = to_item(
            district,
            pk=district_pk(district.district_id),
            sk=DISTRICT_SK,
            gsi1pk=DUE_PARTITION,
            gsi1sk=_due_key(district.district_id, district.next_poll_at),
        )
        return self._conditional_put(item, Attr("pk").not_exists())

    def update_district(
        self, district_id: str, *, only_if: dict[str, Any] | None = None, **fields: Any
    ) -> District | None:
        """Set only these District fields (None removes one), while the district exists and each
        `only_if` field has the value given; the district as it was before (None: nothing written)."""
        names: dict[str, str] = {"#pk": "pk"}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for n, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{n}"] = name
            if value is None:
                removes.append(f"#f{n}")
            else:
                values[f":f{n}"] = _field_value(name, value)
                sets.append(f"#f{n} = :f{n}")
            if name == "next_poll_at":
                names["#due"], values[":due"] = "gsi1sk", _due_key(district_id, value)
                sets.append("#due = :due")
        conditions = ["attribute_exists(#pk)"]
        for n, (name, value) in enumerate(sorted((only_if or {}).items())):
            names[f"#c{n}"], values[f":c{n}"] = name, _field_value(name, value)
            conditions.append(f"#c{n} = :c{n}")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        return self._update_district(
            district_id,
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    def mark_connected(self, district_id: str, **fields: Any) -> District | None:
        """Clever answered with a working token: connected, no failure streak, no error, plus these
        fields; the district as it was before (its `connection` tells a reconnection apart)."""
        return self.update_district(
            district_id, connection=Connection.CONNECTED, consecutive_failures=0, last_error=None, **fields
        )

    def update_settings(self, district_id: str, settings: DistrictSettings, *, read_version: int) -> bool:
        """Replace the settings computed from those read at `read_version` (False: someone saved
        settings since; read them again and re-apply the change)."""
        unchanged = "settings_version = :read"
        if read_version == 0:
            unchanged = f"({unchanged} OR attribute_not_exists(settings_version))"
        written = self._update_district(
            district_id,
            UpdateExpression="SET settings = :settings ADD settings_version :one",
            ConditionExpression=f"attribute_exists(pk) AND {unchanged}",
            ExpressionAttributeValues={
                ":settings": _field_value("settings", settings),
                ":read": read_version,
                ":one": 1,
            },
        )
        return written is not None

    def count_poll_failure(
        self, district_id: str, error: ErrorInfo, next_poll_at: datetime
    ) -> District | None:
        """One more failed poll in a row (an atomic count, whatever else is written meanwhile);
        the district as it is now (None: it does not exist)."""
        try:
            item = self._table.update_item(
                Key={"pk": district_pk(district_id), "sk": DISTRICT_SK},
                UpdateExpression=(
                    "SET last_error = :error, next_poll_at = :next, gsi1sk = :due"
                    " ADD consecutive_failures :one"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":error": _field_value("last_error", error),
                    ":next": _field_value("next_poll_at", next_poll_at),
                    ":due": _due_key(district_id, next_poll_at),
                    ":one": 1,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error_:
            if error_.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(District, item)

    def _update_district(self, district_id: str, **kwargs: Any) -> District | None:
        try:
            old = self._table.update_item(
                Key={"pk": district_pk(district_id), "sk": DISTRICT_SK}, ReturnValues="ALL_OLD", **kwargs
            ).get("Attributes")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(District, old)

    # One poll per district at a time ---------------------------------------------------------------

    def take_poll_lease(
        self, district_id: str, sync_id: str, *, now: datetime, until: datetime, again: bool = True
    ) -> str | None:
        """Take the district's poll lease for `sync_id` until `until` (with `again`, also when
        `sync_id` holds it already: the poll of a sync the API started, a retry); an expired lease
        is taken over (its poll crashed). None when taken, else the sync id that holds it."""
        item = {
            "pk": district_pk(district_id),
            "sk": POLL_LEASE_SK,
            "sync_id": sync_id,
            "taken_at": _iso(now),
            "expires_at": int(until.timestamp()),
            "expiration": int(until.timestamp()) + LEASE_CLEANUP_SECONDS,  # the table's TTL
        }
        free = Attr("pk").not_exists() | Attr("expires_at").lt(int(now.timestamp()))
        if again:
            free = free | Attr("sync_id").eq(sync_id)
        for _ in range(3):  # a lease released between the refusal and the read is taken again
            if self._conditional_put(item, free):
                return None
            holder = self._table.get_item(
                Key={"pk": district_pk(district_id), "sk": POLL_LEASE_SK}, ConsistentRead=True
            ).get("Item")
            if holder is not None:
                return str(holder["sync_id"])
        raise RuntimeError(f"the poll lease of {district_id} keeps changing hands")

    def release_poll_lease(self, district_id: str, sync_id: str) -> None:
        """Free the district for the next poll, unless another poll took the lease meanwhile."""
        try:
            self._table.delete_item(
                Key={"pk": district_pk(district_id), "sk": POLL_LEASE_SK},
                ConditionExpression=Attr("sync_id").eq(sync_id),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def districts_due(self, now: datetime) -> Iterator[District]:
        """Districts whose next poll time has come (one indexed query, paged)."""
        condition = Key("gsi1pk").eq(DUE_PARTITION) & Key("gsi1sk").lte(f"{_iso(now)}#~")
        for item in self._query(IndexName=DUE_INDEX, KeyConditionExpression=condition):
            yield from_item(District, item)

    # Schools -------------------------------------------------------------------------------------

    def get_school(self, district_id: str, school_id: str) -> School | None:
        item = self._table.get_item(Key={"pk": district_pk(district_id), "sk": f"SCHOOL#{school_id}"}).get(
            "Item"
        )
        return from_item(School, item) if item else None

    def get_schools(self, district_id: str, school_ids: Iterable[str]) -> dict[str, School]:
        """The named schools that exist, by id: BatchGetItem, 100 keys a call (Clear holds for
        1,800 schools is 18 calls, not 1,800); keys DynamoDB hands back unprocessed are asked again."""
        schools = (
            from_item(School, item) for item in self._batch_get(self._school_keys(district_id, school_ids))
        )
        return {school.school_id: school for school in schools}

    def hold_states(
        self,
        district_id: str,
        school_ids: Iterable[str],
        *,
        also: Iterable[Literal["undone_applied_at", "safe_changes"]] = (),
    ) -> dict[str, HoldState]:
        """The named schools that exist, by id, as Clear holds decides them: as `get_schools`, but
        only the status and pending sync id are read, and `also` when an undone change set had been
        applied or the safe changes."""
        paths = ["school_id", "#status", "pending.sync_id", *(_HOLD_STATE_PATHS[field] for field in also)]
        items = self._batch_get(
            self._school_keys(district_id, school_ids),
            ProjectionExpression=", ".join(paths),
            ExpressionAttributeNames={"#status": "status"},
        )
        states = (
            HoldState(
                school_id=item["school_id"],
                status=item["status"],
                pending_sync_id=item.get("pending", {}).get("sync_id"),
                safe_changes=item.get("pending", {}).get("safe_changes"),
                undone_applied_at=item.get("undone_applied_at"),
            )
            for item in items
        )
        return {state.school_id: state for state in states}

    @staticmethod
    def _school_keys(district_id: str, school_ids: Iterable[str]) -> list[dict[str, str]]:
        return [{"pk": district_pk(district_id), "sk": f"SCHOOL#{school_id}"} for school_id in school_ids]

    def _batch_get(self, keys: list[dict[str, str]], **options: Any) -> list[dict[str, Any]]:
        """The items of `keys` that exist: BatchGetItem, 100 keys a call, BATCH_WORKERS calls at
        once; keys DynamoDB hands back unprocessed are asked again."""
        name = self._table.name

        def read_batch(batch: list[dict[str, str]]) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []

            def read(request: dict[str, Any]) -> dict[str, Any]:
                page = self._table.meta.client.batch_get_item(RequestItems=request)
                found.extend(page.get("Responses", {}).get(name, []))
                return page.get("UnprocessedKeys") or {}

            _with_unprocessed_retries(read, {name: {"Keys": batch, **options}}, BATCH_GET_ATTEMPTS, _unread)
            return found

        batches = [keys[start : start + BATCH_GET_MAX] for start in range(0, len(keys), BATCH_GET_MAX)]
        return [plain(item) for found in _concurrently(read_batch, batches) for item in found]

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        """Put `items`: BatchWriteItem, 25 a call, BATCH_WORKERS calls at once; what DynamoDB
        leaves unprocessed is sent again."""
        name = self._table.name

        def write(request: dict[str, Any]) -> dict[str, Any]:
            unwritten: dict[str, Any] = self._table.meta.client.batch_write_item(RequestItems=request).get(
                "UnprocessedItems"
            )
            return unwritten or {}

        def write_batch(batch: list[dict[str, Any]]) -> None:
            request = {name: [{"PutRequest": {"Item": item}} for item in batch]}
            _with_unprocessed_retries(write, request, BATCH_WRITE_ATTEMPTS, _unwritten)

        _concurrently(
            write_batch,
            [items[start : start + BATCH_WRITE_MAX] for start in range(0, len(items), BATCH_WRITE_MAX)],
        )

    def schools(self, district_id: str) -> Iterator[School]:
        """Every school of a district: one Query, however many schools (paged transparently)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("SCHOOL#")
        for item in self._query(KeyConditionExpression=condition):
            yield from_item(School, item)

    def school_summaries(self, district_id: str) -> Iterator[SchoolSummary]:
        """Every school of a district, only what the school list sorts and filters on: one paged
        Query with a projection (a held school's item carries its holds, change sets and counts;
        the list reads those only for the page it shows, with `get_schools`)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("SCHOOL#")
        items = self._query(
            KeyConditionExpression=condition,
            ProjectionExpression="school_id, #name, clever_school_id, #status, last_synced_at",
            ExpressionAttributeNames={"#name": "name", "#status": "status"},
        )
        for item in items:
            yield from_item(SchoolSummary, item)

    def put_school(self, school: School, *, only_if_new: bool = False) -> bool:
        """Write a school; with `only_if_new`, False when it already existed (nothing written)."""
        item = self._school_item(school)
        if not only_if_new:
            self._table.put_item(Item=item)
            return True
        return self._conditional_put(item, Attr("pk").not_exists())

    def put_school_if_unchanged(self, school: School) -> bool:
        """Write a school read earlier, unless anything wrote it since (False: read it again).

        Evaluation reads, thinks, then writes the whole item; without this a commit, a claim or
        a newer evaluation landing in between would be silently undone."""
        unchanged = Attr("version").eq(school.version)
        if school.version == 0:
            unchanged = unchanged | Attr("version").not_exists()
        return self._conditional_put(self._school_item(school), unchanged)

    def claim_apply(self, district_id: str, school_id: str, pending: SnapshotRef) -> bool:
        """Mark `pending` as being written to the roster, while it is still the pending change set."""
        try:
            self._table.update_item(
                Key={"pk": district_pk(district_id), "sk": f"SCHOOL#{school_id}"},
                UpdateExpression="SET dirty.#sync = :ref ADD version :one",
                ConditionExpression="#pending.#sync_id = :sync",
                ExpressionAttributeNames={
                    "#sync": pending.sync_id,
                    "#pending": "pending",
                    "#sync_id": "sync_id",
                },
                ExpressionAttributeValues={":ref": to_item(pending), ":sync": pending.sync_id, ":one": 1},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def clear_dirty(self, district_id: str, school_id: str, sync_ids: list[str]) -> None:
        """Forget change sets whose abandoned roster writes were put right."""
        names = {f"#s{n}": sync_id for n, sync_id in enumerate(sync_ids)}
        self._table.update_item(
            Key={"pk": district_pk(district_id), "sk": f"SCHOOL#{school_id}"},
            UpdateExpression=f"REMOVE {', '.join(f'dirty.{name}' for name in names)} ADD version :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":one": 1},
        )

    def record_notified(self, school: School, sync_id: str, reasons: Iterable[str]) -> bool:
        """Record that these hold reasons were mailed: only `notified_reasons` is written, and only
        while the school is still on hold for `sync_id` (False: it moved on, nothing written)."""
        notified = sorted(set(school.notified_reasons) | {str(reason) for reason in reasons})
        try:
            # the client, not the Table resource: record_notified_each calls this from threads
            self._table.meta.client.update_item(
                TableName=self._table.name,
                Key={"pk": district_pk(school.district_id), "sk": f"SCHOOL#{school.school_id}"},
                # the version bump makes an evaluation that read the school before this re-read it
                UpdateExpression="SET #notified = :notified ADD version :one",
                ConditionExpression="#pending.#sync_id = :sync_id AND #status = :on_hold",
                ExpressionAttributeNames={
                    "#notified": "notified_reasons",
                    "#pending": "pending",
                    "#sync_id": "sync_id",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":notified": notified,
                    ":sync_id": sync_id,
                    ":on_hold": SchoolStatus.ON_HOLD.value,
                    ":one": 1,
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_notified_each(
        self, sync_id: str, notified: Iterable[tuple[School, Iterable[str]]]
    ) -> list[bool | ClientError | BotoCoreError]:
        """`record_notified` for each (school, reasons) a mail named, BATCH_WORKERS writes in flight
        at once (1,800 schools: ~10 s one after another on AWS). In order: True recorded, False
        moved on, or the error that school's write raised (the others are written all the same).

        One UpdateItem a school, not a batch: each write holds only while its own school is still
        held by `sync_id`. BatchWriteItem takes no condition; TransactWriteItems is all or nothing,
        so one school released meanwhile would cancel its 99 neighbours' writes (and every write
        costs double)."""

        def record(entry: tuple[School, Iterable[str]]) -> bool | ClientError | BotoCoreError:
            school, reasons = entry
            try:
                return self.record_notified(school, sync_id, reasons)
            except (ClientError, BotoCoreError) as error:
                return error

        return _concurrently(record, list(notified))

    def commit_apply(self, school: School, sync_id: str, entry: AuditEntry) -> bool:
        """Move the applied-snapshot pointer, with the status and an audit entry, in one
        transaction, only while `sync_id` is still the school's pending change set."""
        assert school.applied is not None
        return self._commit_school(
            school,
            entry,
            update=(
                "SET applied = :applied, #status = :status, holds = :empty_list,"
                " notified_reasons = :empty_list, last_synced_at = :at, dirty = :empty_map,"
                " last_applied = :last_applied REMOVE #pending, undone_applied_at"
            ),
            condition="#pending.#sync_id = :sync_id",
            names=_SCHOOL_NAMES,
            values={
                ":applied": to_item(school.applied),
                ":last_applied": school.last_applied and to_item(school.last_applied),
                ":status": school.status.value,
                ":empty_list": [],
                ":empty_map": {},
                ":at": (school.last_synced_at or entry.at).isoformat(),
                ":sync_id": sync_id,
            },
        )

    def commit_safe_apply(
        self, school: School, sync_id: str, applied_sha256: str | None, entry: AuditEntry
    ) -> bool:
        """Apply safe changes' commit: move the applied pointer to the safe part's snapshot and make
        the school's pending change set, holds and counts those of the rest, with an audit entry, in
        one transaction; only while `sync_id` is still pending on hold over the applied snapshot
        `applied_sha256` (None: nothing applied yet) the safe part was computed from."""
        assert school.applied
        assert school.pending
        assert school.safe_applied
        base = "attribute_not_exists(applied)" if applied_sha256 is None else "applied.sha256 = :base"
        stored = to_item(school)
        values: dict[str, Any] = {
            ":applied": stored["applied"],
            ":pending": stored["pending"],
            ":holds": stored["holds"],
            ":changes": stored["changes"],
            ":safe": stored["safe_applied"],
            ":last_applied": stored.get("last_applied"),
            ":empty_map": {},
            ":sync_id": sync_id,
            ":on_hold": SchoolStatus.ON_HOLD.value,
        }
        if applied_sha256 is not None:
            values[":base"] = applied_sha256
        sets, removes = _with_undone_applied_at(school, values)
        return self._commit_school(
            school,
            entry,
            update=(
                "SET applied = :applied, #pending = :pending, holds = :holds, changes = :changes,"
                " safe_applied = :safe, dirty = :empty_map, last_applied = :last_applied"
                + "".join(f", {clause}" for clause in sets)
                + (f" REMOVE {', '.join(removes)}" if removes else "")
            ),
            condition=f"#pending.#sync_id = :sync_id AND #status = :on_hold AND {base}",
            names=_SCHOOL_NAMES,
            values=values,
        )

    def claim_undo(
        self, district_id: str, school_id: str, name: str, target: SnapshotRef, applied_sha256: str
    ) -> bool:
        """Mark Undo's roster writes (toward `target`) as begun under `name`, while the snapshot Undo
        reverts is still the applied one: a crash leaves them for the next apply to put right."""
        try:
            self._table.update_item(
                Key={"pk": district_pk(district_id), "sk": f"SCHOOL#{school_id}"},
                UpdateExpression="SET dirty.#name = :ref ADD version :one",
                ConditionExpression="applied.sha256 = :base",
                ExpressionAttributeNames={"#name": name},
                ExpressionAttributeValues={":ref": to_item(target), ":base": applied_sha256, ":one": 1},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def commit_undo(
        self, school: School, applied_sha256: str, repaired: list[str], entry: AuditEntry
    ) -> bool:
        """Undo's commit: the applied pointer back (or gone, for a first sync), the undone change set
        pending on hold, the dirty entries put right forgotten, with an audit entry, in one transaction;
        only while the snapshot undone (`applied_sha256`) is still applied and no other change set is
        pending (a newer sync evaluated meanwhile: its apply may be writing)."""
        assert school.pending is not None
        stored = to_item(school)
        values: dict[str, Any] = {
            ":pending": stored["pending"],
            ":on_hold": SchoolStatus.ON_HOLD.value,
            ":holds": stored["holds"],
            ":notified": stored["notified_reasons"],
            ":changes": stored["changes"],
            ":base": applied_sha256,
            ":sync_id": school.pending.sync_id,
        }
        sets = "#pending = :pending, #status = :on_hold, holds = :holds, notified_reasons = :notified,"
        sets += " changes = :changes"
        removes = ["last_applied", "safe_applied", *(f"dirty.#d{n}" for n in range(len(repaired)))]
        undone_sets, undone_removes = _with_undone_applied_at(school, values)
        sets += "".join(f", {clause}" for clause in undone_sets)
        removes += undone_removes
        if school.applied is None:
            removes.append("applied")
        else:
            sets += ", applied = :applied"
            values[":applied"] = stored["applied"]
        return self._commit_school(
            school,
            entry,
            update=f"SET {sets} REMOVE {', '.join(removes)}",
            condition=(
                "applied.sha256 = :base AND (attribute_not_exists(#pending) OR #pending.#sync_id = :sync_id)"
            ),
            names=_SCHOOL_NAMES | {f"#d{n}": name for n, name in enumerate(repaired)},
            values=values,
        )

    def _commit_school(
        self,
        school: School,
        entry: AuditEntry,
        *,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> bool:
        """One transaction: the school's item updated by `update` (its version bumped) only while
        `condition` holds, with `entry` in the audit log and the school's history. False when the
        condition no longer held: nothing was written."""
        key = {"pk": district_pk(school.district_id), "sk": f"SCHOOL#{school.school_id}"}
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": key,
                            "UpdateExpression": f"{update} ADD version :one",
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": dict(names),
                            "ExpressionAttributeValues": {**values, ":one": 1},
                        }
                    },
                    *(
                        {"Put": {"TableName": self._table.name, "Item": item}}
                        for item in self._audit_items(entry)
                    ),
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    @staticmethod
    def _school_item(school: School) -> dict[str, Any]:
        bumped = school.model_copy(update={"version": school.version + 1})
        item = to_item(bumped, pk=district_pk(school.district_id), sk=f"SCHOOL#{school.school_id}")
        if school.undone_applied_at is not None:
            item["undone_applied_at"] = school.undone_applied_at
        return item

    # Clever schools not matched to a school yet ---------------------------------------------------

    def clever_schools(self, district_id: str) -> Iterator[CleverSchool]:
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("CLEVER_SCHOOL#")
        for item in self._query(KeyConditionExpression=condition):
            yield from_item(CleverSchool, item)

    def put_clever_school(self, school: CleverSchool) -> None:
        self._table.put_item(
            Item=to_item(
                school, pk=district_pk(school.district_id), sk=f"CLEVER_SCHOOL#{school.clever_school_id}"
            )
        )

    def delete_clever_school(self, district_id: str, clever_school_id: str) -> None:
        self._table.delete_item(
            Key={"pk": district_pk(district_id), "sk": f"CLEVER_SCHOOL#{clever_school_id}"}
        )

    # Sync runs -----------------------------------------------------------------------------------

    def get_sync_run(self, district_id: str, sync_id: str) -> SyncRun | None:
        item = self._table.get_item(Key={"pk": district_pk(district_id), "sk": f"SYNC#{sync_id}"}).get("Item")
        return from_item(SyncRun, item) if item else None

    def put_sync_run(self, run: SyncRun) -> None:
        self._table.put_item(Item=to_item(run, pk=district_pk(run.district_id), sk=f"SYNC#{run.sync_id}"))

    def sync_runs(self, district_id: str, *, limit: int = 20) -> list[SyncRun]:
        """The latest sync runs, newest first (sync ids sort by time)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("SYNC#")
        page = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit)
        return [from_item(SyncRun, item) for item in page.get("Items", [])]

    def sync_run_page(
        self, district_id: str, *, limit: int = 20, after: str | None = None
    ) -> tuple[list[SyncRun], str | None]:
        """A page of the district's sync runs, newest first, and the sort key to go on after (None
        at the end): the sync history."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("SYNC#")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = {"pk": district_pk(district_id), "sk": after}
        page = self._table.query(**kwargs)
        cursor = page.get("LastEvaluatedKey", {}).get("sk")
        return [from_item(SyncRun, item) for item in page.get("Items", [])], cursor

    # What a sync did to each of its changed schools ---------------------------------------------------

    def record_outcome(self, outcome: SyncSchoolOutcome, *, at: datetime, only_if_new: bool = False) -> None:
        """The evaluate flow's decision for a school under a sync (kept 90 days)."""
        item = to_item(
            outcome,
            pk=district_pk(outcome.district_id),
            sk=_outcome_sk(outcome.sync_id, outcome.school_id),
        ) | {"expiration": int((at + OUTCOME_KEPT).timestamp())}
        if only_if_new:
            self._conditional_put(item, Attr("pk").not_exists())
        else:
            self._table.put_item(Item=item)

    def settle_outcome(self, district_id: str, sync_id: str, school_id: str, *, applied: bool) -> None:
        """The flow is done with the school under this sync: its changes applied, or superseded
        (nothing written when evaluation recorded no outcome for it)."""
        try:
            self._table.update_item(
                Key={"pk": district_pk(district_id), "sk": _outcome_sk(sync_id, school_id)},
                UpdateExpression="SET settled = :yes, applied = :applied",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":yes": True, ":applied": applied},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def outcomes(self, district_id: str, sync_id: str) -> list[SyncSchoolOutcome]:
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with(f"OUTCOME#{sync_id}#")
        return [from_item(SyncSchoolOutcome, item) for item in self._query(KeyConditionExpression=condition)]

    # Audit log (append-only) ------------------------------------------------------------------------

    def append_audit(
        self,
        entry: AuditEntry,
        histories: Mapping[str, AuditEntry] | None = None,
        *,
        deferred: Collection[str] = (),
    ) -> str:
        """Append to the district's log, and to the history of each school the entry names: a copy
        of the entry, or the school's own account of it from `histories` (its own result, so that
        an action over 1,800 schools writes 1,800 small history items, not 1,800 copies of it all).
        The schools `deferred` get theirs later, from `append_histories` under the key returned."""
        key = f"{entry.at.isoformat(timespec='microseconds')}#{uuid.uuid4().hex[:12]}"
        [logged, *histories_items] = self._audit_items(entry, histories, key=key, skip=frozenset(deferred))
        self._table.put_item(Item=logged, ConditionExpression=Attr("sk").not_exists())
        self._batch_put(histories_items)
        return key

    def append_histories(self, district_id: str, key: str, histories: Mapping[str, AuditEntry]) -> None:
        """The history items `append_audit` deferred, under its `key`: writing them again (a retried
        step) puts the same items under the same keys, so each school still has one."""
        pk = district_pk(district_id)
        self._batch_put(
            [
                _history_item(entry, school_id, pk, f"HISTORY#{school_id}#{key}")
                for school_id, entry in histories.items()
            ]
        )

    @staticmethod
    def _audit_items(
        entry: AuditEntry,
        histories: Mapping[str, AuditEntry] | None = None,
        *,
        key: str | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """The log entry, then one copy per named school under `HISTORY#<school>#…`, so that a
        school's history is one short Query however long the district's log grows."""
        suffix = key or f"{entry.at.isoformat(timespec='microseconds')}#{uuid.uuid4().hex[:12]}"
        pk = district_pk(entry.district_id)
        return [
            to_item(entry, pk=pk, sk=f"AUDIT#{suffix}"),
            *(
                _history_item(
                    (histories or {}).get(school_id, entry), school_id, pk, f"HISTORY#{school_id}#{suffix}"
                )
                for school_id in entry.school_ids
                if school_id not in skip
            ),
        ]

    def audit(
        self, district_id: str, *, limit: int = 50, after: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """A page of the audit log, newest first, and the cursor of the next page (None at the end)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("AUDIT#")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = {"pk": district_pk(district_id), "sk": after}
        page = self._table.query(**kwargs)
        cursor = page.get("LastEvaluatedKey", {}).get("sk")
        return [from_item(AuditEntry, item) for item in page.get("Items", [])], cursor

    # ---------------------------------------------------------------------------------------------

    def _conditional_put(self, item: dict[str, Any], condition: Any) -> bool:
        try:
            self._table.put_item(Item=item, ConditionExpression=condition)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # API -----------------------------------------------------------------------------------------

    def districts(self) -> Iterator[District]:
        """Every district (one paged Query of the `gsi1` index, which holds every district)."""
        for item in self._query(IndexName=DUE_INDEX, KeyConditionExpression=Key("gsi1pk").eq(DUE_PARTITION)):
            yield from_item(District, item)

    def district_by_clever_id(self, clever_district_id: str) -> District | None:
        """The district onboarded from this Clever district, if any (the `gsi1` index, filtered:
        a sign-in asks this once, and there are few districts)."""
        found = self._query(
            IndexName=DUE_INDEX,
            KeyConditionExpression=Key("gsi1pk").eq(DUE_PARTITION),
            FilterExpression=Attr("clever_district_id").eq(clever_district_id),
        )
        return next((from_item(District, item) for item in found), None)

    def district_ids(self) -> list[str]:
        """Every district's id (one paged Query of the `gsi1` index, which holds every district)."""
        condition = Key("gsi1pk").eq(DUE_PARTITION)
        items = self._query(
            IndexName=DUE_INDEX, KeyConditionExpression=condition, ProjectionExpression="district_id"
        )
        return sorted(str(item["district_id"]) for item in items)

    def audit_entries_of_school(
        self, district_id: str, school_id: str, *, limit: int = 20
    ) -> list[AuditEntry]:
        """A school's audit entries, newest first: one Query of its history items (what their key
        says is not stored again: see `_history_item`)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with(f"HISTORY#{school_id}#")
        page = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit)
        implied = {"district_id": district_id, "school_ids": [school_id]}
        return [from_item(AuditEntry, implied | plain(item)) for item in page.get("Items", [])]


def _history_item(entry: AuditEntry, school_id: str, pk: str, sk: str) -> dict[str, Any]:
    """A school's history item, without what its key already says (the district; the school, when
    the entry names it alone) nor an empty detail: an action over 1,800 schools writes 1,800 of
    these, and their size is its cost."""
    item = to_item(entry, pk=pk, sk=sk)
    del item["district_id"]
    if item.get("school_ids") == [school_id]:
        del item["school_ids"]
    if not item.get("detail"):
        item.pop("detail", None)
    return item


def _with_unprocessed_retries(
    send: Callable[[dict[str, Any]], dict[str, Any]],
    request: dict[str, Any],
    attempts: int,
    give_up: Callable[[dict[str, Any]], Any],
) -> None:
    """`send` a batch request, then what DynamoDB hands back unprocessed (throttling), with jittered
    exponential backoff, at most `attempts` calls; `give_up` raises on what is still left.
    (DynamoDB's batch calls succeed with an unprocessed part, so botocore's retries never see it.)"""
    left = request

    def attempt() -> dict[str, Any]:
        nonlocal left
        left = send(left)
        return left

    Retrying(
        retry=retry_if_result(bool),  # part of the batch is still unprocessed
        wait=wait_exponential_jitter(multiplier=0.05, max=2),
        stop=stop_after_attempt(attempts),
        retry_error_callback=lambda _: give_up(left),
    )(attempt)


def _unread(unprocessed: dict[str, Any]) -> Any:
    raise UnprocessedItemsError(f"{sum(len(r['Keys']) for r in unprocessed.values())} items left unread")


def _unwritten(unprocessed: dict[str, Any]) -> Any:
    raise UnprocessedItemsError(f"{sum(len(r) for r in unprocessed.values())} items left unwritten")


def _concurrently(work: Callable[[Any], T], batches: list[Any]) -> list[T]:
    """`work` over `batches` (or single items), BATCH_WORKERS at a time (boto3 clients are
    thread-safe); in order. One batch runs inline: a request naming one school starts no thread."""
    if len(batches) <= 1:
        return [work(batch) for batch in batches]
    with ThreadPoolExecutor(
        max_workers=min(BATCH_WORKERS, len(batches)), thread_name_prefix="state-batch"
    ) as pool:
        return list(pool.map(work, batches))
