"""The three HTTP event shapes Lambda receives, read the same way, and the answers to them.

API Gateway HTTP API (payload 2.0) and Function URLs put the method under
``requestContext.http`` and the path in ``rawPath``; the REST API (payload 1.0) uses
``httpMethod`` and ``path``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

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


def query(event: Event) -> dict[str, Sequence[str]]:
    """The query string's parameters: payload 2.0 carries the query string as it came in
    ``rawQueryString`` (its ``queryStringParameters`` join repeats with commas), payload 1.0 in
    ``multiValueQueryStringParameters``
    (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html)."""
    raw = event.get("rawQueryString")
    if isinstance(raw, str):
        return dict(parse_qs(raw, keep_blank_values=True))
    multi = _mapping(event.get("multiValueQueryStringParameters"))
    if multi:
        return {str(k): [str(v) for v in values] for k, values in multi.items() if isinstance(values, list)}
    return {str(k): [str(v)] for k, v in _mapping(event.get("queryStringParameters")).items()}


def cookies(event: Event) -> list[str]:
    """The request's cookies, ``name=value`` each: payload 2.0 lists them in ``cookies`` (and
    leaves them out of ``headers``), payload 1.0 keeps the ``Cookie`` header."""
    listed = event.get("cookies")
    if isinstance(listed, list):
        return [str(c) for c in listed]
    headers = _mapping(event.get("headers"))
    header = next((str(v) for k, v in headers.items() if str(k).lower() == "cookie"), "")
    return [part.strip() for part in header.split(";") if part.strip()]


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
