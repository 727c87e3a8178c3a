"""Back to the state just after `create_stack`: what `POST /dev/reset` and the tests' `aws` fixture
do between two uses of one stack instead of building it again (most of a devstack's start-up, and
3-10 s of every integration test).

`capture_fresh_state` keeps deep copies of moto's in-memory backends (every service, account and
region) right after the build; `restore_fresh_state` puts copies of them back. All backends are
copied in one pass in which a reference to a backend stays that backend: moto's objects refer to
backends (a Lambda function to the logs backend it logs into, IAM's account summary and a Step
Functions state machine to their own), and copied one by one, those would point at detached
copies after a restore. A backend keeps its identity across a restore (its `__dict__` is
replaced), so the references stay live. So everything
written since goes, whoever wrote it: every table's items, the state machines' executions (a
deterministic execution name from an earlier test would otherwise be "already started"), SES's
sent mail and send count (its verified identities stay as built), the parameters (district tokens),
the secrets' values and versions, Cognito's users, a queue or table a test created. S3 is the
exception: its keys hold temporary files and its bucket names are registered outside the backend,
so its objects (every version and delete marker) are deleted through the API and its buckets stay.

moto runs in the caller's process (the tests, or the devstack's threaded server): nothing may run
against it during a restore (the callers let executions finish first).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from moto.core.base_backend import BackendDict, backend_lock
from moto.core.model_instances import reset_model_data

S3_BATCH: Final = 1000  # S3's DeleteObjects limit
S3_SERVICE: Final = "s3"


class ResetRefusedError(Exception):
    """A reset while executions still run: restored under them, they would write into the new state."""


@dataclass(frozen=True)
class BackendCopy:
    """One service's backend in one account and region, as the build left it (`state` refers to
    the live backends, not to copies of them)."""

    services: Any  # moto's BackendDict for the service
    account_id: str
    region: str
    backend: Any
    state: dict[str, Any]

    @property
    def service(self) -> str:
        return str(self.services.service_name)

    def is_current(self) -> bool:
        """Still the backend moto serves (a `mock_aws` that starts or stops resets them all)."""
        accounts: dict[str, dict[str, Any]] = self.services
        return dict.get(accounts.get(self.account_id, {}), self.region) is self.backend


@dataclass(frozen=True)
class FreshState:
    """moto's state just after the build; `restore_fresh_state` returns to it."""

    copies: tuple[BackendCopy, ...]
    buckets: frozenset[str]


def capture_fresh_state(s3: Any) -> FreshState:
    with backend_lock:
        served = [
            (services, account_id, region, backend)
            for services in _all_services()
            if services.service_name != S3_SERVICE
            for account_id, region, backend in services.iter_backends()
        ]
        states = _copy_states([backend.__dict__ for *_, backend in served])
        copies = tuple(
            BackendCopy(services, account_id, region, backend, state)
            for (services, account_id, region, backend), state in zip(served, states, strict=True)
        )
    return FreshState(copies, _bucket_names(s3))


def restore_fresh_state(fresh: FreshState, s3: Any) -> bool:
    """Back to `fresh`; False, with nothing changed, when moto no longer holds that stack (it was
    reset, or a test created or deleted a bucket): the caller builds it again."""
    if not all(c.is_current() for c in fresh.copies) or _bucket_names(s3) != fresh.buckets:
        return False
    empty_buckets(s3)
    with backend_lock:
        states = _copy_states([c.state for c in fresh.copies])
        captured = {id(c.backend): state for c, state in zip(fresh.copies, states, strict=True)}
        for services in _all_services():
            if services.service_name != S3_SERVICE:
                for _, _, backend in services.iter_backends():
                    restore_backend(services.service_name, backend, captured.get(id(backend)))
        # moto tracks every model instance for its dashboard: without this each test's items and
        # objects would stay in memory for the whole session
        reset_model_data()
    return True


def restore_backend(service: str, backend: Any, state: dict[str, Any] | None) -> None:
    """To `state` (a copy of the capture: the capture stays for the next restore), or as new when
    the service was first used after the build (a queue a test made)."""
    if state is None:
        backend.reset()
    else:
        backend.__dict__ = state


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
        for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])


def _copy_states(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deep copies of backends' states in one pass, so what two of them share stays shared, in
    which every backend moto serves (S3's too) stays itself."""
    served = {
        id(backend): backend for services in _all_services() for *_, backend in services.iter_backends()
    }
    return copy.deepcopy(states, served)


def _all_services() -> list[Any]:
    """Every service's BackendDict moto has created (moto's own reset walks the same list)."""
    return list(BackendDict._instances)  # type: ignore[misc]


def _bucket_names(s3: Any) -> frozenset[str]:
    return frozenset(b["Name"] for b in s3.list_buckets()["Buckets"])
