"""What a subscriber receives from an SNS Publish request, for the tests' recording fakes of the SNS client.

Every alert is published with MessageStructure=json (kbsync_alerts.publish): "default" holds the plain text that the
e-mail and SQS (alert inbox) subscribers receive, "https" the chat notification that Amazon Q Developer in chat
applications receives. A fake that records ``as_received(kwargs)`` keeps the request as the text subscribers see it
(``Message`` = the "default" entry), and holds the request to AWS's rules for such a message and its "https" entry
to the chat-notification contract, on every publish of every test that uses it.
"""

from __future__ import annotations

import json
from typing import Any

import kbsync_contracts

#: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: a string "default" entry, used by every protocol
#: without its own.
DEFAULT = "default"
#: The protocol Amazon Q Developer in chat applications subscribes with (kbsync_alerts.CHAT_PROTOCOL).
CHAT = "https"


def structured(kwargs: dict[str, Any]) -> dict[str, str]:
    """The entries of a MessageStructure=json Publish request (AssertionError unless SNS would accept it)."""
    assert kwargs.get("MessageStructure") == "json", "an alert is published with MessageStructure=json"
    entries = json.loads(kwargs["Message"])
    assert isinstance(entries, dict) and isinstance(entries.get(DEFAULT), str), "SNS requires a string 'default'"
    return entries


def chat_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The chat notification of a published alert, checked against its contract."""
    chat: dict[str, Any] = json.loads(structured(kwargs)[CHAT])
    kbsync_contracts.validate("chat-notification", chat)
    return chat


def as_received(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Publish request with ``Message`` as an e-mail or SQS subscriber receives it (the "default" entry); its
    chat notification is checked on the way."""
    chat_of(kwargs)
    return {**kwargs, "Message": structured(kwargs)[DEFAULT]}
