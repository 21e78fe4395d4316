"""The /imagine modal: opened by /imagine with no text, by Edit on a result and by the "Imagine
this" message shortcut; its submission queues through the same use case as the command.

Every request is signed the way Slack signs it and goes through http_handler. Triggers come from
the strict Slack stand-in (``trigger_id(user)``: three seconds, one use, as api.slack.com/docs/
triggers says), which validates every view the bot opens; a submission is built from the view
the bot actually opened, with ``view.state.values`` keyed by block_id and action_id as Slack
sends them (docs.slack.dev/reference/interaction-payloads/view-interactions-payload), and is
answered in its acknowledgement (``response_action: errors`` keeps the modal open:
docs.slack.dev/surfaces/modals).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.callbacks import MODAL_CALLBACK
from bot.blocks.form import (
    ASPECTS,
    BLOCKS,
    POST_IN,
    Target,
    fields_from_state,
    imagine_modal,
    prompt_from_message,
)
from bot.listeners.shortcuts import IMAGINE_THIS
from bot.local.signing import click_body, shortcut_body, signed_headers, view_state
from bot.local.slack.recorder import BOT_USER, Said
from bot.local.slack.views import view_problems
from bot.model.job import Job
from bot.model.prompt import MAX_SEED, ImageRequest, PromptLimits, from_fields, size_for_aspect
from bot.services import reset_process_services
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Stack, call_http, command_event, http_event
from tests.fakes.aws_faults import FaultProxy
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn
from tests.slack_users import buttons, imagine, queued_jobs

USER = "U0LOCAL"


# ---- driving it as Slack does ---------------------------------------------------------------------


def post(body: str) -> dict[str, Any]:
    headers = signed_headers(SIGNING_SECRET, body)
    return call_http(http_event("http", "POST", "/slack/events", body, headers, base64_body=True))


def ack_body(response: dict[str, Any]) -> dict[str, Any]:
    """The acknowledgement's body: {} for an empty one."""
    assert response["statusCode"] == 200, response
    return json.loads(response["body"]) if response["body"] else {}


def open_modal(env: Stack, channel_id: str = "C0LOCAL", user_id: str = USER) -> dict[str, Any]:
    """/imagine with no text, with a trigger Slack issued; the view it opened, as Slack holds it."""
    trigger = env.slack.trigger_id(user_id)
    response = call_http(command_event("", channel_id=channel_id, user_id=user_id, trigger_id=trigger))
    assert ack_body(response) == {}
    return opened(env, user_id)


def opened(env: Stack, user_id: str = USER) -> dict[str, Any]:
    [*_, top] = env.slack.modal_stack(user_id)
    return top.answer()


def submit(
    env: Stack, view: dict[str, Any], typed: Mapping[str, str | None], user_id: str = USER
) -> dict[str, Any]:
    """Submit ``user_id``'s open ``view`` as Slack does (the stand-in builds the payload, with
    the response_urls Slack would issue), and let the stand-in do with the acknowledgement what
    Slack does (close the view, or keep it open with its errors)."""
    answer = ack_body(post(env.slack.submission(user_id, typed, view_id=view["id"])))
    assert env.slack.submitted(user_id, view["id"], answer) == {}  # an answer Slack takes
    return answer


def click_edit(
    env: Stack, where: tuple[str, str, dict[str, Any]], block_id: str = "imagine_actions"
) -> dict[str, Any]:
    channel, ts, message = where
    body = click_body(
        message,
        channel,
        ts,
        action_id="imagine_edit",
        block_id=block_id,
        response_url=env.slack.response_url(f"click-{len(env.slack.calls)}"),
        trigger_id=env.slack.trigger_id(USER),
    )
    return ack_body(post(body))


def said(env: Stack, words: str) -> list[dict[str, Any]]:
    return [c.args for c in env.slack.calls_to("response_url") if c.ok and words in json.dumps(c.args)]


def input_blocks(view: dict[str, Any]) -> set[str]:
    return {block["block_id"] for block in view["blocks"] if block["type"] == "input"}


# ---- /imagine with no text ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   "])
def test_imagine_with_no_text_opens_the_modal_and_acks_with_nothing(env: Stack, text: str) -> None:
    trigger = env.slack.trigger_id(USER)
    response = call_http(command_event(text, trigger_id=trigger))
    assert response["statusCode"] == 200 and response["body"] == ""  # Slack shows nothing for it
    [call] = env.slack.calls_to("views.open")
    assert call.ok and call.args["trigger_id"] == trigger
    view = opened(env)
    assert view["callback_id"] == MODAL_CALLBACK
    assert input_blocks(view) == {*BLOCKS.values(), POST_IN}
    [post_in] = [block["element"] for block in view["blocks"] if block.get("block_id") == POST_IN]
    assert (post_in["type"], post_in["initial_conversation"], post_in["response_url_enabled"]) == (
        "conversations_select",
        "C0LOCAL",
        True,
    )
    assert json.loads(view["private_metadata"]) == {"channel": "C0LOCAL"}
    assert [c.method for c in env.slack.snapshot()] == ["views.open"]  # nothing else before the ack
    assert env.queued_bodies() == []


def test_help_still_answers_usage_and_opens_nothing(env: Stack) -> None:
    answer = ack_body(call_http(command_event("help", trigger_id=env.slack.trigger_id(USER))))
    assert answer["response_type"] == "ephemeral" and "Usage:" in json.dumps(answer)
    assert env.slack.snapshot() == []


@pytest.mark.parametrize("why", ["expired", "never issued", "Slack is down"])
def test_when_the_modal_cannot_open_the_ack_is_usage_help(env: Stack, why: str) -> None:
    trigger = env.slack.trigger_id(USER)
    if why == "expired":
        env.slack.clock = lambda: time.time() + 4  # the trigger's three seconds are over
    elif why == "never issued":
        trigger = "123.456.abcdef"
    else:
        env.slack.fail("views.open", status=500, error="internal_error")
    answer = ack_body(call_http(command_event("", trigger_id=trigger)))
    assert answer["response_type"] == "ephemeral"
    assert "Usage:" in json.dumps(answer) and "could not open" in answer["text"]
    [call] = env.slack.calls_to("views.open")
    assert not call.ok
    assert env.slack.modal_stack(USER) == []


def test_a_retried_empty_command_leaves_one_modal_and_no_help_over_it(env: Stack) -> None:
    """Slack sends a command again, same trigger_id, when it thinks the first went unanswered."""
    trigger = env.slack.trigger_id(USER)
    first = call_http(command_event("", trigger_id=trigger))
    again = call_http(command_event("", trigger_id=trigger))
    assert first["body"] == again["body"] == ""
    assert [c.error for c in env.slack.calls_to("views.open")] == ["", "exchanged_trigger_id"]
    assert len(env.slack.modal_stack(USER)) == 1


def test_a_channel_the_bot_is_not_enabled_in_gets_the_refusal_and_no_modal(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CHANNEL_IDS", "C0ART")
    reset_process_services()
    answer = ack_body(
        call_http(command_event("", channel_id="C0RANDOM", trigger_id=env.slack.trigger_id(USER)))
    )
    assert "not enabled in this channel" in answer["text"]
    assert env.slack.snapshot() == []


# ---- submitting it --------------------------------------------------------------------------------


def test_a_submission_queues_exactly_the_fields_in_the_commands_channel(env: Stack) -> None:
    view = open_modal(env, channel_id="C0ART")
    typed = {
        "imagine_prompt": "a lighthouse at dusk,\nstormy sea",
        "imagine_negative": "people",
        "imagine_aspect": "16:9",
        "imagine_count": "2",
        "imagine_steps": "20",
        "imagine_guidance": "9.5",
        "imagine_seed": "42",
    }
    assert submit(env, view, typed) == {}  # an empty acknowledgement closes the modal

    [job] = queued_jobs(env)
    assert (job.team_id, job.channel_id, job.user_id, job.thread_ts, job.parent_job_id) == (
        "T0LOCAL",
        "C0ART",
        USER,
        "",
        "",
    )
    width, height = size_for_aspect(16, 9)
    assert job.request == ImageRequest(
        prompt="a lighthouse at dusk, stormy sea",
        negative_prompt="people",
        aspect="16:9",
        width=width,
        height=height,
        seed=42,
        steps=20,
        guidance=9.5,
        count=2,
    )
    assert [c.method for c in env.slack.snapshot()] == ["views.open"]  # no Web API call for the ack


def test_a_form_left_at_its_defaults_asks_for_the_defaults_with_a_random_seed(env: Stack) -> None:
    view = open_modal(env)
    assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
    [job] = queued_jobs(env)
    request = job.request
    assert (request.prompt, request.aspect, request.count, request.steps, request.guidance) == (
        "a paper crane",
        "1:1",
        1,
        30,
        7.5,
    )
    assert request.seed is not None and 0 <= request.seed <= MAX_SEED


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ({"imagine_steps": "51"}, {"imagine_steps": "1 to 50"}),
        ({"imagine_guidance": "25"}, {"imagine_guidance": "1 to 20"}),
        ({"imagine_guidance": "0.5"}, {"imagine_guidance": "1 to 20"}),
        ({"imagine_seed": "-1"}, {"imagine_seed": "0 to 4294967295"}),
        ({"imagine_prompt": "   "}, {"imagine_prompt": "Say what you want to see"}),
        ({"imagine_prompt": "x" * 1001}, {"imagine_prompt": "the limit is 1000"}),
        (
            {"imagine_prompt": None, "imagine_steps": "0"},
            {"imagine_prompt": "Say", "imagine_steps": "1 to 50"},
        ),
    ],
)
def test_invalid_fields_are_shown_on_their_field_and_queue_nothing(
    env: Stack, typed: dict[str, str | None], expected: dict[str, str]
) -> None:
    view = open_modal(env)
    answer = submit(env, view, {"imagine_prompt": "a paper crane", **typed})
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == set(expected) <= input_blocks(view)
    for block_id, words in expected.items():
        assert words in answer["errors"][block_id]
    assert env.queued_bodies() == []
    assert [c.method for c in env.slack.snapshot()] == ["views.open"]


def test_the_same_submission_delivered_twice_queues_one_job(env: Stack) -> None:
    open_modal(env)
    body = env.slack.submission(USER, {"imagine_prompt": "a paper crane"})
    assert ack_body(post(body)) == ack_body(post(body)) == {}  # the repeat closes the modal too
    assert len(queued_jobs(env)) == 1

    # The same words in a form opened again are a new ask.
    assert submit(env, open_modal(env), {"imagine_prompt": "a paper crane"}) == {}
    assert len(queued_jobs(env)) == 2


def test_a_refusal_is_shown_on_the_form_which_stays_usable(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "2")
    reset_process_services()
    assert ack_body(call_http(command_event("a paper crane")))["text"].startswith("Queued")  # 1 of 2
    assert len(queued_jobs(env)) == 1
    view = open_modal(env)
    answer = submit(env, view, {"imagine_prompt": "a paper crane", "imagine_count": "2"})
    assert answer["response_action"] == "errors"
    assert "of your 2 images today" in answer["errors"]["imagine_prompt"]
    assert len(queued_jobs(env)) == 1  # the command's alone

    # Slack kept the modal open as it was: with one image, the same form is accepted.
    assert submit(env, view, {"imagine_prompt": "a paper crane", "imagine_count": "1"}) == {}
    assert len(queued_jobs(env)) == 2


def test_a_blocked_term_is_shown_on_the_prompt(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKED_TERMS", "gore")
    reset_process_services()
    answer = submit(env, open_modal(env), {"imagine_prompt": "so much GORE"})
    assert "not allowed here" in answer["errors"]["imagine_prompt"]
    assert env.queued_bodies() == []


# ---- Edit on a result -----------------------------------------------------------------------------


def test_edit_opens_the_modal_filled_in_from_the_job_record(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5 --ar 16:9 --no text --steps 20 --cfg 9")
    channel, root_ts, message = where
    [job_id] = {value for *_, value in buttons(message)}
    assert ("imagine_actions", "imagine_edit", "Edit", job_id) in buttons(message)

    assert click_edit(env, where) == {}
    [call] = env.slack.calls_to("views.open")
    assert call.ok
    view = opened(env)
    assert view["title"]["text"] == "Edit and imagine"
    assert json.loads(view["private_metadata"]) == {
        "channel": channel,
        "thread_ts": root_ts,
        "parent_job_id": job_id,
    }
    state = fields_from_state(view_state(view, {}))  # what the form holds before anyone types
    assert state == {
        "prompt": "a paper crane",
        "negative_prompt": "text",
        "aspect": "16:9",
        "count": "1",
        "steps": "20",
        "guidance": "9",
        "seed": "5",
    }


def test_an_edit_renders_into_the_results_thread_with_its_parent(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5 --ar 16:9 --no text --steps 20 --cfg 9")
    channel, root_ts, message = where
    [job_id] = {value for *_, value in buttons(message)}
    click_edit(env, where)

    assert submit(env, opened(env), {"imagine_prompt": "a paper crane at dawn"}) == {}
    [job] = queued_jobs(env)
    assert (job.channel_id, job.thread_ts, job.parent_job_id) == (channel, root_ts, job_id)
    request = job.request
    assert (request.prompt, request.seed, request.aspect, request.negative_prompt) == (
        "a paper crane at dawn",
        5,
        "16:9",
        "text",
    )
    assert (request.steps, request.guidance) == (20, 9.0)


def test_edit_on_one_image_of_several_asks_for_one_image(env: Stack) -> None:
    where = imagine(env, "a lighthouse --seed 41 --n 2")
    assert ("imagine_actions_1", "imagine_edit", "Edit 2") in [b[:3] for b in buttons(where[2])]
    click_edit(env, where, block_id="imagine_actions_1")
    assert fields_from_state(view_state(opened(env), {}))["count"] == "1"


def test_edit_on_a_result_that_is_gone_says_so_and_opens_nothing(env: Stack) -> None:
    channel, ts, message = imagine(env, "a paper crane --seed 5")
    forged = json.loads(json.dumps(message).replace(buttons(message)[0][3], "0" * 32))
    assert click_edit(env, (channel, ts, forged)) == {}
    [refusal] = said(env, "no longer available")
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert env.slack.calls_to("views.open") == []


# ---- the "Imagine this" message shortcut ---------------------------------------------------------


@pytest.mark.parametrize("in_thread", [False, True])
def test_imagine_this_opens_the_modal_with_the_messages_words_and_renders_in_its_thread(
    env: Stack, in_thread: bool
) -> None:
    message = {
        "ts": "1700000000.000200",
        "user": "U0ALICE",
        "text": "<@U0BOB> what about a fox in the snow &amp; <https://example.com/fox|a lantern>? <!here>",
    }
    if in_thread:
        message["thread_ts"] = "1700000000.000100"
    body = shortcut_body(
        message,
        "C0TEAM",
        callback_id=IMAGINE_THIS,
        response_url=env.slack.response_url("shortcut"),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}
    view = opened(env)
    assert view["title"]["text"] == "Imagine this"
    assert fields_from_state(view_state(view, {}))["prompt"] == "what about a fox in the snow & a lantern?"

    assert submit(env, view, {}) == {}
    [job] = queued_jobs(env)
    assert (job.channel_id, job.thread_ts, job.parent_job_id) == (
        "C0TEAM",
        message.get("thread_ts", message["ts"]),
        "",
    )
    assert job.request.prompt == "what about a fox in the snow & a lantern?"


def test_imagine_this_where_the_bot_is_not_enabled_says_so_to_the_person_alone(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CHANNEL_IDS", "C0ART")
    reset_process_services()
    body = shortcut_body(
        {"ts": "1700000000.000200", "text": "a fox"},
        "C0RANDOM",
        callback_id=IMAGINE_THIS,
        response_url=env.slack.response_url("shortcut"),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}
    [refusal] = said(env, "not enabled in this channel")
    assert refusal["response_type"] == "ephemeral"
    assert env.slack.calls_to("views.open") == []


def test_the_manifest_declares_the_shortcut_the_app_listens_for() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["name"], shortcut["type"], shortcut["callback_id"]) == (
        "Imagine this",
        "message",
        IMAGINE_THIS,
    )
    assert 0 < len(shortcut["description"]) <= 150
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]  # what a shortcut needs


# ---- where the bot cannot post ----------------------------------------------------------------------
# chat.postMessage refuses a private channel the bot is not in with channel_not_found (Slack
# hides it: getsentry/sentry pull request 119600, BeepBoopHQ/in-or-out issue 19, 2017-05-09) and
# a public one it may not post in with not_in_channel (connorads/lockbot issue 11, 2020-05-20).
# A view_submission carries a response_url only when the view asks for one with
# response_url_enabled on a conversations_select in an input block
# (docs.slack.dev/surfaces/modals#modal_response_url), and "the response_url will bypass any
# channel posting permissions" (docs.slack.dev/interactivity/handling-user-interaction).

SECRET = "G0SECRET"


def close(env: Stack, channel: str, refusal: str = "channel_not_found") -> None:
    """Make ``channel`` one the bot may not post in, refused the way ``refusal`` says."""
    (env.slack.private_channels if refusal == "channel_not_found" else env.slack.closed_channels).add(channel)


def seen_in(env: Stack, channel: str) -> list[Said]:
    """The messages everyone sees in ``channel``, oldest first."""
    return [said for said in env.slack.conversation(USER) if said.channel == channel and not said.ephemeral]


def images(said: Said) -> list[str]:
    return [b["image_url"] for b in said.message.get("blocks", []) if b["type"] == "image"]


def why_here(said: Said) -> str:
    """The line above a message the bot sent to the requester's DM saying why it is there, or ""."""
    blocks = said.message.get("blocks") or [{}]
    first = blocks[0]
    return str(first["elements"][0]["text"]) if first.get("type") == "context" else ""


def refused_posts(env: Stack, channel: str) -> list[str]:
    return [c.error for c in env.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]


def form_of_an_older_version(env: Stack, channel: str) -> dict[str, Any]:
    """The form as it was before it had its "Post in" select, opened (a form opened before an
    upgrade and submitted after it): its view asks Slack for no response_url."""
    view = imagine_modal(Target(channel), PromptLimits())
    view["blocks"] = [block for block in view["blocks"] if block.get("block_id") != POST_IN]
    WebClient(token=BOT_TOKEN, base_url=env.slack.api_url).views_open(
        trigger_id=env.slack.trigger_id(USER), view=view
    )
    return opened(env)


@pytest.mark.parametrize("refusal", ["channel_not_found", "not_in_channel"])
def test_the_form_where_the_bot_cannot_post_delivers_through_the_forms_response_url(
    env: Stack, refusal: str
) -> None:
    """/imagine with no text in a channel closed to the bot: the form's "Post in" select asks
    Slack for a response_url, the job keeps it, and the picture reaches the channel through it;
    nothing is dead-lettered."""
    close(env, SECRET, refusal)
    view = open_modal(env, channel_id=SECRET)
    assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
    env.settle()

    assert env.dead_letters() == []
    assert refused_posts(env, SECRET) and set(refused_posts(env, SECRET)) == {refusal}
    [picture] = seen_in(env, SECRET)
    assert picture.user == BOT_USER and picture.thread_ts == ""
    assert "a paper crane" in picture.message["text"] and len(images(picture)) == 1
    assert env.slack.calls_to("conversations.open") == []  # no need for a direct message


def test_edit_on_a_result_where_the_bot_cannot_post_reaches_the_requester(env: Stack) -> None:
    """A result in a private channel the bot is not in lives behind the command's response_url;
    Edit on it queues a job from the form, whose own response_url carries the new picture."""
    close(env, SECRET)
    command_url = env.slack.response_url("command", user=USER, channel=SECRET)
    command = command_event("a paper crane --seed 5", channel_id=SECRET, response_url=command_url)
    assert ack_body(call_http(command))
    env.settle()
    [result] = seen_in(env, SECRET)
    body = click_body(
        result.message,
        SECRET,
        result.ts,
        action_id="imagine_edit",
        block_id="imagine_actions",
        response_url=env.slack.response_url("click", user=USER, channel=SECRET, message_ts=result.ts),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}

    assert submit(env, opened(env), {"imagine_prompt": "a paper crane at dawn"}) == {}
    env.settle()

    assert env.dead_letters() == []
    [first, edit] = seen_in(env, SECRET)
    assert "at dawn" not in first.message["text"] and images(first)
    assert "a paper crane at dawn" in edit.message["text"] and len(images(edit)) == 1
    assert env.slack.calls_to("conversations.open") == []


@pytest.mark.parametrize("in_thread", [False, True])
def test_imagine_this_where_the_bot_cannot_post_answers_in_the_messages_thread(
    env: Stack, in_thread: bool
) -> None:
    """The "Imagine this" shortcut on a message in a private channel the bot is not in: the picture goes
    through the form's response_url into the message's thread (a response names its thread
    with thread_ts: docs.slack.dev/interactivity/handling-user-interaction, "Publishing
    responses in thread")."""
    close(env, SECRET)
    root = env.slack.post_as_person(SECRET, "a fox in the snow", user="U0ALICE")
    message = {"ts": root, "user": "U0ALICE", "text": "a fox in the snow"}
    if in_thread:
        reply = env.slack.post_as_person(SECRET, "with a lantern", user="U0BOB", thread_ts=root)
        message = {"ts": reply, "thread_ts": root, "user": "U0BOB", "text": "with a lantern"}
    body = shortcut_body(
        message,
        SECRET,
        callback_id=IMAGINE_THIS,
        response_url=env.slack.response_url("shortcut"),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}
    assert submit(env, opened(env), {}) == {}
    env.settle()

    assert env.dead_letters() == []
    [picture] = [said for said in seen_in(env, SECRET) if said.user == BOT_USER]
    assert picture.thread_ts == root
    assert message["text"] in picture.message["text"] and len(images(picture)) == 1


def test_a_submission_with_no_response_url_sends_the_picture_by_direct_message(env: Stack) -> None:
    """Where the bot cannot post and the submission brought no response_url, the requester gets
    the picture in a direct message from the bot, told why it is not in the channel."""
    close(env, SECRET)
    view = form_of_an_older_version(env, SECRET)
    assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
    env.settle()

    assert env.dead_letters() == []
    assert seen_in(env, SECRET) == []
    dm = env.slack.dm_channel(USER)
    [picture] = seen_in(env, dm)
    assert f"<#{SECRET}>" in why_here(picture) and "/invite" in why_here(picture)
    assert "a paper crane" in picture.message["text"] and len(images(picture)) == 1


@pytest.mark.parametrize(
    ("conversation", "said", "advice"),
    [
        ("D0PAIR", "I can't post in that direct message, so your picture is here instead.", ""),
        ("C0CLOSED", "I can't post in <#C0CLOSED>", "`/invite` me to it."),
        ("G0SECRET", "I can't post in <#G0SECRET>", "If it is a channel, `/invite` me to it"),
    ],
)
def test_the_direct_message_says_why_in_words_that_fit_the_conversation(
    env: Stack, conversation: str, said: str, advice: str
) -> None:
    """A bot can be invited into a channel, never into a DM between two people: the reason
    above the picture sent by DM gives ``/invite`` advice for channels only. A ``G`` id may be
    a private channel or a group DM (api.slack.com/changelog/2018-09-more-reasons-to-be-a-
    conversations-api-convert, 2018-09-06, says not to tell them apart by the id, and the bot
    cannot look up a conversation it is not in), so the advice is hedged there. The reason
    stays on the message once the painting note becomes the picture (chat.update)."""
    close(env, conversation)
    view = form_of_an_older_version(env, conversation)
    assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
    env.settle()

    assert env.dead_letters() == []
    [picture] = seen_in(env, env.slack.dm_channel(USER))
    assert len(images(picture)) == 1
    assert said in why_here(picture) and advice in why_here(picture)
    assert ("/invite" in why_here(picture)) == bool(advice)


def test_the_requester_is_told_why_once_however_often_the_job_is_tried(
    env: Stack, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job store fails just after the job's message was posted in the requester's DM: the
    message is taken back and the job tried again, which posts it again. The requester reads
    the reason once, on the one message left, not once per try."""
    proxy = FaultProxy(moto_url).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        reset_process_services()
        dm = env.slack.dm_channel(USER)

        def posted_in_dm() -> bool:
            return any(c.ok and c.args.get("channel") == dm for c in env.slack.calls_to("chat.postMessage"))

        # The claim of the job's message (a conditional PutItem) is the first write after the
        # post. A client error: botocore does not retry it, the worker does.
        proxy.fail_when(lambda operation: operation == "PutItem" and posted_in_dm(), times=1,
                        status=400, code="ValidationException")  # fmt: skip
        close(env, SECRET)
        view = form_of_an_older_version(env, SECRET)
        assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
        env.settle()
    finally:
        proxy.stop()

    assert proxy.failed == ["PutItem"]  # the fault did strike, and the job was tried again
    assert [c.args["channel"] for c in env.slack.calls_to("chat.delete") if c.ok] == [dm]
    assert env.dead_letters() == []
    shown = seen_in(env, dm)
    told = [said for said in shown if f"<#{SECRET}>" in json.dumps(said.message)]
    assert len(told) == 1 and told == shown
    assert len(images(told[0])) == 1 and f"<#{SECRET}>" in why_here(told[0])


def test_a_failure_where_the_bot_cannot_post_and_has_no_response_url_is_told_by_direct_message(
    env: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render fails for good: the requester reads why in their direct message with the bot,
    and the job is dead-lettered with that reason, never in silence."""
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    reset_process_services()
    sagemaker.scripted.append(Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError"))
    close(env, SECRET)
    view = form_of_an_older_version(env, SECRET)
    assert submit(env, view, {"imagine_prompt": "a paper crane"}) == {}
    env.settle()

    assert env.dead_letter_reasons() == ["the model could not render this request"]
    dm = env.slack.dm_channel(USER)
    told = json.dumps([said.message for said in seen_in(env, dm)])
    assert f"<#{SECRET}>" in told and "could not be rendered: the model could not render" in told


@pytest.mark.parametrize("dm_enabled", [True, False])
def test_edit_on_a_result_sent_by_direct_message_lands_next_to_it(
    env: Stack, monkeypatch: pytest.MonkeyPatch, dm_enabled: bool
) -> None:
    """The bot could not post in the job's channel and had no response_url, so the result went
    to the requester's DM. Edit on it: the new picture goes into that result's thread in the
    DM, where the bot may post (a thread lives in one conversation: the DM's ts names no
    thread in the channel). Where /imagine is enabled in the job's channel only, the DM is no
    place for it, and the edit goes to the top of the channel, through the form's response_url."""
    if not dm_enabled:
        monkeypatch.setenv("ALLOWED_CHANNEL_IDS", SECRET)
        reset_process_services()
    close(env, SECRET)
    assert submit(env, form_of_an_older_version(env, SECRET), {"imagine_prompt": "a paper crane"}) == {}
    env.settle()
    dm = env.slack.dm_channel(USER)
    [result] = [said for said in seen_in(env, dm) if images(said)]
    body = click_body(
        result.message,
        dm,
        result.ts,
        action_id="imagine_edit",
        block_id="imagine_actions",
        response_url=env.slack.response_url("click", user=USER, channel=dm, message_ts=result.ts),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}
    assert submit(env, opened(env), {"imagine_prompt": "a paper crane at dawn"}) == {}
    env.settle()

    assert env.dead_letters() == []
    [edit] = [said for said in env.slack.conversation(USER) if "at dawn" in said.message.get("text", "")]
    assert len(images(edit)) == 1
    if dm_enabled:
        assert (edit.channel, edit.thread_ts) == (dm, result.ts)
        assert why_here(edit) == ""  # asked for in the DM itself: nothing to explain
        assert seen_in(env, SECRET) == []
    else:
        assert (edit.channel, edit.thread_ts, edit.ephemeral) == (SECRET, "", False)
    # Nowhere did the DM's ts go out as a thread of the channel.
    sent = [*env.slack.calls_to("chat.postMessage"), *env.slack.calls_to("response_url")]
    assert not [c for c in sent if c.args.get("thread_ts") == result.ts and c.args.get("channel") != dm]


def test_a_reroll_of_a_result_sent_by_direct_message_lands_in_its_thread_there(env: Stack) -> None:
    """Re-roll follows the same rule as Edit: a result the bot sent to the requester's DM is
    re-rolled in that result's thread in the DM. The job records the DM and its ts together,
    and no post pairs the job's channel with the DM's ts (which names no thread there)."""
    close(env, SECRET)
    assert submit(env, form_of_an_older_version(env, SECRET), {"imagine_prompt": "a paper crane"}) == {}
    env.settle()
    dm = env.slack.dm_channel(USER)
    [result] = [said for said in seen_in(env, dm) if images(said)]
    body = click_body(
        result.message,
        dm,
        result.ts,
        action_id="imagine_reroll",
        block_id="imagine_actions",
        response_url=env.slack.response_url("click", user=USER, channel=dm, message_ts=result.ts),
    )
    post(body)
    [job] = [Job.from_json(body) for body in env.peek()]
    assert (job.channel_id, job.thread_ts) == (dm, result.ts)
    env.settle()

    assert env.dead_letters() == []
    [reroll] = [said for said in seen_in(env, dm) if images(said) and said.ts != result.ts]
    assert (reroll.channel, reroll.thread_ts) == (dm, result.ts)
    assert why_here(reroll) == ""  # asked for in the DM itself: nothing to explain
    sent = [*env.slack.calls_to("chat.postMessage"), *env.slack.calls_to("response_url")]
    assert not [c for c in sent if c.args.get("thread_ts") == result.ts and c.args.get("channel") != dm]


def test_a_conversation_the_bot_is_not_enabled_in_is_refused_under_post_in(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CHANNEL_IDS", "C0ART")
    reset_process_services()
    view = open_modal(env, channel_id="C0ART")
    answer = submit(env, view, {"imagine_prompt": "a paper crane", POST_IN: "C0RANDOM"})
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {POST_IN}
    assert "not enabled in this channel" in answer["errors"][POST_IN]
    assert env.peek() == []


def test_another_conversation_picked_gets_the_picture_at_its_top(env: Stack) -> None:
    """A thread lives in one conversation: "Imagine this" sent to another one posts there,
    outside any thread, and its response_url is that conversation's."""
    body = shortcut_body(
        {"ts": "1700000000.000200", "text": "a fox"},
        "C0TEAM",
        callback_id=IMAGINE_THIS,
        response_url=env.slack.response_url("shortcut"),
        trigger_id=env.slack.trigger_id(USER),
    )
    assert ack_body(post(body)) == {}
    assert submit(env, opened(env), {POST_IN: "C0ART"}) == {}
    [job] = [Job.from_json(body) for body in env.peek()]
    assert (job.channel_id, job.thread_ts) == ("C0ART", "")
    assert job.response_url.startswith(f"{env.slack.url}/response/view-")


# ---- the Slack stand-in's view_submission -----------------------------------------------------------


def submission_payload(env: Stack, typed: Mapping[str, str | None]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(parse_qs(env.slack.submission(USER, typed))["payload"][0])
    return payload


def test_response_urls_come_only_when_the_view_asks_and_in_slacks_shape(env: Stack) -> None:
    view = open_modal(env, channel_id="C0ART")
    assert view["blocks"][-1]["element"]["response_url_enabled"] is True
    [url] = submission_payload(env, {"imagine_prompt": "a fox"})["response_urls"]
    assert set(url) == {"block_id", "action_id", "channel_id", "response_url"}
    assert (url["block_id"], url["action_id"], url["channel_id"]) == (POST_IN, "value", "C0ART")
    [picked] = submission_payload(env, {POST_IN: "C0TEAM"})["response_urls"]
    assert picked["channel_id"] == "C0TEAM" and picked["response_url"] != url["response_url"]

    form_of_an_older_version(env, "C0ART")
    assert submission_payload(env, {"imagine_prompt": "a fox"})["response_urls"] == []


def test_response_url_enabled_is_refused_on_an_element_that_cannot_ask() -> None:
    view = imagine_modal(Target("C0LOCAL"), LIMITS)
    view["blocks"][1]["element"]["response_url_enabled"] = True  # the prompt's plain_text_input
    assert [str(p) for p in view_problems(view)] == [
        "invalid additional property: response_url_enabled [json-pointer:/view/blocks/1/element]"
    ]


def test_a_private_channel_the_bot_is_not_in_is_channel_not_found(env: Stack) -> None:
    close(env, SECRET)
    client = WebClient(token=BOT_TOKEN, base_url=env.slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=SECRET, text="hello")
    assert refused.value.response["error"] == "channel_not_found"


# ---- the view builder, pure -----------------------------------------------------------------------

LIMITS = PromptLimits()
words = st.text(max_size=1200)  # any Unicode text, surrogates aside
plain_words = st.lists(
    st.sampled_from(["a", "fox", "lantern", "ünïcode", "🦊", "snow"]), min_size=1, max_size=8
)


@given(text=words)
def test_any_message_makes_a_modal_slack_accepts(text: str) -> None:
    prompt = prompt_from_message(text, LIMITS.max_prompt_chars)
    assert len(prompt) <= LIMITS.max_prompt_chars
    assert view_problems(imagine_modal(Target("C0LOCAL", "1700000000.000200"), LIMITS, prompt=prompt)) == []


@given(
    prompt=plain_words.map(" ".join),
    negative=st.lists(st.sampled_from(["text", "blur"]), max_size=3).map(", ".join),
    aspect=st.sampled_from([*ASPECTS, "5:4", "7:3"]),
    seed=st.none() | st.integers(0, MAX_SEED),
    steps=st.integers(1, LIMITS.max_steps),
    guidance=st.integers(10, 200).map(lambda tenths: tenths / 10),
    count=st.integers(1, 4),
)
def test_a_prefilled_modal_is_valid_and_submits_the_request_it_shows(
    prompt: str, negative: str, aspect: str, seed: int | None, steps: int, guidance: float, count: int
) -> None:
    w, h = (int(side) for side in aspect.split(":"))
    width, height = size_for_aspect(w, h)
    request = ImageRequest(prompt, negative, aspect, width, height, seed, steps, guidance, count)
    view = imagine_modal(Target("C0LOCAL", "", "a" * 32), LIMITS, prefill=request)
    assert view_problems(view) == []
    assert from_fields(fields_from_state(view_state(view, {})), LIMITS) == request


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("<@U0BOB> draw <@U0ALICE|alice> a cat", "draw alice a cat"),
        ("in <#C0ART|art> please", "in art please"),
        ("<!channel> <!here> a fox <!subteam^S1|@design>", "a fox design"),
        ("see <https://example.com> and <mailto:a@b.c|mail>", "see https://example.com and mail"),
        ("cats &amp; dogs &lt;3", "cats & dogs <3"),
        ("on <!date^1700000000^{date}|Nov 14> at\n\nnoon", "on Nov 14 at noon"),
        ("", ""),
    ],
)
def test_slack_markup_becomes_the_words_it_shows(text: str, prompt: str) -> None:
    assert prompt_from_message(text, 1000) == prompt


def test_a_long_message_is_cut_at_a_space_within_the_limit() -> None:
    assert prompt_from_message("a fox " * 50, 20) == "a fox a fox a fox a"
    assert prompt_from_message("x" * 50, 20) == "x" * 20


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "[]",
        '{"channel": "not a channel"}',
        '{"channel": "C0LOCAL", "thread_ts": "yesterday"}',
        '{"channel": "C0LOCAL", "parent_job_id": "../../etc"}',
        '{"thread_ts": "1700000000.000200"}',
    ],
)
def test_metadata_that_names_no_place_is_refused(metadata: str) -> None:
    assert Target.from_metadata(metadata) is None


def test_metadata_round_trips_and_holds_only_the_place() -> None:
    target = Target("C0LOCAL", "1700000000.000200", "a" * 32)
    assert Target.from_metadata(target.metadata()) == target
    assert set(json.loads(target.metadata())) == {"channel", "thread_ts", "parent_job_id"}
