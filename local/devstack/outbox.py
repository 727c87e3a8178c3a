"""The e-mail moto's SES captured, in the shape of `GET /dev/outbox`, and as a page for a browser."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any, Final

from moto.ses.models import ses_backends


class _TextOf(HTMLParser):
    """moto keeps only the HTML part of a message that had both; recover readable text from it,
    each link followed by its URL as the real text part has it (`text (https://…)`)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in ("p", "br", "li", "tr", "h1", "h2", "h3", "div"):
            self.parts.append("\n")
        elif tag == "a":
            self._hrefs.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip -= 1
        elif tag == "a" and self._hrefs and (href := self._hrefs.pop()):
            self.parts.append(f" ({href})")

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


_URL: Final = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)])")
_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sent e-mail (sis-sync demo)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }}
  article {{ border: 1px solid #c0c0c0; border-radius: 6px; padding: .5rem 1rem; margin: 1rem 0; }}
  h2 {{ font-size: 1.1rem; margin: .4rem 0; }}
  .body {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
  iframe {{ width: 100%; height: 28rem; border: 1px solid #c0c0c0; }}
  :focus-visible {{ outline: 3px solid #1a5fb4; outline-offset: 2px; }}
</style>
</head>
<body>
<main>
<h1>Sent e-mail</h1>
<p>What the demo's e-mail service (moto SES) captured, newest first: {count}.
  <a href="/dev/">Demo panel</a> · <a href="/">Dashboard</a>. Scripts get JSON here (any request
  that does not ask for HTML).</p>
{messages}
</main>
</body>
</html>
"""


def _linked(text: str) -> str:
    """The text, escaped, with every URL a link."""
    parts = _URL.split(text)  # the URLs are at the odd places
    return "".join(
        f'<a href="{html.escape(part)}">{html.escape(part)}</a>' if odd else html.escape(part)
        for odd, part in ((n % 2 == 1, part) for n, part in enumerate(parts))
    )


def _article(number: int, message: dict[str, Any]) -> str:
    to = ", ".join(message["to"]) or "(no recipient)"
    return (
        f'<article data-testid="outbox-message" aria-labelledby="mail-{number}">'
        f'<h2 id="mail-{number}">{html.escape(message["subject"])}</h2>'
        f"<p>To: {html.escape(to)}</p>"
        f'<div class="body" data-testid="outbox-text">{_linked(message["text"])}</div>'
        f"<details><summary>The HTML part, as sent</summary>"
        f'<iframe title="HTML part of: {html.escape(message["subject"])}" sandbox="" '
        f'srcdoc="{html.escape(message["html"])}"></iframe></details>'
        "</article>"
    )


def outbox_page(messages: list[dict[str, Any]]) -> str:
    """`GET /dev/outbox` for a browser: each message's subject, recipients and text, links clickable."""
    count = f"{len(messages)} message" + ("" if len(messages) == 1 else "s")
    articles = [_article(n, m) for n, m in reversed(list(enumerate(messages, start=1)))]
    return _PAGE.format(count=count, messages="\n".join(articles) or "<p>No e-mail sent yet.</p>")
