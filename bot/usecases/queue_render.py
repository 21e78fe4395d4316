"""Queue a render: the one path a command, a button and a mention all take.

It checks the place (allowlists), the prompt (blocked terms), the quota and duplicates, queues
the job (and, on the tasks lane, its "queued" channel message), and answers in words for the
asker. It makes no Slack Web API call and waits on no GPU, so every caller can acknowledge
Slack at once. Nothing refused is queued or counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot.backends.fitting import for_backend
from bot.blocks import messages
from bot.model.guards import blocked_term, place_refusal
from bot.model.job import Job
from bot.model.prompt import ImageRequest, UsageNeeded, named_options, parse
from bot.model.task import Task
from bot.model.workspace import acting_org
from bot.services import Services
from bot.stores.quotas import COMMAND_MEMORY_SECONDS
from bot.tracing import annotate, traced

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

ALREADY_RECEIVED = "Already received; it is on its way."


@dataclass(frozen=True)
class Ask:
    """Who asks, where, and what makes a repeat of the same ask recognisable."""

    team_id: str
    channel_id: str
    user_id: str
    # A retry of the same ask carries the same id (a command's trigger_id, an event's
    # event_id, a click's message and action); "" lets each ask count as new.
    request_id: str = ""
    response_url: str = ""
    thread_ts: str = ""  # follow-ups land in this thread
    parent_job_id: str = ""  # the result a button or a mention started from
    slack_retry: bool = False  # Slack said it is sending this again (X-Slack-Retry-Num)
    remember_seconds: int = COMMAND_MEMORY_SECONDS  # how long request_id refuses a repeat


@dataclass(frozen=True)
class Answer:
    payload: messages.Payload  # what the asker sees, ephemerally
    job: Job | None = None  # the job queued, if one was


def _refused(text: str) -> Answer:
    return Answer(messages.notice(text))


def queue_text(services: Services, ask: Ask, text: str) -> Answer:
    """``/imagine <text>``: usage help for a malformed command, else :func:`queue_render`."""
    settings = services.settings
    refusal = place_refusal(services.guards, ask.team_id, ask.channel_id)
    if refusal:  # before any help: the place decides whether the bot answers here at all
        return _refused(refusal)
    limits = settings.limits
    try:
        request = parse(text, limits)
    except UsageNeeded as needed:
        return Answer(
            messages.usage(
                needed.problem,
                default_steps=limits.default_steps,
                max_steps=limits.max_steps,
                default_guidance=limits.default_guidance,
            )
        )
    return queue_render(services, ask, request, named_options(text))


def queue_render(
    services: Services, ask: Ask, request: ImageRequest, named: frozenset[str] = frozenset()
) -> Answer:
    """Queue ``request``; ``named`` are the options the asker wrote, where that is known."""
    settings = services.settings
    refusal = place_refusal(services.guards, ask.team_id, ask.channel_id)
    if refusal:
        return _refused(refusal)
    # The prompt, and any words an image operation adds (Change…: what, and into what).
    term = blocked_term(
        services.guards, request.prompt, *(request.operation.changes_text if request.operation else ())
    )
    if term:
        shown = messages.escape(term)
        return _refused(
            f"Sorry, this prompt contains “{shown}”, which is not allowed here. Nothing was queued."
        )
    try:  # in the chosen model's sizes and ranges, refused here if it cannot take them
        understood = for_backend(settings, request, named)
    except UsageNeeded as needed:
        return _refused(f"{needed.problem} Nothing was queued.")
    request = understood.request
    now = datetime.now(UTC)
    enterprise_id, org_wide = acting_org(ask.team_id)  # where its workspace's installation is kept
    try:
        job = Job.new(
            team_id=ask.team_id,
            channel_id=ask.channel_id,
            user_id=ask.user_id,
            request=request,
            response_url=ask.response_url,
            thread_ts=ask.thread_ts,
            parent_job_id=ask.parent_job_id,
            now=now.timestamp(),
            enterprise_id=enterprise_id,
            org_wide=org_wide,
        )
    except ValueError:
        return _refused("This request arrived without the workspace, channel or user it came from.")

    request_id = ask.request_id
    if not request_id:
        if ask.slack_retry:
            return _refused(ALREADY_RECEIVED)
        request_id = job.job_id
    quotas = services.quotas
    annotate(job_id=job.job_id, team_id=ask.team_id, channel_id=ask.channel_id)
    try:
        with traced("quota"):
            reservation = quotas.reserve(
                team_id=ask.team_id,
                user_id=ask.user_id,
                images=request.count,
                command_id=request_id,
                guards=services.guards,
                now=now,
                remember_seconds=ask.remember_seconds,
            )
    except Exception:
        logger.exception("could not check the quota", job_id=job.job_id)
        return _refused("The quota service is not answering right now; nothing was queued. Try again soon.")
    if reservation.duplicate:
        logger.info("duplicate request ignored", slack_retry=ask.slack_retry)
        return _refused(ALREADY_RECEIVED)
    if not reservation.accepted:
        metrics.add_metric(name="CommandsOverQuota", unit=MetricUnit.Count, value=1)
        return _refused(reservation.refusal)

    try:
        with traced("queue send"):
            services.queue.send(job)
    except Exception:
        logger.exception("could not queue a job", job_id=job.job_id)
        quotas.release(
            team_id=ask.team_id, user_id=ask.user_id, images=request.count, command_id=request_id, now=now
        )
        return _refused("The image queue is not answering right now; nothing was queued. Try again soon.")
    logger.info("job queued", job_id=job.job_id, team_id=job.team_id, channel_id=job.channel_id,
                in_thread=bool(job.thread_ts))  # fmt: skip
    _queue_status(services, job)
    metrics.add_metric(name="JobsQueued", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ImagesRequested", unit=MetricUnit.Count, value=request.count)
    return Answer(_noted(messages.queued(job.request), understood.notes), job)


def _noted(payload: messages.Payload, notes: tuple[str, ...]) -> messages.Payload:
    """The acknowledgement with a line on what the model does not use or draws differently (our
    own words and checked option values only), so that nothing asked for is dropped unsaid."""
    if not notes:
        return payload
    line = " ".join(notes)
    blocks = [*payload.get("blocks", []), {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}]
    return {**payload, "text": f"{payload.get('text', '')} ({line})", "blocks": blocks}


def _queue_status(services: Services, job: Job) -> None:
    """Ask the tasks lane to post the job's "queued, N ahead" message (bot/worker/pipeline.py). Best
    effort: the job is queued already, and the worker posts its message when it starts."""
    try:
        services.tasks.send(Task("status", {"job": json.loads(job.to_json())},
                                 task_id=Task.id_for("status", job.job_id)))  # fmt: skip
    except Exception:
        logger.exception("could not queue the job's queued message", job_id=job.job_id)
