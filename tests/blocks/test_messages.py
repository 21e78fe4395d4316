"""User text shown back in Slack is inert: no pings, no mentions, no forged links."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks import buttons, messages
from bot.local.slack.blocks import message_refusal
from bot.model.prompt import ImageRequest, parse
from tests.conftest import Stack, ack_json, call_http, call_worker, command_event

HOSTILE = "<!channel> look <@U123> <https://evil.example|click> & <!here>"
# Slack's control sequences: <!...>, <@...>, <#...>, <http...|...>. None may survive escaping.
CONTROL = re.compile(r"<[!@#]|<https?:")
# The bot's own: when painting started, in each reader's time zone (bot/blocks/messages.py).
PAINTING_SINCE = re.compile(r"<!date\^\d+\^\{time_secs\}\|\d\d:\d\d:\d\d UTC>")


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
        texts = PAINTING_SINCE.sub("", " ".join(_texts(call.args)).replace("<@U0LOCAL>", ""))
        assert not CONTROL.search(texts), texts


# Slack's caps: a section's text 3000 characters, an image's alt_text 2000
# (https://api.slack.com/reference/block-kit/blocks#section, .../blocks#image).
SECTION_LIMIT, ALT_TEXT_LIMIT = 3000, 2000
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")  # an "&" that does not start a whole entity


@given(
    st.text(alphabet="&<>a;", min_size=2900, max_size=3200)
    | st.text(alphabet="&<>ab ", max_size=1000)
    | st.integers(2980, 3000).map(lambda n: "a" * n + "&&&<<<")
)
def test_long_prompts_are_cut_inside_slack_limits_and_never_inside_an_entity(prompt: str) -> None:
    request = ImageRequest(prompt=prompt, seed=1)
    payload = messages.result("U1", request, ["https://x/0.jpg"], 2.0)
    headline = payload["blocks"][0]["text"]["text"]
    whole = f"<@U1> imagined *{messages.escape(prompt)}*"

    if len(whole) <= SECTION_LIMIT:
        assert headline == whole
    else:
        kept = headline.removesuffix("…")
        assert headline.endswith("…") and len(headline) <= SECTION_LIMIT
        assert whole.startswith(kept)  # cut, not rewritten
        assert len(kept) > SECTION_LIMIT - len("&amp;") - 2  # cut at the limit, not long before it
        assert not BROKEN_ENTITY.search(kept), kept[-8:]
    for block in payload["blocks"]:
        if block["type"] == "image":
            assert len(block["alt_text"]) <= ALT_TEXT_LIMIT
            assert prompt.startswith(block["alt_text"].removesuffix("…"))
        for text in _texts(block):
            assert len(text) <= SECTION_LIMIT
            assert not BROKEN_ENTITY.search(text.replace("<@U1>", ""))


def test_result_buttons_re_roll_variations_edit_share_delete_carry_only_the_job_id() -> None:
    """The labels are a contract (DESIGN.md); which image a row is about rides in its block_id."""
    job_id = "a" * 32
    whole = buttons.follow_up_buttons(job_id)
    one = buttons.follow_up_buttons(job_id, 1)
    assert [(e["action_id"], e["text"]["text"], e["value"]) for e in whole["elements"]] == [
        ("imagine_reroll", "Re-roll", job_id),
        ("imagine_variations", "Variations", job_id),
        ("imagine_edit", "Edit", job_id),
        ("imagine_share", "Share", job_id),
        ("imagine_delete", "Delete", job_id),
    ]
    assert (one["block_id"], [e["text"]["text"] for e in one["elements"]]) == (
        "imagine_actions_1",
        ["Re-roll 2", "Variations 2", "Edit 2"],
    )
    assert message_refusal({"text": "x", "blocks": [whole, one]}) is None
