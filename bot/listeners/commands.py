"""``/imagine``: parse, queue, and acknowledge, with no Slack Web API call and no GPU wait."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from slack_bolt import Ack, App

from bot import messages
from bot.jobs import Job
from bot.prompt import UsageNeeded, parse
from bot.services import Services

logger = Logger(service="imagine", child=True)

# /imagine, and renamed copies such as /imagine-dev for a second install of the app.
COMMAND = re.compile(r"^/imagine[\w-]*$")


def register(app: App, services: Services) -> None:
    @app.command(COMMAND)
    def imagine(ack: Ack, command: dict[str, Any]) -> None:
        ack(answer(services, command))


def answer(services: Services, command: dict[str, Any]) -> dict[str, Any]:
    limits = services.settings.limits
    try:
        request = parse(str(command.get("text") or ""), limits)
    except UsageNeeded as needed:
        return messages.usage(
            needed.problem,
            default_steps=limits.default_steps,
            max_steps=limits.max_steps,
            default_guidance=limits.default_guidance,
        )
    try:
        job = Job.new(
            team_id=str(command.get("team_id", "")),
            channel_id=str(command.get("channel_id", "")),
            user_id=str(command.get("user_id", "")),
            request=request,
            response_url=str(command.get("response_url") or ""),
        )
    except ValueError:
        return messages.notice("This command arrived without the workspace, channel or user it came from.")
    try:
        services.queue.send(job)
    except Exception:
        logger.exception("could not queue a job", job_id=job.job_id)
        return messages.notice(
            "The image queue is not answering right now; nothing was queued. Try again soon."
        )
    logger.info("job queued", job_id=job.job_id, team_id=job.team_id, channel_id=job.channel_id)
    return messages.queued(job.request)
