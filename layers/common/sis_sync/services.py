"""Wiring: boto3 clients and stores built once per container from the environment."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3

from sis_sync.api.adapters import PollMachineStarter, S3CsvReader
from sis_sync.api.context import ApiContext
from sis_sync.applying import Applier
from sis_sync.clever.app_tokens import CleverApp
from sis_sync.clever.client import CleverClient
from sis_sync.clever_sign_in import SIGN_IN_RETRY, SIGN_IN_TIMEOUT_S, CleverSignIn
from sis_sync.config import Environment, environment
from sis_sync.enrollment import Enrollment
from sis_sync.evaluation import Evaluator
from sis_sync.links import container_link_key
from sis_sync.notifications import Notifier
from sis_sync.polling import Poller
from sis_sync.store.app_credentials import AppCredentialsStore
from sis_sync.store.change_sets import ChangeSetBucket
from sis_sync.store.executions import Executions
from sis_sync.store.mailer import SesMailer
from sis_sync.store.pulls import PullBucketAndTable
from sis_sync.store.releases import ReleaseStarter
from sis_sync.store.roster_table import RosterTable
from sis_sync.store.snapshots import SnapshotBucket
from sis_sync.store.state_table import StateTable
from sis_sync.store.tokens import TokenStore


def utcnow() -> datetime:
    return datetime.now(UTC)


# boto3's default session is not safe to build clients from in several threads at once (the
# devstack runs Map iterations in threads), and building them is slow: build each once, locked.
_lock = threading.Lock()


@cache
def client(service: str) -> Any:
    with _lock:
        return boto3.client(service)


@cache
def state_table() -> StateTable:
    with _lock:
        return StateTable(boto3.resource("dynamodb").Table(environment().state_table))


def snapshot_bucket() -> SnapshotBucket:
    return SnapshotBucket(client("s3"), environment().snapshot_bucket)


def token_store() -> TokenStore:
    return TokenStore(client("ssm"), environment().token_parameter_prefix)


def clever_client_factory(env: Environment) -> Any:
    def make(token: str) -> CleverClient:
        return CleverClient(env.clever_api_url, token)

    return make


@cache
def roster_table() -> RosterTable:
    with _lock:
        return RosterTable(boto3.resource("dynamodb").Table(environment().roster_table))


def evaluator() -> Evaluator:
    return Evaluator(state=state_table(), snapshots=snapshot_bucket(), s3=client("s3"), now=utcnow)


def applier() -> Applier:
    return Applier(
        state=state_table(), roster=roster_table(), snapshots=snapshot_bucket(), now=utcnow, s3=client("s3")
    )


def notify_disconnected(district_id: str, sync_id: str) -> None:
    """Ask the notify function, asynchronously, to e-mail the district's admins (once per sync)."""
    payload = {"kind": "disconnected", "district_id": district_id, "sync_id": sync_id}
    client("lambda").invoke(
        FunctionName=environment().notify_function_name, InvocationType="Event", Payload=json.dumps(payload)
    )


def notifier() -> Notifier:
    env = environment()
    return Notifier(
        state=state_table(),
        mailer=SesMailer(client("sesv2"), env.sender_email),
        link_key=container_link_key(client("secretsmanager"), env.link_key_secret_arn),
        dashboard_url=env.dashboard_url,
        now=utcnow,
    )


def poller() -> Poller:
    env = environment()
    return Poller(
        state=state_table(),
        snapshots=snapshot_bucket(),
        tokens=token_store(),
        executions=Executions(client("stepfunctions"), env.evaluate_state_machine_arn),
        clever=clever_client_factory(env),
        now=utcnow,
        notify_disconnected=notify_disconnected,
        pulls=pull_store(),
    )


def pull_store() -> PullBucketAndTable:
    """A poll's pages (S3) and cursors (the state table) while its pull is in progress."""
    env = environment()
    with _lock:
        table = boto3.resource("dynamodb").Table(env.state_table)
    return PullBucketAndTable(client("s3"), env.snapshot_bucket, table, utcnow())


def reset() -> None:
    """Forget cached clients and environment (tests and the devstack switch endpoints)."""
    client.cache_clear()
    state_table.cache_clear()
    roster_table.cache_clear()
    environment.cache_clear()


# --- Admin API (functions/api) -----------------------------------------------------------------------


def admin_api() -> ApiContext:
    """What the admin API's reads and actions work with, wired to this container's clients."""
    env = environment()
    return ApiContext(
        state=state_table(),
        roster=roster_table(),
        csv=S3CsvReader(client("s3"), env.snapshot_bucket, inline_limit=env.csv_inline_limit),
        releases=ReleaseStarter(
            Executions(client("stepfunctions"), env.release_state_machine_arn),
            client("s3"),
            env.snapshot_bucket,
        ),
        polls=PollMachineStarter(Executions(client("stepfunctions"), env.poll_state_machine_arn)),
        tokens=token_store(),
        clever=clever_client_factory(env),
        link_key=container_link_key(client("secretsmanager"), env.link_key_secret_arn),
        now=utcnow,
        change_sets=ChangeSetBucket(client("s3"), env.snapshot_bucket),
    )


# --- Districts onboarding themselves (functions/discover_districts) ---------------------------------


def enrollment() -> Enrollment:
    """The discovery step's stores and Clever clients, wired to this container's clients."""
    env = environment()
    return Enrollment(
        state=state_table(),
        tokens=token_store(),
        credentials=AppCredentialsStore(client("secretsmanager"), env.clever_app_secret_arn),
        app=lambda credentials: CleverApp(
            env.clever_oauth_url, credentials.client_id, credentials.client_secret.get_secret_value()
        ),
        clever=clever_client_factory(env),
        now=utcnow,
        notify_disconnected=notify_disconnected,
    )


# --- Log in with Clever (functions/pre_token_generation) ---------------------------------------------


def clever_sign_in() -> CleverSignIn:
    """The sign-in trigger's stores and a Clever client that fits Cognito's 5-second wait."""
    url = environment().clever_api_url
    return CleverSignIn(
        state=state_table(),
        tokens=token_store(),
        clever=lambda token: CleverClient(url, token, retry=SIGN_IN_RETRY, timeout_s=SIGN_IN_TIMEOUT_S),
    )
