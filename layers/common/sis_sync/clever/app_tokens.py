"""The Clever app's own view: which districts have authorized it, and with which token.

`GET {oauth}/oauth/tokens?owner_type=district` with HTTP basic auth (the app's client id and
secret); Clever serves it on https://clever.com, not on the Data API's host. The same retries,
error codes and all-or-nothing paging as the Data API client apply: a listing that fails part-way
raises, so a district can never look "gone" because a page was lost.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Final

import httpx

from sis_sync.clever.client import CleverHttp, RetryPolicy
from sis_sync.clever.errors import CleverPagingLoop
from sis_sync.clever.models import DistrictToken, TokenPage
from sis_sync.observability import logger

DEFAULT_OAUTH_URL: Final = "https://clever.com"
TOKENS_PATH: Final = "/oauth/tokens"
DEFAULT_RETRY: Final = RetryPolicy()
MAX_TOKEN_PAGES: Final = 1_000  # 1,000 pages of tokens is far beyond any app: a runaway listing


class CleverApp(CleverHttp):
    """Clever's OAuth API for one app (client id + secret)."""

    def __init__(
        self,
        oauth_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("the Clever app's client id and secret are required")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        super().__init__(
            oauth_url, f"Basic {basic}", http=http, retry=retry, sleep=sleep, clock=clock, timeout_s=timeout_s
        )

    def district_tokens(self) -> list[DistrictToken]:
        """Every district token of the app, returned only once the last page arrived."""
        url = httpx.URL(f"{self._base}{TOKENS_PATH}", params={"owner_type": "district"})
        requested = {str(url)}
        tokens: list[DistrictToken] = []
        for number in range(1, MAX_TOKEN_PAGES + 1):
            page = self._parse_body(self._get(url, self._retry, None), url, TokenPage)
            tokens.extend(page.data)
            if page.next_uri is None:
                logger.info("Clever app tokens listed", pages=number, tokens=len(tokens))
                return tokens
            url = self._resolve(page.next_uri)
            if str(url) in requested:
                raise CleverPagingLoop(f"next link repeats an earlier page of {TOKENS_PATH} (page {number})")
            requested.add(str(url))
        raise CleverPagingLoop(f"{TOKENS_PATH} has more than {MAX_TOKEN_PAGES} pages")
