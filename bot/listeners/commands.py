"""``/imagine``: acknowledged with the use case's answer, with no Slack Web API call and no GPU
wait (bot/usecases/queue_render.py does the work). ``/imagine`` with no text opens the modal
first: views.open is the one call allowed before the acknowledgement."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.blocks import messages
from bot.listeners.views import open_modal
from bot.services import Services

# /imagine, and renamed copies such as /imagine-dev for a second install of the app.
COMMAND = re.compile(r"^/imagine[\w-]*$")
NO_FORM = "The form could not open, so here is how to ask in words instead."


def register(app: App, services: Services) -> None:
    @app.command(COMMAND)
    def imagine(ack: Ack, command: dict[str, Any], request: BoltRequest) -> None:
        if not str(command.get("text") or "").strip():
            reply = open_form(services, command)
            if reply is None:
                ack()
            else:
                ack(reply)
            return
        retry = (request.headers.get("x-slack-retry-num") or [""])[0]
        ack(answer(services, command, slack_retry=bool(retry)))


def open_form(services: Services, command: dict[str, Any]) -> dict[str, Any] | None:
    """``/imagine`` with no text: open the modal, then acknowledge with nothing, which Slack
    takes as a bare acknowledgement and shows nothing for (slack.dev/java-slack-sdk/guides/
    slash-commands: "If the response body is empty, the response will be recognized as just an
    acknowledgment"). ``None`` for that; else the ephemeral answer: the place's refusal, or
    usage help when the modal could not open, so the person is never left with nothing."""
    from bot.usecases.modal import command_form  # the form's use case, only when a form opens

    form = command_form(
        services, team_id=str(command.get("team_id", "")), channel_id=str(command.get("channel_id", ""))
    )
    if form.view is None:
        return messages.notice(form.refusal)
    error = open_modal(services, str(command.get("trigger_id") or ""), form.view)
    # A retried command carries the same trigger_id (see answer()): the first delivery used it
    # to open the form, which is open.
    if not error or error == "exchanged_trigger_id":
        return None
    limits = services.settings.limits
    return messages.usage(
        NO_FORM,
        default_steps=limits.default_steps,
        max_steps=limits.max_steps,
        default_guidance=limits.default_guidance,
    )


def answer(services: Services, command: dict[str, Any], *, slack_retry: bool = False) -> dict[str, Any]:
    from bot.usecases.queue_render import Ask, queue_text

    ask = Ask(
        team_id=str(command.get("team_id", "")),
        channel_id=str(command.get("channel_id", "")),
        user_id=str(command.get("user_id", "")),
        # Slack retries a command it thinks went unanswered; its trigger_id stays the same.
        request_id=str(command.get("trigger_id") or ""),
        response_url=str(command.get("response_url") or ""),
        slack_retry=slack_retry,
    )
    return queue_text(services, ask, str(command.get("text") or "")).payload
