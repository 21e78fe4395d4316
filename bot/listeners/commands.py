"""``/imagine``: acknowledged with the use case's answer, with no Slack Web API call and no GPU
wait (bot/usecases/queue_render.py does the work)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.services import Services
from bot.usecases.queue_render import Ask, queue_text

# /imagine, and renamed copies such as /imagine-dev for a second install of the app.
COMMAND = re.compile(r"^/imagine[\w-]*$")


def register(app: App, services: Services) -> None:
    @app.command(COMMAND)
    def imagine(ack: Ack, command: dict[str, Any], request: BoltRequest) -> None:
        retry = (request.headers.get("x-slack-retry-num") or [""])[0]
        ack(answer(services, command, slack_retry=bool(retry)))


def answer(services: Services, command: dict[str, Any], *, slack_retry: bool = False) -> dict[str, Any]:
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
