"""A signed /imagine into http_handler, in each event shape Lambda delivers."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Stack, ack_json, call_http, command_event, http_event


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
        ("", None),
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
