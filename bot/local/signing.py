"""Requests signed the way Slack signs them (v0 HMAC-SHA256 of the raw body): slash commands,
and clicks on a message's buttons built from the message as the bot posted it."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


def command_body(
    text: str,
    *,
    team_id: str = "T0LOCAL",
    channel_id: str = "C0LOCAL",
    user_id: str = "U0LOCAL",
    response_url: str = "",
    command: str = "/imagine",
    trigger_id: str | None = None,
) -> str:
    # Slack gives every invocation its own trigger_id (and repeats it when it retries).
    trigger_id = trigger_id or new_trigger_id()
    return urlencode(
        {
            "token": "unused-legacy-verification-token",
            "team_id": team_id,
            "team_domain": "local",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": "local-user",
            "command": command,
            "text": text,
            "api_app_id": "A0LOCAL",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def new_trigger_id() -> str:
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def click_body(
    message: dict[str, Any],
    channel_id: str,
    message_ts: str,
    *,
    action_id: str,
    block_id: str,
    user_id: str = "U0LOCAL",
    team_id: str = "T0LOCAL",
    response_url: str = "",
    trigger_id: str | None = None,
) -> str:
    """A ``block_actions`` payload for a click on a button of ``message`` (as the bot posted it).

    Slack echoes the button's ``action_id``, ``block_id`` and ``value`` back, with the clicker,
    the message and a fresh response_url and trigger_id
    (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).
    """
    [button] = [
        element
        for block in message.get("blocks", [])
        if block.get("type") == "actions" and block.get("block_id") == block_id
        for element in block.get("elements", [])
        if element.get("action_id") == action_id
    ]
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "local-user", "team_id": team_id},
        "api_app_id": "A0LOCAL",
        "token": "unused-legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": "local"},
        "channel": {"id": channel_id, "name": "general"},
        "message": {**message, "ts": message_ts, "type": "message"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": button["text"],
                "value": button.get("value", ""),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # None only when the timestamp or body is None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
