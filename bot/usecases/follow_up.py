"""The buttons that start from a result, landing in that result's thread: Re-roll and Variations
render its prompt again; the image operations (Upscale, Vary, Zoom Out, Change…) work on one of
its images.

A button's value carries only the job id; what to render, and from which stored image, is read
from the job's record, which lives as long as its images. The clicker asks, so the clicker's
quota counts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from bot.blocks import messages
from bot.blocks.buttons import OPERATIONS, RENDER_AGAIN
from bot.model.job import Job, Progress
from bot.model.operation_models import operation_request
from bot.model.prompt import MAX_IMAGES, MAX_SEED, ImageRequest, UsageNeeded
from bot.services import Services
from bot.stores.quotas import COMMAND_MEMORY_SECONDS
from bot.usecases.placement import next_to_result
from bot.usecases.queue_render import Answer, Ask, queue_render

# A second click on the same button within this many seconds is the same ask (a double-click);
# after it, a deliberate second re-roll is a new one.
CLICK_MEMORY_SECONDS = 5
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
GONE = "This result is no longer available (its images have expired or were deleted)."
NOT_FINISHED = "This result is not finished yet; try again once it is."


@dataclass(frozen=True)
class Clicked:
    """Who clicked which button, on which image (``index``; None: the whole result)."""

    kind: str
    job_id: str
    index: int | None
    team_id: str
    user_id: str
    response_url: str = ""


def follow_up(services: Services, click: Clicked) -> Answer:
    """Queue a re-roll or variations of the clicked result (of its image, or all of it). Re-roll
    on an operation's result does that operation again, on the same image, with a new seed."""
    found = finished_result(services, click) if click.kind in RENDER_AGAIN else Answer(messages.notice(GONE))
    if isinstance(found, Answer):
        return found
    job, progress = found
    operation = job.request.operation
    if click.kind == "reroll" and operation is not None:
        # As a click on that image would: the operation may be off by now, its image gone.
        again = replace(click, kind=operation.kind, job_id=job.parent_job_id, index=operation.source_index)
        return operate(services, again, search=operation.search, replacement=operation.replacement,
                       request_id=_click_id(job, click),
                       remember_seconds=CLICK_MEMORY_SECONDS)  # fmt: skip
    return queue_render(
        services, _ask(services, click, job, progress), next_request(job, click.kind, click.index)
    )


def operate(
    services: Services,
    click: Clicked,
    *,
    search: str = "",
    replacement: str = "",
    request_id: str = "",
    remember_seconds: int = COMMAND_MEMORY_SECONDS,
) -> Answer:
    """Queue image operation ``click.kind`` on the clicked image (Change… with what to change,
    ``search``, and into what, ``replacement``). Refused, with nothing queued, when the operation
    is off, the image is gone, or its model cannot take the image (with the limit). A
    ``request_id`` (a form's submission, a re-roll) replaces the click's, remembered that long."""
    settings = services.settings
    choice = settings.operation_models.get(click.kind)
    if choice is None:
        return Answer(messages.notice("This button is not available here any more."))
    found = finished_result(services, click)
    if isinstance(found, Answer):
        return found
    job, progress = found
    try:
        request = operation_request(job.request, progress.keys, click.index or 0, click.kind, choice,
                                    search=search, replacement=replacement)  # fmt: skip
    except UsageNeeded as needed:  # the image is not one the model takes: said with the limit
        return Answer(messages.notice(f"{OPERATIONS[click.kind]} cannot be done here: {needed.problem} "
                                      "Nothing was queued."))  # fmt: skip
    except ValueError as missing:  # Change… without its words
        return Answer(messages.notice(f"{missing}. Nothing was queued."))
    ask = _ask(services, click, job, progress)
    if request_id:
        ask = replace(ask, request_id=request_id, remember_seconds=remember_seconds)
    return queue_render(services, ask, request)


def finished_result(services: Services, click: Clicked) -> tuple[Job, Progress] | Answer:
    """The clicked result, done and still kept; else the answer that says why not."""
    found = services.store.find(click.job_id) if _JOB_ID.match(click.job_id) else None
    job, progress = found if found else (None, Progress())
    retention = services.settings.image_retention_days * 86400
    if (
        job is None
        or job.team_id != click.team_id
        or progress.deleted_at
        or job.created_at + retention < time.time()
    ):
        return Answer(messages.notice(GONE))
    if progress.status != "done" or not progress.keys:
        return Answer(messages.notice(NOT_FINISHED))
    if click.index is not None and not 0 <= click.index < len(progress.keys):
        return Answer(messages.notice(GONE))
    return job, progress


def _ask(services: Services, click: Clicked, job: Job, progress: Progress) -> Ask:
    # Next to the result, in the conversation it is in (the requester's DM, when it went there).
    channel_id, thread_ts = next_to_result(services, job, progress.message)
    return Ask(
        team_id=click.team_id,
        channel_id=channel_id,
        user_id=click.user_id,
        request_id=_click_id(job, click),
        response_url=click.response_url,
        thread_ts=thread_ts,
        parent_job_id=job.job_id,
        remember_seconds=CLICK_MEMORY_SECONDS,
    )


def _click_id(job: Job, click: Clicked) -> str:
    """The same button, on the same result and image, by the same person: the same ask."""
    return f"click#{job.job_id}#{click.kind}#{click.index}#{click.user_id}"


def next_request(job: Job, kind: str, index: int | None) -> ImageRequest:
    """Re-roll: the same parameters with a new seed (one image when asked for one image); on an
    operation's result, the same operation again. Variations: four images from the seed next to
    the original's, the rest kept, drawn from the prompt."""
    base = job.request
    if kind == "reroll":
        return replace(base, seed=None, count=1 if index is not None else base.count)
    base = base.drawn_from_prompt()
    seed = base.seed or 0
    return replace(base, seed=(seed + 1 + (index or 0)) % (MAX_SEED + 1), count=MAX_IMAGES)
