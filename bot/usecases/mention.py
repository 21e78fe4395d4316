"""``@imagine <text and/or options>``: a mention of the bot (the ``app_mention`` event).

In a result's thread, the mention starts from the thread's newest result (``prompt.refine``):
options change only what they name, text replaces the prompt, ``+ text`` adds to it; the new
image lands in that thread. Anywhere else it is a new request, read like ``/imagine``: at the
top of a channel the result is a new channel message; in a thread with no result yet (a
conversation) it lands in that thread, beside the people who asked, and that thread then
becomes a result's thread. Both go through the same use case as ``/imagine`` (guards, quotas,
one job per request).

Nothing here calls the Slack Web API: an Events API request is answered only once this returns,
so a refusal or usage help reaches the author as a ``notice`` task (an ephemeral message, in the
thread when there is one) that the worker sends after the acknowledgement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from bot.blocks import messages
from bot.model.guards import place_refusal
from bot.model.job import Job
from bot.model.prompt import UsageNeeded, parse, refine
from bot.model.task import Task
from bot.services import Services
from bot.usecases.queue_render import ALREADY_RECEIVED, Answer, Ask, queue_render

logger = Logger(service="imagine", child=True)

# The mentions a message starts with: <@U123> or, in older clients' text, <@U123|name>.
_LEADING_MENTIONS = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*)+")
# Slack escapes these three in message text (docs.slack.dev/messaging/formatting-message-text,
# "Escaping text"); a prompt is kept as typed, and escaped again wherever it is shown.
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


@dataclass(frozen=True)
class Mention:
    team_id: str
    channel_id: str
    user_id: str
    text: str  # as Slack sends it, the mention of the bot included
    event_id: str = ""  # the same on every retry of the event
    thread_ts: str = ""  # the thread's root, when the mention is a reply in a thread
    slack_retry: bool = False  # X-Slack-Retry-Num was sent
    bot_user_ids: frozenset[str] = frozenset()  # the bot's own user id (the event's authorizations)


def request_text(text: str, bot_user_ids: frozenset[str] = frozenset()) -> str:
    """The request in a mention's text: the leading mentions and any other mention of the bot
    gone, Slack's escaping undone."""
    text = _LEADING_MENTIONS.sub("", text, count=1)
    for bot in bot_user_ids:
        text = re.sub(rf"<@{re.escape(bot)}(?:\|[^>]*)?>", " ", text)
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return text.strip()


def mention(services: Services, said: Mention) -> Answer:
    """Queue what the mention asks for; anything else is told to its author as a notice task."""
    answer = _answer(services, said)
    # A retried event whose job is already queued needs no word: the job's own message says it.
    if answer.job is None and answer.payload.get("text") != ALREADY_RECEIVED:
        try:
            task = Task.notice(
                team_id=said.team_id,
                channel_id=said.channel_id,
                user_id=said.user_id,
                payload=answer.payload,
                thread_ts=said.thread_ts,
                key=said.event_id,  # Slack's retry of this event makes the same task, said once
            )
        except ValueError:  # no person or place to answer (an event without a user)
            logger.warning("a mention with nobody to answer; nothing was queued or said")
            return answer
        # If the tasks queue is down this raises, Bolt answers 500, and Slack sends the event
        # again later: nothing was queued or counted, so that retry starts afresh.
        services.tasks.send(task)
    return answer


def _answer(services: Services, said: Mention) -> Answer:
    settings = services.settings
    refusal = place_refusal(services.guards, said.team_id, said.channel_id)
    if refusal:  # before any help: the place decides whether the bot answers here at all
        return Answer(messages.notice(refusal))
    base = _thread_result(services, said)
    limits = settings.limits
    text = request_text(said.text, said.bot_user_ids)
    try:
        request = refine(base.request.drawn_from_prompt(), text, limits) if base else parse(text, limits)
    except UsageNeeded as needed:
        return Answer(
            messages.mention_usage(
                needed.problem,
                default_steps=limits.default_steps,
                max_steps=limits.max_steps,
                default_guidance=limits.default_guidance,
            )
        )
    ask = Ask(
        team_id=said.team_id,
        channel_id=said.channel_id,
        user_id=said.user_id,
        request_id=said.event_id,
        thread_ts=said.thread_ts,
        parent_job_id=base.job_id if base else "",
        slack_retry=said.slack_retry,
    )
    return queue_render(services, ask, request)


def _thread_result(services: Services, said: Mention) -> Job | None:
    """The newest result in the mention's thread, if it is a result's thread."""
    if not said.thread_ts:
        return None
    latest = services.store.latest_in_thread(said.team_id, said.channel_id, said.thread_ts)
    found = services.store.find(latest) if latest else None
    job = found[0] if found else None
    if job is None or job.team_id != said.team_id or job.channel_id != said.channel_id:
        return None  # its record expired with its images: a new request, in the same thread
    return job
