"""The state table: districts, schools, Clever schools, sync runs and the audit log.

One table, partitioned by district (`pk = DISTRICT#<id>`), so that everything the dashboard shows
for a district is one Query away. Districts are also indexed on `gsi1` by their next poll time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from sis_sync.model import AuditEntry, CleverSchool, District, School, SchoolStatus, SnapshotRef, SyncRun
from sis_sync.store.items import from_item, plain, to_item

DISTRICT_SK = "#DISTRICT"
DUE_INDEX = "gsi1"
DUE_PARTITION = "DISTRICTS"


def district_pk(district_id: str) -> str:
    return f"DISTRICT#{district_id}"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class StateTable:
    def __init__(self, table: Any) -> None:
        """`table` is a boto3 DynamoDB Table resource."""
        self._table = table

    # Districts -----------------------------------------------------------------------------------

    def get_district(self, district_id: str) -> District | None:
        item = self._table.get_item(Key={"pk": district_pk(district_id), "sk": DISTRICT_SK}).get("Item")
        return from_item(District, item) if item else None

    def put_district(self, district: District) -> None:
        due = _iso(district.next_poll_at) if district.next_poll_at else "0"
        self._table.put_item(
            Item=to_item(
                district,
                pk=district_pk(district.district_id),
                sk=DISTRICT_SK,
                gsi1pk=DUE_PARTITION,
                gsi1sk=f"{due}#{district.district_id}",
            )
        )

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

    def schools(self, district_id: str) -> Iterator[School]:
        """Every school of a district: one Query, however many schools (paged transparently)."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with("SCHOOL#")
        for item in self._query(KeyConditionExpression=condition):
            yield from_item(School, item)

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
            self._table.update_item(
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

    def commit_apply(self, school: School, sync_id: str, entry: AuditEntry) -> bool:
        """Move the applied-snapshot pointer, with the status and an audit entry, in one
        transaction, only while `sync_id` is still the school's pending change set."""
        assert school.applied is not None
        key = {"pk": district_pk(school.district_id), "sk": f"SCHOOL#{school.school_id}"}
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": key,
                            "UpdateExpression": (
                                "SET applied = :applied, #status = :status, holds = :empty_list,"
                                " notified_reasons = :empty_list, last_synced_at = :at, dirty = :empty_map"
                                " REMOVE #pending ADD version :one"
                            ),
                            "ConditionExpression": "#pending.#sync_id = :sync_id",
                            "ExpressionAttributeNames": {
                                "#pending": "pending",
                                "#sync_id": "sync_id",
                                "#status": "status",
                            },
                            "ExpressionAttributeValues": {
                                ":applied": to_item(school.applied),
                                ":status": school.status.value,
                                ":empty_list": [],
                                ":empty_map": {},
                                ":at": (school.last_synced_at or entry.at).isoformat(),
                                ":sync_id": sync_id,
                                ":one": 1,
                            },
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
        return to_item(bumped, pk=district_pk(school.district_id), sk=f"SCHOOL#{school.school_id}")

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

    # Audit log (append-only) ------------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> None:
        """Append to the district's log, and to the history of each school the entry names."""
        [logged, *histories] = self._audit_items(entry)
        self._table.put_item(Item=logged, ConditionExpression=Attr("sk").not_exists())
        with self._table.batch_writer() as batch:
            for item in histories:
                batch.put_item(Item=item)

    @staticmethod
    def _audit_items(entry: AuditEntry) -> list[dict[str, Any]]:
        """The log entry, then one copy per named school under `HISTORY#<school>#…`, so that a
        school's history is one short Query however long the district's log grows."""
        suffix = f"{entry.at.isoformat(timespec='microseconds')}#{uuid.uuid4().hex[:12]}"
        pk = district_pk(entry.district_id)
        return [
            to_item(entry, pk=pk, sk=f"AUDIT#{suffix}"),
            *(to_item(entry, pk=pk, sk=f"HISTORY#{school_id}#{suffix}") for school_id in entry.school_ids),
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
        """A school's audit entries, newest first: one Query of its history items."""
        condition = Key("pk").eq(district_pk(district_id)) & Key("sk").begins_with(f"HISTORY#{school_id}#")
        page = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False, Limit=limit)
        return [from_item(AuditEntry, plain(item)) for item in page.get("Items", [])]
