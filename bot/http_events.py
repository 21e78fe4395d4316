"""The three HTTP event shapes Lambda receives, read the same way.

API Gateway HTTP API (payload 2.0) and Function URLs put the method under
``requestContext.http`` and the path in ``rawPath``; the REST API (payload 1.0) uses
``httpMethod`` and ``path``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from slack_bolt.request import BoltRequest

Event = dict[str, Any]
Response = dict[str, Any]


def method_and_path(event: Event) -> tuple[str, str]:
    context = _mapping(event.get("requestContext"))
    http = _mapping(context.get("http"))
    method = http.get("method") or event.get("httpMethod") or context.get("httpMethod") or ""
    path = event.get("rawPath") or http.get("path") or event.get("path") or ""
    return str(method).upper(), str(path)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def normalized(event: Event) -> Event:
    """A copy that Bolt's Lambda adapter can read whatever arrived: headers a dict of strings,
    the body already decoded (undecodable bytes become U+FFFD, so the signature check fails
    rather than the handler)."""
    fixed = dict(event)
    headers = event.get("headers")
    fixed["headers"] = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    body = event.get("body")
    body = body if isinstance(body, str) else ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            body = ""
    fixed["body"] = body
    fixed["isBase64Encoded"] = False
    fixed["queryStringParameters"] = {}
    fixed["multiValueHeaders"] = {}
    fixed["cookies"] = []
    return fixed


# Slack sends Unix seconds as a plain decimal integer. Anything else could not have come from
# Slack, and slack_sdk's SignatureVerifier would raise on it (int("1e3"), or an int too large to
# compare with the clock) instead of refusing it.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# What reading a hostile body can raise: JSON that is not JSON or nests past the recursion limit,
# and values of the wrong type where Bolt expects an object.
_UNREADABLE = (ValueError, RecursionError, TypeError, AttributeError, LookupError)


def slack_refusal(event: Event) -> tuple[int, str] | None:
    """Why a normalized ``POST /slack/events`` cannot be a Slack request, checked before Bolt reads
    it: ``(401, reason)`` for a malformed timestamp, ``(400, reason)`` for a body Bolt cannot read
    (JSON that is not an object, also inside a form's ``payload=``); ``None`` when Bolt may go on."""
    headers: dict[str, str] = event["headers"]
    stamp = next((v for k, v in headers.items() if k.lower() == "x-slack-request-timestamp"), None)
    if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
        return 401, "the request timestamp is not a whole number of seconds"
    try:
        # The same reading Bolt's Lambda adapter does next: JSON for a JSON content type or a
        # body that starts with "{", the JSON inside a form's payload=, then the context fields.
        request = BoltRequest(body=event["body"], headers=dict(headers))
    except _UNREADABLE:
        return 400, "the body is not a JSON object or a form"
    if not isinstance(request.body, dict):
        return 400, "the body is not a JSON object or a form"
    return None


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
        "body": text,
    }


def bytes_response(status: int, data: bytes, content_type: str, headers: dict[str, str]) -> Response:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **headers},
        "body": base64.b64encode(data).decode(),
        "isBase64Encoded": True,
    }
