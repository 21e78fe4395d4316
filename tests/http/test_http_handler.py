"""A signed /imagine into http_handler, in each event shape Lambda delivers."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.local.signing import command_body, signed_headers
from tests.conftest import SIGNING_SECRET, Stack, ack_json, call_http, command_event, http_event
from tests.logs import service_log_lines


@pytest.mark.parametrize("shape", ["http", "rest", "url"])
def test_signed_command_is_acknowledged_and_queued_without_calling_slack(env: Stack, shape: str) -> None:
    response = call_http(
        command_event("a cyborg tiger --ar 16:9 --seed 7", shape=shape, channel_id="C0TIGER")
    )

    ack = ack_json(response)
    assert ack["response_type"] == "ephemeral"
    assert "a cyborg tiger" in ack["text"]
    assert "680×384 (16:9)" in json.dumps(ack["blocks"], ensure_ascii=False)
    assert "seed 7" in json.dumps(ack["blocks"])
    bodies = env.queued_bodies()
    assert len(bodies) == 1
    job = json.loads(bodies[0])
    assert job["channel_id"] == "C0TIGER"
    assert job["request"] | {"prompt": "a cyborg tiger"} == job["request"]
    assert (job["request"]["width"], job["request"]["height"], job["request"]["seed"]) == (680, 384, 7)
    assert env.slack.snapshot() == []  # the acknowledgement path makes no Web API call


def test_absent_seed_is_chosen_at_once_and_reported(env: Stack) -> None:
    ack = ack_json(call_http(command_event("a quiet harbour")))
    job = json.loads(env.queued_bodies()[0])
    assert f"seed {job['request']['seed']}" in json.dumps(ack["blocks"])


@pytest.mark.parametrize("shape", ["http", "rest", "url"])
def test_bad_signature_is_refused_and_nothing_queued(env: Stack, shape: str) -> None:
    response = call_http(command_event("a cyborg tiger", shape=shape, secret="not-the-signing-secret"))
    assert response["statusCode"] == 401
    assert env.queued_bodies() == []


def test_old_timestamp_is_refused_and_nothing_queued(env: Stack) -> None:
    response = call_http(command_event("a cyborg tiger", timestamp=int(time.time()) - 6 * 60))
    assert response["statusCode"] == 401
    assert env.queued_bodies() == []


def test_tampered_body_is_refused(env: Stack) -> None:
    event = command_event("a cyborg tiger", shape="rest")
    event["body"] = event["body"].replace("cyborg", "robot")
    assert call_http(event)["statusCode"] == 401
    assert env.queued_bodies() == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("help", None),
        ("a tiger --ar 10:1", "between 1:4 and 4:1"),
        ("a tiger --seed -3", "0 to 4294967295"),
        ("a tiger --n 9", "1 to 4"),
        ("a tiger --steps 500", "1 to 50"),
        ("a tiger --cfg lots", "1 to 20"),
        ("a tiger --style raw", "not an option"),
        ("--ar 16:9", "Start with what you want to see"),
    ],
)
def test_help_and_malformed_commands_get_usage_and_queue_nothing(
    env: Stack, text: str, problem: str | None
) -> None:
    ack = ack_json(call_http(command_event(text)))
    shown = json.dumps(ack)
    assert ack["response_type"] == "ephemeral"
    assert "Usage:" in shown
    if problem:
        assert problem in shown
    assert env.queued_bodies() == []
    assert env.slack.snapshot() == []


def test_unknown_routes_answer_404(env: Stack) -> None:
    assert call_http(http_event("http", "GET", "/favicon.ico"))["statusCode"] == 404
    assert call_http(http_event("http", "DELETE", "/slack/events"))["statusCode"] == 404


# Requests Slack could never send, refused before Bolt sees them: slack_sdk's SignatureVerifier
# does int(timestamp) and compares it with the clock, and Bolt reads the body (json.loads, then
# payload.get(...)) before it checks the signature, so either would raise inside Bolt (a 500).
_DEEP = "[" * 1000 + "]" * 1000
BAD_TIMESTAMPS = ["abc", "1e3", "9" * 400, "-5", "12.5", "\u0661\u0662"]
NOT_OBJECTS = ["[]", "1", '"x"', "null", _DEEP, '{"authorizations": 5}', '{"a": ' + _DEEP + "}"]
BAD_BODIES = [("application/json", body) for body in NOT_OBJECTS] + [
    ("application/x-www-form-urlencoded", "payload=" + quote(body)) for body in [*NOT_OBJECTS, ""]
]


def _refused_quietly(
    env: Stack, event: dict[str, Any], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with service_log_lines() as lines:
        response = call_http(event)
    assert response["statusCode"] == status, response
    assert "Traceback" not in str(response["body"])
    logged = lines.getvalue().splitlines()
    assert len(logged) == 1, logged
    line = json.loads(logged[0])
    assert line["level"] == "WARNING" and "refused" in line["message"]
    assert "exception" not in line and "Traceback" not in logged[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert env.queued_bodies() == []


@pytest.mark.parametrize("shape", ["http", "rest", "url"])
@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS, ids=lambda s: s[:8])
def test_malformed_timestamp_is_refused_with_401_and_one_log_line(
    env: Stack, shape: str, stamp: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = command_body("a cyborg tiger")
    headers = signed_headers(SIGNING_SECRET, body) | {"X-Slack-Request-Timestamp": stamp}
    event = http_event(shape, "POST", "/slack/events", body, headers, base64_body=shape == "url")
    _refused_quietly(env, event, 401, caplog)


@pytest.mark.parametrize("shape", ["http", "rest", "url"])
@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES, ids=lambda v: v[:20])
def test_body_that_is_not_an_object_is_refused_with_400_and_one_log_line(
    env: Stack, shape: str, content_type: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Signed with the right secret: the shape alone is refused, whoever sent it.
    headers = signed_headers(SIGNING_SECRET, body) | {"Content-Type": content_type}
    event = http_event(shape, "POST", "/slack/events", body, headers, base64_body=shape == "url")
    _refused_quietly(env, event, 400, caplog)


# Objects whose fields Bolt's middleware and matchers read without checking their type: each
# would raise inside Bolt (a 500 and a traceback) even when correctly signed.
WRONG_TYPES = [
    '{"event": null}',
    '{"event": [1]}',
    '{"command": {"a": 1}}',
    '{"view": "x"}',
    '{"type": "view_submission", "view": {"callback_id": "x"}}',
    '{"type": "block_actions", "actions": []}',
    '{"type": "block_actions", "actions": [1]}',
]


@pytest.mark.parametrize("form", [False, True], ids=["json", "payload"])
@pytest.mark.parametrize("body", WRONG_TYPES)
def test_a_signed_body_with_a_field_of_a_type_slack_never_sends_is_refused_with_400(
    env: Stack, body: str, form: bool, caplog: pytest.LogCaptureFixture
) -> None:
    sent = "payload=" + quote(body) if form else body
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    headers = signed_headers(SIGNING_SECRET, sent) | {"Content-Type": kind}
    _refused_quietly(env, http_event("http", "POST", "/slack/events", sent, headers), 400, caplog)


@pytest.mark.parametrize("width", [10, 11, 12])
def test_a_zero_padded_current_timestamp_is_a_plain_integer_and_is_accepted(env: Stack, width: int) -> None:
    """Slack's recipe reads the timestamp as an integer for the five-minute check and signs the
    header's text as sent ("v0:" + timestamp + ":" + body;
    https://api.slack.com/authentication/verifying-requests-from-slack), as slack_sdk's
    SignatureVerifier does (``int(timestamp)``, then the HMAC of the string). A current time with
    leading zeros is therefore a valid request: no refusal before Bolt, a command queued."""
    body = command_body("a cyborg tiger")
    stamp = str(int(time.time())).zfill(width)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    assert signature and SignatureVerifier(SIGNING_SECRET).is_valid(body, stamp, signature)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }

    with service_log_lines() as lines:
        ack = ack_json(call_http(http_event("http", "POST", "/slack/events", body, headers)))

    assert ack["text"].startswith("Queued")
    assert "refused" not in lines.getvalue()
    assert len(env.queued_bodies()) == 1
