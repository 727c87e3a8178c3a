"""poll_clever against the Clever simulator over loopback, with AWS in moto built from template.yaml."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3

from sis_sync import services
from sis_sync.clever.client import CleverClient
from sis_sync.model import Connection, School, SnapshotRef, SyncStatus
from sis_sync.polling import poll_district, sync_id_for
from tests.iam_guard import acting_as
from tests.onboarded import DISTRICT, T0, TOKEN, poll


def executions(stack: Any) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=stack.evaluate_arn)["executions"]


def snapshot_keys(stack: Any) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="snapshots/")
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def test_first_poll_matches_every_shared_school_and_snapshots_each(stack: Any, simulator: Any) -> None:
    # Given an onboarded district whose Clever data is a generated 3-school district
    sim, _ = simulator
    # When it is polled for the first time
    run = poll(sync_id_for(DISTRICT, T0))
    # Then every shared school is a matched school with a snapshot, and one execution covers them
    schools = list(services.state_table().schools(DISTRICT))
    assert run.status is SyncStatus.SUCCEEDED
    assert sorted(s.clever_school_id for s in schools) == sorted(sim.district.school_ids())
    assert {s.school_id for s in run.changed_schools} == {s.school_id for s in schools}
    assert len(snapshot_keys(stack)) == 3
    students = sum(s.counts["student"] for s in run.changed_schools)
    assert students >= 300  # a student enrolled in two schools is in both snapshots
    [execution] = executions(stack)
    assert execution["name"] == run.sync_id
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.onboarded
    assert district.connection is Connection.CONNECTED


def test_rerunning_a_sync_id_does_no_double_work(stack: Any) -> None:
    # Given a completed sync
    first = poll("sync-a")
    # When the same sync id runs again (a Lambda retry)
    again = poll("sync-a")
    # Then nothing new happens
    assert again.sync_id == first.sync_id
    assert again.finished_at == first.finished_at
    assert len(executions(stack)) == 1


def test_unchanged_schools_start_nothing(stack: Any) -> None:
    # Given a district polled once, whose schools then record the snapshots as applied
    first = poll("sync-a")
    state = services.state_table()
    for changed in first.changed_schools:
        school = state.get_school(DISTRICT, changed.school_id)
        assert school is not None
        applied = SnapshotRef(sync_id=first.sync_id, key=changed.snapshot_key, sha256=changed.sha256)
        state.put_school(school.model_copy(update={"applied": applied}))
    # When Clever still serves the same data
    second = poll("sync-b")
    # Then every school is unchanged and no execution starts
    assert second.changed_schools == []
    assert len(second.unchanged_school_ids) == 3
    assert len(executions(stack)) == 1


def test_a_listing_whose_third_page_keeps_failing_changes_nothing(stack: Any, simulator: Any) -> None:
    # Given Clever pages of 50 whose third page of students always answers 502
    sim, _ = simulator
    sim.page_size_cap = 50
    sim.faults.fail_pages("/v3.0/users", 3, role="student", status=502, html=False)
    # When the district is polled
    run = poll("sync-a")
    # Then the run failed and there is no snapshot, no school change and no execution
    assert run.status is SyncStatus.FAILED
    assert run.error is not None
    assert run.error.code == "unavailable"
    assert snapshot_keys(stack) == []
    assert executions(stack) == []
    assert list(services.state_table().schools(DISTRICT)) == []
    district = services.state_table().get_district(DISTRICT)
    assert district is not None
    assert district.consecutive_failures == 1
    assert district.connection is Connection.CONNECTED


def test_a_revoked_token_disconnects_the_district(stack: Any, simulator: Any) -> None:
    # Given a district whose token Clever has revoked
    sim, _ = simulator
    sim.faults.revoke_token(TOKEN)
    # When it is polled
    run = poll("sync-a")
    # Then it is disconnected at once, with Clever's reason recorded and audited
    district = services.state_table().get_district(DISTRICT)
    assert run.status is SyncStatus.FAILED
    assert district is not None
    assert district.connection is Connection.DISCONNECTED
    assert district.last_error is not None
    assert district.last_error.code == "auth"
    # (the message does not repeat the code: the dashboard shows both, "auth: auth: ..." before)
    assert district.last_error.message == "Clever refused sis-sync's access (HTTP 401)"
    entries, _ = services.state_table().audit(DISTRICT)
    assert entries[0].action == "district_disconnected"


def test_repeated_outages_disconnect_after_the_configured_count(stack: Any, simulator: Any) -> None:
    # Given Clever answering 503 to everything
    sim, _ = simulator
    sim.faults.fail_pages("/v3.0/schools", 1, status=503, html=False)
    # When three polls in a row fail
    connections = []
    for n in range(3):
        poll(f"sync-{n}")
        district = services.state_table().get_district(DISTRICT)
        assert district is not None
        connections.append(district.connection)
    # Then only the third marks the district disconnected
    assert connections == [Connection.CONNECTED, Connection.CONNECTED, Connection.DISCONNECTED]


def test_a_platform_school_with_the_same_nces_id_is_matched_on_the_first_sync(
    stack: Any, simulator: Any
) -> None:
    # Given a platform school that carries the NCES id of one of Clever's schools
    _, base_url = simulator
    with CleverClient(base_url, TOKEN) as client:
        clever_school = client.list_all_schools()[0]
    state = services.state_table()
    state.put_school(
        School(district_id=DISTRICT, school_id="p-1", name="Our name for it", nces_id=clever_school.nces_id)
    )
    # When the district syncs for the first time
    run = poll("sync-a")
    # Then that school is matched (not duplicated) and the other shared schools are created
    school = state.get_school(DISTRICT, "p-1")
    assert school is not None
    assert school.clever_school_id == clever_school.id
    assert "p-1" in {s.school_id for s in run.changed_schools}
    assert len(list(state.schools(DISTRICT))) == 3


def test_a_retried_poll_reuses_the_execution_its_first_attempt_started(stack: Any) -> None:
    # Given a poll that started its evaluate execution, then died before recording the run as done
    first = poll("sync-a")
    assert first.execution_arn
    state = services.state_table()
    state.put_sync_run(first.model_copy(update={"status": SyncStatus.RUNNING, "finished_at": None}))
    # When Lambda retries it with the same sync id
    again = poll("sync-a")
    # Then the retry finds that execution (states:DescribeExecution) instead of starting a second one
    assert again.status is SyncStatus.SUCCEEDED
    assert again.execution_arn == first.execution_arn
    assert len(executions(stack)) == 1


def test_a_redelivered_poll_whose_evaluation_started_does_not_pull_or_rewrite_its_manifest(
    stack: Any, simulator: Any
) -> None:
    # Given a poll that started its evaluate execution, then died before recording the run as done
    sim, _ = simulator
    first = poll("sync-a")
    assert first.manifest_key
    s3 = boto3.client("s3")
    manifest = s3.get_object(Bucket=stack.bucket, Key=first.manifest_key)["Body"].read()
    services.state_table().put_sync_run(
        first.model_copy(update={"status": SyncStatus.RUNNING, "finished_at": None})
    )
    # and Clever's data changed meanwhile
    sim.scenarios.semester_end(school_id=sim.district.school_ids()[0])
    requests = sim.requests.total
    # When the same poll is delivered again
    again = poll("sync-a")
    # Then it finishes on the execution already started: no second pull, the manifest untouched
    assert again.status is SyncStatus.SUCCEEDED
    assert again.execution_arn == first.execution_arn
    assert sim.requests.total == requests
    assert s3.get_object(Bucket=stack.bucket, Key=first.manifest_key)["Body"].read() == manifest


def test_a_poll_whose_listing_is_cut_short_stores_nothing(stack: Any, simulator: Any) -> None:
    # Given Clever pages of 50 students whose second page comes without its next link
    sim, base_url = simulator
    sim.faults.truncate("/v3.0/users", 2, role="student")
    # When the district is polled asking for pages of 50
    poller = replace(
        services.poller(),
        clever=lambda token: CleverClient(base_url, token, page_limit=50, sleep=lambda _: None),
    )
    with acting_as("PollCleverFunction"):
        run = poll_district(poller, DISTRICT, "sync-a", trigger="test")
    # Then the poll failed as truncated: no snapshot, no school, no execution
    assert run.status is SyncStatus.FAILED
    assert run.error is not None
    assert run.error.code == "truncated"
    assert snapshot_keys(stack) == []
    assert executions(stack) == []
    assert list(services.state_table().schools(DISTRICT)) == []
