"""User text shown back in Slack is inert: no pings, no mentions, no forged links."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from bot import messages
from bot.prompt import ImageRequest, parse
from tests.conftest import Stack, ack_json, call_http, call_worker, command_event

HOSTILE = "<!channel> look <@U123> <https://evil.example|click> & <!here>"
# Slack's control sequences: <!...>, <@...>, <#...>, <http...|...>. None may survive escaping.
CONTROL = re.compile(r"<[!@#]|<https?:")


def _texts(payload: object) -> list[str]:
    """Every mrkdwn string in a payload (plain_text is never parsed for mentions)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return found


def test_escape() -> None:
    assert messages.escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_hostile_prompt_is_inert_in_every_message() -> None:
    request = parse(f"{HOSTILE} --no <!everyone> --seed 1")
    payloads = [
        messages.queued(request),
        messages.rendering("U0ASKER", request),
        messages.result("U0ASKER", request, ["https://imagine.example/images/x/0.jpg"], 1.5),
        messages.failed("U0ASKER", request),
        messages.failure_reply(f"bad thing: {HOSTILE}"),
    ]
    for payload in payloads:
        for text in _texts(payload):
            assert not CONTROL.search(text.replace("<@U0ASKER>", "")), text
    assert "&lt;!channel&gt; look &lt;@U123&gt;" in json.dumps(payloads[0])


@given(st.text(max_size=200))
def test_escaped_text_has_no_control_sequences(text: str) -> None:
    assert not CONTROL.search(messages.escape(text))
    assert "<" not in messages.escape(text) and ">" not in messages.escape(text)


def test_usage_escapes_the_named_problem() -> None:
    shown = json.dumps(
        messages.usage(
            "`--<!channel>` is not an option", default_steps=30, max_steps=50, default_guidance=7.5
        )
    )
    assert "<!channel>" not in shown


def test_hostile_prompt_end_to_end(env: Stack) -> None:
    ack = ack_json(call_http(command_event(HOSTILE)))
    assert not CONTROL.search(" ".join(_texts(ack)))
    call_worker(env.sqs_event())
    for call in env.slack.snapshot():
        texts = " ".join(_texts(call.args)).replace("<@U0LOCAL>", "")
        assert not CONTROL.search(texts), texts


def test_long_prompts_fit_slack_limits() -> None:
    request = ImageRequest(prompt="&" * 1000, seed=1)
    payload = messages.result("U1", request, ["https://x/0.jpg"], 2.0)
    assert all(len(t) <= 3000 for t in _texts(payload["blocks"]))
    assert not _texts(payload["blocks"])[0].endswith(("&", "&a", "&am", "&amp"))
    assert all(len(b.get("alt_text", "")) <= 2000 for b in payload["blocks"])
