"""http_handler against random bodies, headers, encodings and event shapes: never a 5xx, never a
stack trace in the answer, never a job queued without a valid signature."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.local.signing import command_body, signed_headers
from tests.conftest import SIGNING_SECRET, Stack, call_http, http_event
from tests.logs import service_log_lines

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(max_size=300)
header_names = st.sampled_from(
    [
        "content-type",
        "x-slack-request-timestamp",
        "x-slack-signature",
        "x-slack-retry-num",
        "X-Slack-Signature",
    ]
) | st.text(min_size=1, max_size=20)
# Timestamps Slack never sends: slack_sdk's int(timestamp) would raise on these inside Bolt (a 500).
timestamps = st.one_of(
    st.sampled_from(["abc", "1e3", "9" * 400, "-5", "12.5", " 12", "1_000", "\u0661\u0662", "0x10", ""]),
    st.integers(min_value=-(10**500), max_value=10**500).map(str),
    st.floats().map(str),
    texts,
)
headers = st.dictionaries(header_names, st.one_of(texts, timestamps, st.integers(), st.none()), max_size=6)
# JSON that is not an object, nested past the recursion limit, or of the wrong type where Bolt reads
# a field: each would raise in Bolt before its signature check, bare or inside a form's payload=.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
deep_json = st.integers(1, 3000).flatmap(
    lambda n: st.sampled_from(
        ["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, '{"a":' + "[" * n + "]" * n + "}"]
    )
)
wrong_types = st.sampled_from(
    [
        "authorizations",
        "response_urls",
        "enterprise",
        "team",
        "user",
        "channel",
        "event",
        "container",
        "view",
        "command",
        "actions",
    ]
).flatmap(lambda key: json_values.map(lambda value: json.dumps({key: value})))
# The same inside the payloads Bolt tells apart by type: interactions, views and events.
typed_wrong = st.builds(
    lambda kind, key, value: json.dumps({"type": kind, key: value}),
    st.sampled_from(
        ["block_actions", "view_submission", "view_closed", "event_callback", "block_suggestion"]
    ),
    st.sampled_from(["actions", "view", "event", "action_id", "callback_id"]),
    json_values
    | st.dictionaries(st.sampled_from(["type", "callback_id", "action_id", "bot_id"]), json_values),
)
json_bodies = st.one_of(
    st.sampled_from(["[]", "1", '"x"', "null", "true", "{}"]),
    json_values.map(json.dumps),
    deep_json,
    wrong_types,
    typed_wrong,
)
slack_bodies = json_bodies | json_bodies.map(lambda body: "payload=" + quote(body))
content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "application/json; charset=utf-8", "text/plain"]
)
paths = (
    st.sampled_from(["/slack/events", "/images/abc/T1/2026/01/01/" + "a" * 32 + "/0.jpg", "/", "/images/"])
    | texts
)
methods = st.sampled_from(["POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) | st.text(max_size=8)
bodies = st.one_of(
    texts,
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.builds(lambda t: command_body(t), texts),  # well-formed commands
    slack_bodies,
)
COMMAND_START = command_body("")[:40]  # how every body command_body makes begins


def _no_trace(response: dict[str, Any]) -> None:
    assert response["statusCode"] < 500, response
    assert "Traceback" not in str(response.get("body"))
    assert 'File "' not in str(response.get("body"))


@FUZZ
@given(
    shape=st.sampled_from(["http", "rest", "url"]),
    method=methods,
    path=paths,
    body=bodies,
    random_headers=headers,
    encode=st.booleans(),
)
def test_random_requests_in_every_shape(
    env: Stack, shape: str, method: str, path: str, body: str, random_headers: dict[str, Any], encode: bool
) -> None:
    event = http_event(shape, method, path, body, {}, base64_body=encode and body.isascii())
    event["headers"] = random_headers
    _no_trace(call_http(event))
    assert env.queued_bodies() == []


@FUZZ
@given(
    shape=st.sampled_from(["http", "rest", "url"]),
    body=slack_bodies | bodies,
    content_type=content_types,
    stamp=timestamps | st.none(),
    right_secret=st.booleans(),
)
def test_malformed_timestamps_and_bodies_are_refused_without_a_trace(
    env: Stack, shape: str, body: str, content_type: str, stamp: str | None, right_secret: bool
) -> None:
    headers = signed_headers(SIGNING_SECRET if right_secret else "not-the-secret", body)
    headers["Content-Type"] = content_type
    if stamp is not None:
        headers["X-Slack-Request-Timestamp"] = stamp
    event = http_event(shape, "POST", "/slack/events", body, headers, base64_body=shape == "url")
    with service_log_lines() as lines:
        _no_trace(call_http(event))
    assert "Traceback" not in lines.getvalue() and '"exception"' not in lines.getvalue()
    # A well-formed command signed right, with its own timestamp, is a real command: it may be
    # queued (hypothesis found `/imagine 0`). Bolt reads it as a form under any content type but
    # exactly application/json (slack_bolt.request.internals.parse_body). Nothing else may be.
    genuine = right_secret and stamp is None and body.startswith(COMMAND_START)
    queued = env.queued_bodies()  # taken either way, so the next example starts from none
    if not (genuine and content_type != "application/json"):
        assert queued == []


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["body", "headers", "isBase64Encoded", "requestContext", "rawPath", "path", "httpMethod"]
        ),
        st.one_of(
            st.none(),
            texts,
            st.integers(),
            st.booleans(),
            st.lists(texts, max_size=3),
            st.dictionaries(texts, texts, max_size=3),
        ),
    )
)
def test_malformed_event_fields(env: Stack, fields: dict[str, Any]) -> None:
    body = command_body("a tiger")
    event = http_event("http", "POST", "/slack/events", body, signed_headers(SIGNING_SECRET, body))
    event.update(fields)
    _no_trace(call_http(event))


@FUZZ
@given(
    text=texts,
    wrong_secret=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s != SIGNING_SECRET),
)
def test_signed_with_the_wrong_secret_never_queues(env: Stack, text: str, wrong_secret: str) -> None:
    body = command_body(text)
    event = http_event(
        "url", "POST", "/slack/events", body, signed_headers(wrong_secret, body), base64_body=True
    )
    response = call_http(event)
    assert response["statusCode"] == 401
    assert env.queued_bodies() == []


@FUZZ
@given(raw=st.binary(max_size=200) | st.sampled_from([b"{", b'{"type": ', b"[1,", b"{}", b"payload=%7B"]))
def test_signed_garbage_bodies_never_break_the_handler(env: Stack, raw: bytes) -> None:
    body = raw.decode("utf-8", "replace")
    event = http_event("url", "POST", "/slack/events", "", signed_headers(SIGNING_SECRET, body))
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    _no_trace(call_http(event))
    for queued in env.queued_bodies():  # only a real /imagine with a prompt can queue
        assert '"prompt"' in queued
