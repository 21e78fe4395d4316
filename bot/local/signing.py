"""Slash-command requests signed the way Slack signs them (v0 HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import secrets
import time
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
    trigger_id = (
        trigger_id or f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"
    )
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


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # None only when the timestamp or body is None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
