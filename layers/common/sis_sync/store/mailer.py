"""Sending mail through SES v2, behind a small protocol the notifier depends on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sis_sync.mail_content import Email


class Mailer(Protocol):
    def send(self, to: Sequence[str], email: Email) -> str:
        """Send `email` to `to`; the provider's message id."""
        ...


class SesMailer:
    """Mail through SES v2 from the verified sender identity."""

    def __init__(self, sesv2: Any, sender: str) -> None:
        """`sesv2` is a boto3 "sesv2" client; `sender` the SES-verified SENDER_EMAIL."""
        self._ses = sesv2
        self._sender = sender

    def send(self, to: Sequence[str], email: Email) -> str:
        if not self._sender:
            raise ValueError("SENDER_EMAIL is not set")
        response = self._ses.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": list(to)},
            Content={
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                }
            },
        )
        message_id: str = response["MessageId"]
        return message_id
