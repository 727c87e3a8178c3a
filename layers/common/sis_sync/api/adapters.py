"""The API's two data-access seams besides the tables: reading a change CSV from S3 (a boto3
client built by `services`) and starting a sync's poll (the poll state machine, through
`store.executions`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from sis_sync.api.models import PollRequest
from sis_sync.store.executions import Executions

PRESIGNED_SECONDS = 300
INLINE_LIMIT = 5 * 1024 * 1024


@dataclass(frozen=True)
class StoredCsv:
    """A change CSV small enough to return in the response, or a short-lived URL to fetch it from
    (valid for `expires_in` seconds)."""

    body: bytes | None = None
    url: str | None = None
    expires_in: int = PRESIGNED_SECONDS


class CsvReader(Protocol):
    def read(self, key: str) -> StoredCsv | None: ...


class PollStarter(Protocol):
    def start(self, request: PollRequest) -> None: ...


class S3CsvReader:
    """Returns the stored bytes as written (already neutralised); a CSV too big for a Lambda
    response (6 MB) is served through a presigned URL instead."""

    def __init__(self, s3: Any, bucket: str, *, inline_limit: int = INLINE_LIMIT) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._inline_limit = inline_limit

    def read(self, key: str) -> StoredCsv | None:
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        if int(head["ContentLength"]) > self._inline_limit:
            # changes/<district>/<school>/<sync>.csv -> a download named changes-<school>-<sync>.csv
            filename = re.sub(r"[^0-9A-Za-z._-]", "_", "changes-" + "-".join(PurePosixPath(key).parts[-2:]))
            url: str = self._s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=PRESIGNED_SECONDS,
            )
            return StoredCsv(url=url, expires_in=PRESIGNED_SECONDS)
        body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return StoredCsv(body=body)


class PollMachineStarter:
    """Starts the poll state machine with the request as its one poll order: the request returns at
    once (API Gateway's 29 s would not fit a district's poll) and the poll runs one step per
    invocation, as the schedule's do, so no district is too large for it. The execution is named
    by the sync id: a repeated start of the same sync starts no second poll."""

    def __init__(self, executions: Executions) -> None:
        self._executions = executions

    def start(self, request: PollRequest) -> None:
        self._executions.start_unique(request.sync_id, {"polls": [request.model_dump(mode="json")]})
