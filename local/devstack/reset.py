"""What `POST /dev/reset` empties in moto: the data the system wrote after the stack was built.

The stack's resources stay (building them again takes most of a devstack's start-up); their
contents go: every table's items, every bucket's objects (all versions), the district tokens,
SES's captured mail and the state machines' executions (a deterministic execution name from an
earlier test would otherwise be "already started"). moto runs in the devstack's own process, so
what its API cannot delete (or only slowly) is cleared in its memory.
"""

from __future__ import annotations

from typing import Any, Final

from moto.dynamodb.models import dynamodb_backends
from moto.ses.models import ses_backends
from moto.stepfunctions.responses import get_backend as stepfunctions_backend

S3_BATCH: Final = 1000  # S3's DeleteObjects limit
SSM_BATCH: Final = 10  # SSM's DeleteParameters limit


def empty_tables(account_id: str, region: str) -> None:
    """Every item of every table goes; the tables, their indexes and TTL settings stay. In moto's
    memory, as the outbox is read: deleting a first sync's ~1,200 items through the API takes
    seconds."""
    for table in dynamodb_backends[account_id][region].tables.values():
        table.items.clear()


def empty_buckets(s3: Any) -> None:
    """Every object version and delete marker of every bucket goes; the buckets stay."""
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        objects: list[dict[str, str]] = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                objects.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        for start in range(0, len(objects), S3_BATCH):
            s3.delete_objects(
                Bucket=name, Delete={"Objects": objects[start : start + S3_BATCH], "Quiet": True}
            )


def delete_parameters(ssm: Any, prefix: str) -> None:
    """The parameters under `prefix` (the district tokens onboarding stored) go."""
    names = [
        parameter["Name"]
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True)
        for parameter in page["Parameters"]
    ]
    for start in range(0, len(names), SSM_BATCH):
        ssm.delete_parameters(Names=names[start : start + SSM_BATCH])


def forget_sent_mail(account_id: str, region: str) -> None:
    """moto's SES keeps what was sent (the outbox) and its count (the send quota) in memory."""
    backend = ses_backends[account_id][region]
    backend.sent_messages.clear()
    backend.sent_message_count = 0
    backend.rejected_messages_count = 0


def forget_executions(account_id: str, region: str) -> None:
    """The executions of every state machine (Step Functions has no call to delete one)."""
    for machine in stepfunctions_backend(account_id, region).state_machines:
        machine.executions.clear()
        for version in machine.versions.values():
            version.executions.clear()
