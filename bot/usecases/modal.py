"""The ``/imagine`` form: which modal opens for ``/imagine`` with no text, for Edit on a result and
for the "Imagine this" message shortcut, and what a submission of it queues.

A submission goes through :func:`bot.usecases.queue_render.queue_render` like every other path,
so the same places, blocked terms, quotas and one-job-per-request guarantee hold. Nothing here
calls Slack: the listeners open the view and acknowledge with the answer.

The job goes to the conversation picked in the form's "Post in" select, with the response_url
Slack issued for it (bot/blocks/form.py): where the bot may not post, the worker answers through it,
and where there is none either, by direct message (bot/slack/poster.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from bot.blocks.form import (
    POST_IN,
    Target,
    chosen_conversation,
    field_errors,
    fields_from_state,
    imagine_modal,
    prompt_from_message,
    response_url_for,
)
from bot.model.guards import place_refusal
from bot.model.job import Job
from bot.model.prompt import InvalidFields, from_fields
from bot.services import Services
from bot.usecases.follow_up import GONE
from bot.usecases.placement import next_to_result
from bot.usecases.queue_render import ALREADY_RECEIVED, Ask, queue_render

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
OUT_OF_DATE = "This form can no longer be used; close it and open a new one."


@dataclass(frozen=True)
class Form:
    """The modal to open, or why none opens (said to the asker alone)."""

    view: dict[str, Any] | None = None
    refusal: str = ""


def _refused_place(services: Services, team_id: str, channel_id: str) -> Form | None:
    refusal = place_refusal(services.guards, team_id, channel_id)
    return Form(refusal=refusal) if refusal else None


def command_form(services: Services, *, team_id: str, channel_id: str) -> Form:
    """``/imagine`` with no text: an empty form for the channel it was typed in."""
    refused = _refused_place(services, team_id, channel_id)
    return refused or Form(imagine_modal(Target(channel_id), services.settings.limits))


def edit_form(services: Services, *, job_id: str, index: int | None, team_id: str) -> Form:
    """Edit on a result: the form filled in with that result's prompt and options (one image
    when the button is one image's), whose picture goes into the result's thread. What it holds
    is read from the job record, never from the click."""
    found = services.store.find(job_id) if _JOB_ID.match(job_id) else None
    job, progress = found if found else (None, None)
    if job is None or progress is None or job.team_id != team_id or progress.deleted_at:
        return Form(refusal=GONE)
    refused = _refused_place(services, team_id, job.channel_id)
    if refused:
        return refused
    target = _edit_target(services, job, progress.message)
    prefill = job.request if index is None else replace(job.request, count=1)
    return Form(imagine_modal(target, services.settings.limits, prefill=prefill, title="Edit and imagine"))


def _edit_target(services: Services, job: Job, where: dict[str, str]) -> Target:
    """Where an edit of ``job``'s result goes: next to that result (bot/usecases/placement.py);
    the form's "Post in" shows it, and the requester may pick the job's conversation instead."""
    channel_id, thread_ts = next_to_result(services, job, where)
    return Target(channel_id, thread_ts, job.job_id)


def message_form(services: Services, *, team_id: str, channel_id: str, message: dict[str, Any]) -> Form:
    """The "Imagine this" shortcut on a message: the form with the message's words as the prompt; the picture
    goes into the message's thread (the thread it is in, or a new one under it), next to what
    it was made from."""
    refused = _refused_place(services, team_id, channel_id)
    if refused:
        return refused
    limits = services.settings.limits
    prompt = prompt_from_message(str(message.get("text") or ""), limits.max_prompt_chars)
    thread_ts = str(message.get("thread_ts") or message.get("ts") or "")
    target = Target(channel_id, thread_ts)
    return Form(imagine_modal(target, limits, prompt=prompt, title="Imagine this"))


@dataclass(frozen=True)
class Submission:
    """A view_submission of the form: who submitted which view, and its state."""

    team_id: str
    user_id: str
    view_id: str
    private_metadata: str
    values: Any  # view.state.values, as Slack sent it
    response_urls: Any = None  # the payload's response_urls, as Slack sent them


def submit(services: Services, submission: Submission) -> dict[str, Any]:
    """Queue what the form says; the acknowledgement's body: empty to close the modal, or
    ``response_action: errors`` naming the fields to fix (a refusal shows under the prompt)."""
    target = Target.from_metadata(submission.private_metadata)
    if target is None:
        return field_errors({"prompt": OUT_OF_DATE})
    try:
        request = from_fields(fields_from_state(submission.values), services.settings.limits)
    except InvalidFields as invalid:
        return field_errors(invalid.problems)
    if target.parent_job_id:
        found = services.store.find(target.parent_job_id)
        if found is None or found[0] is None or found[0].team_id != submission.team_id or found[1].deleted_at:
            return field_errors({"prompt": GONE})  # deleted while the form was open
    # A form opened before it had the select names no conversation: its own place, then.
    chosen = chosen_conversation(submission.values, POST_IN)
    channel = chosen or target.channel_id
    refusal = place_refusal(services.guards, submission.team_id, channel)
    if refusal:
        return field_errors({"post_in" if chosen else "prompt": refusal})
    ask = Ask(
        team_id=submission.team_id,
        channel_id=channel,
        user_id=submission.user_id,
        # A view is submitted once: a submission that is accepted closes it. The same view id
        # again is the same submission delivered twice (or Submit pressed twice).
        request_id=f"view#{submission.view_id}" if submission.view_id else "",
        response_url=response_url_for(submission.response_urls, channel),
        # A thread lives in one conversation: picked elsewhere, the picture goes to its top.
        thread_ts=target.thread_ts if channel == target.channel_id else "",
        parent_job_id=target.parent_job_id,
    )
    answer = queue_render(services, ask, request)
    if answer.job is not None or answer.payload.get("text") == ALREADY_RECEIVED:
        return {}
    # Refused (place, blocked term, quota, a service down): said on the form, which stays open
    # as it was, so the person can change what they asked for or cancel.
    return field_errors({"prompt": str(answer.payload.get("text", ""))})
