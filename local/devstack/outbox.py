"""The e-mail moto's SES captured, in the shape of `GET /dev/outbox`."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from moto.ses.models import ses_backends


class _TextOf(HTMLParser):
    """moto keeps only the HTML part of a message that had both; recover readable text from it."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in ("p", "br", "li", "tr", "h1", "h2", "h3", "div"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _TextOf()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def sent_messages(account_id: str, region: str) -> list[dict[str, Any]]:
    messages = ses_backends[account_id][region].sent_messages
    return [
        {
            "to": list(message.destinations.get("ToAddresses", [])),
            "subject": message.subject,
            "text": text_of(message.body),
            "html": message.body,
        }
        for message in messages
        if hasattr(message, "subject")
    ]
