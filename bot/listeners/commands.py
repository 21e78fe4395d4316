"""``/imagine``: check, parse, reserve quota, queue and acknowledge, with no Slack Web API call
and no GPU wait. Every refusal says why; nothing refused is queued or counted."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_bolt import Ack, App, BoltRequest

from bot import messages
from bot.guards import blocked_term, place_refusal
from bot.jobs import Job
from bot.prompt import UsageNeeded, parse
from bot.services import Services

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

# /imagine, and renamed copies such as /imagine-dev for a second install of the app.
COMMAND = re.compile(r"^/imagine[\w-]*$")


def register(app: App, services: Services) -> None:
    @app.command(COMMAND)
    def imagine(ack: Ack, command: dict[str, Any], request: BoltRequest) -> None:
        retry = (request.headers.get("x-slack-retry-num") or [""])[0]
        ack(answer(services, command, slack_retry=bool(retry)))


def answer(services: Services, command: dict[str, Any], *, slack_retry: bool = False) -> dict[str, Any]:
    settings = services.settings
    team_id, channel_id = str(command.get("team_id", "")), str(command.get("channel_id", ""))
    refusal = place_refusal(settings.guards, team_id, channel_id)
    if refusal:
        return messages.notice(refusal)
    limits = settings.limits
    try:
        request = parse(str(command.get("text") or ""), limits)
    except UsageNeeded as needed:
        return messages.usage(
            needed.problem,
            default_steps=limits.default_steps,
            max_steps=limits.max_steps,
            default_guidance=limits.default_guidance,
        )
    term = blocked_term(settings.guards, request.prompt)
    if term:
        shown = messages.escape(term)
        return messages.notice(
            f"Sorry, this prompt contains “{shown}”, which is not allowed here. Nothing was queued."
        )
    now = datetime.now(UTC)
    try:
        job = Job.new(
            team_id=team_id,
            channel_id=channel_id,
            user_id=str(command.get("user_id", "")),
            request=request,
            response_url=str(command.get("response_url") or ""),
            now=now.timestamp(),
        )
    except ValueError:
        return messages.notice("This command arrived without the workspace, channel or user it came from.")

    # Slack retries a command it thinks went unanswered; its trigger_id stays the same.
    command_id = str(command.get("trigger_id") or "")
    if not command_id:
        if slack_retry:
            return messages.notice("Already received; it is on its way.")
        command_id = job.job_id
    quotas = services.quotas
    try:
        reservation = quotas.reserve(
            team_id=team_id,
            user_id=job.user_id,
            images=request.count,
            command_id=command_id,
            guards=settings.guards,
            now=now,
        )
    except Exception:
        logger.exception("could not check the quota", job_id=job.job_id)
        return messages.notice(
            "The quota service is not answering right now; nothing was queued. Try again soon."
        )
    if not reservation.accepted and not reservation.duplicate:
        metrics.add_metric(name="CommandsOverQuota", unit=MetricUnit.Count, value=1)
    if reservation.duplicate:
        logger.info("duplicate command ignored", slack_retry=slack_retry)
        return messages.notice("Already received; it is on its way.")
    if not reservation.accepted:
        return messages.notice(reservation.refusal)

    try:
        services.queue.send(job)
    except Exception:
        logger.exception("could not queue a job", job_id=job.job_id)
        quotas.release(
            team_id=team_id, user_id=job.user_id, images=request.count, command_id=command_id, now=now
        )
        return messages.notice(
            "The image queue is not answering right now; nothing was queued. Try again soon."
        )
    logger.info("job queued", job_id=job.job_id, team_id=job.team_id, channel_id=job.channel_id)
    metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ImagesRequested", unit=MetricUnit.Count, value=request.count)
    return messages.queued(job.request)
