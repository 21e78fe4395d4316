"""Requests signed the way Slack signs them (v0 HMAC-SHA256 of the raw body): slash commands,
clicks on a message's buttons built from the message as the bot posted it, and Events API
events (JSON) such as a mention of the bot."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
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


def shortcut_body(
    message: dict[str, Any],
    channel_id: str,
    *,
    callback_id: str,
    user_id: str = "U0LOCAL",
    team_id: str = "T0LOCAL",
    response_url: str = "",
    trigger_id: str | None = None,
) -> str:
    """A ``message_action`` payload: the message shortcut ``callback_id`` used on ``message``
    (with its ``ts``, and ``thread_ts`` when it is in a thread) in ``channel_id``
    (https://api.slack.com/reference/interaction-payloads/shortcuts)."""
    payload = {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "action_ts": f"{time.time():.6f}",
        "message_ts": message["ts"],
        "team": {"id": team_id, "domain": "local"},
        "user": {"id": user_id, "username": "local-user", "team_id": team_id, "name": "local-user"},
        "channel": {"id": channel_id, "name": "general"},
        "message": {"type": "message", **message},
        "api_app_id": "A0LOCAL",
        "token": "unused-legacy-verification-token",
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def view_state(view: dict[str, Any], typed: Mapping[str, str | None]) -> dict[str, Any]:
    """``view.state.values`` as Slack sends them when ``view``'s inputs are submitted: keyed by
    block_id, then action_id, each with the element's type and ``value`` (text and number inputs;
    a number input's value is text too), ``selected_option`` (a select, as one of its own
    options) or ``selected_conversation`` (a conversations_select: a channel id). ``typed`` gives
    what the person entered by block_id (None: emptied, for a select a value among its options,
    for a conversations_select a channel id); the other inputs keep their initial value, as a form
    left alone does (https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload)."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        kind = element["type"]
        block_id = block["block_id"]
        if kind == "static_select":
            if block_id in typed:
                chosen = [o for o in element["options"] if o["value"] == typed[block_id]]
                if typed[block_id] is not None and not chosen:
                    raise ValueError(f"{typed[block_id]!r} is not an option of {block_id}")
                selected = chosen[0] if chosen else None
            else:
                selected = element.get("initial_option")
            state = {"type": kind, "selected_option": selected}
        elif kind == "conversations_select":  # the picked channel's id
            picked = typed[block_id] if block_id in typed else element.get("initial_conversation")
            state = {"type": kind, "selected_conversation": picked}
        elif kind == "multi_conversations_select":  # the picked channels' ids, comma-separated
            if block_id in typed:
                given = typed[block_id]
                chosen = given.split(",") if given else []
            else:
                chosen = element.get("initial_conversations", [])
            state = {"type": kind, "selected_conversations": chosen}
        else:
            value = typed[block_id] if block_id in typed else element.get("initial_value")
            state = {"type": kind, "value": value}
        values[block_id] = {element["action_id"]: state}
    return values


def submission_body(
    view: dict[str, Any],
    typed: Mapping[str, str | None],
    *,
    user_id: str = "U0LOCAL",
    team_id: str = "T0LOCAL",
    response_urls: Sequence[Mapping[str, str]] = (),
) -> str:
    """A ``view_submission`` payload for ``view`` (the view object Slack answered views.open
    with: id, hash, private_metadata...) submitted with ``typed`` (see :func:`view_state`).
    ``response_urls`` are the ones Slack issued for it: none unless the view asked (the Slack
    stand-in's ``submission()`` issues them as Slack does)."""
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "local"},
        "user": {"id": user_id, "username": "local-user", "name": "local-user", "team_id": team_id},
        "api_app_id": "A0LOCAL",
        "token": "unused-legacy-verification-token",
        "trigger_id": new_trigger_id(),
        "view": {**view, "state": {"values": view_state(view, typed)}},
        "response_urls": [dict(url) for url in response_urls],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


BOT_USER_ID = "U0BOT"  # the bot's user, as the local Slack recorder's auth.test names it


def new_event_id() -> str:
    return "Ev" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(10))


def app_mention(
    text: str,
    *,
    channel_id: str = "C0LOCAL",
    user_id: str = "U0LOCAL",
    team_id: str = "T0LOCAL",
    ts: str | None = None,
    thread_ts: str | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event: ``text`` typed after ``@imagine``, with Slack's escaping of
    ``&``, ``<`` and ``>`` (docs.slack.dev/messaging/formatting-message-text), in the thread
    ``thread_ts`` when given (https://docs.slack.dev/reference/events/app_mention)."""
    ts = ts or f"{time.time():.6f}"
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user_id,
        "text": f"<@{bot_user_id}> {escaped}",
        "ts": ts,
        "team": team_id,
        "channel": channel_id,
        "event_ts": ts,
        "client_msg_id": secrets.token_hex(16),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def event_body(
    event: dict[str, Any],
    *,
    team_id: str = "T0LOCAL",
    event_id: str | None = None,
    event_time: int | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> str:
    """An Events API request body: ``event`` in its ``event_callback`` wrapper, as JSON
    (https://docs.slack.dev/apis/events-api/). Slack sends a retry of an event with the same
    ``event_id``; pass it to build one."""
    return json.dumps(
        {
            "token": "unused-legacy-verification-token",
            "team_id": team_id,
            "api_app_id": "A0LOCAL",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or new_event_id(),
            "event_time": int(time.time()) if event_time is None else event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
    )


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"  # what the Events API sends


def signed_headers(
    secret: str, body: str, timestamp: int | None = None, *, content_type: str = FORM
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # None only when the timestamp or body is None
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
