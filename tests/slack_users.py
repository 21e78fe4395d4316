"""Driving the bot as Slack and its users do: a command run to its result, a button clicked on
the message the bot really posted, the jobs waiting in the queue.

Every click is built from the message as the strict Slack stand-in recorded and accepted it, the
way Slack echoes a button's action_id, block_id and value back in a signed block_actions payload
(https://docs.slack.dev/reference/interaction-payloads/block_actions-payload), and goes through
http_handler; the worker then runs both of its queues as Lambda's event sources run them.
"""

from __future__ import annotations

from typing import Any

from bot.local.signing import click_body, signed_headers
from bot.model.job import Job
from tests.conftest import SIGNING_SECRET, Stack, ack_json, call_http, command_event, http_event

USER = "U0LOCAL"  # who asks for the pictures, unless a test says otherwise
WHOLE_RESULT = "imagine_actions"  # the block_id of a result's own row of buttons
Where = tuple[str, str, dict[str, Any]]  # a message's channel, ts, and the message as Slack holds it


def post_signed(body: str) -> dict[str, Any]:
    """An interaction payload (a click, a submission) signed as Slack signs it, into http_handler."""
    headers = signed_headers(SIGNING_SECRET, body)
    return call_http(http_event("http", "POST", "/slack/events", body, headers, base64_body=True))


def imagine(env: Stack, text: str = "a paper crane --seed 5") -> Where:
    """A /imagine run to its result."""
    ack_json(call_http(command_event(text, response_url=env.slack.response_url())))
    env.settle()
    return latest_result(env)


def latest_result(env: Stack) -> Where:
    [*_, update] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    return str(update.args["channel"]), str(update.args["ts"]), update.args


def job_id_on(message: dict[str, Any]) -> str:
    """The job id the result's buttons carry (their only value)."""
    [job_id] = {e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}
    return str(job_id)


def buttons(message: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Each button's block_id, action_id, label and value, in order."""
    return [
        (block["block_id"], element["action_id"], element["text"]["text"], element["value"])
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def click(
    env: Stack, where: Where, action_id: str, *, block_id: str = WHOLE_RESULT, user_id: str = USER
) -> tuple[dict[str, Any], str]:
    """Click a button of a posted message; the acknowledgement and the click's response_url.
    Nothing may reach Slack's Web API before the acknowledgement but views.open."""
    channel, ts, message = where
    response_url = env.slack.response_url(f"click-{len(env.slack.calls)}")
    body = click_body(
        message,
        channel,
        ts,
        action_id=action_id,
        block_id=block_id,
        user_id=user_id,
        response_url=response_url,
        trigger_id=env.slack.trigger_id(user_id),
    )
    before = len(env.slack.snapshot())
    response = post_signed(body)
    assert response["statusCode"] == 200, response
    assert {c.method for c in env.slack.snapshot()[before:]} <= {"views.open", "response_url"}
    return response, response_url


def queued_jobs(env: Stack) -> list[Job]:
    """The jobs waiting in the jobs queue, left there for the worker."""
    return [Job.from_json(body) for body in env.peek()]
