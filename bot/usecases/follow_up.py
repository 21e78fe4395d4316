"""Re-roll and Variations: a new render from a result, landing in that result's thread.

A button's value carries only the job id; what to render, and where, is read from the job's
record, which lives as long as its images. The clicker asks, so the clicker's quota counts.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.blocks import messages
from bot.blocks.messages import RENDER_AGAIN
from bot.model.job import Job, Progress
from bot.model.prompt import MAX_IMAGES, MAX_SEED, ImageRequest
from bot.services import Services
from bot.usecases.placement import next_to_result
from bot.usecases.queue_render import Answer, Ask, queue_render

# A second click on the same button within this many seconds is the same ask (a double-click);
# after it, a deliberate second re-roll is a new one.
CLICK_MEMORY_SECONDS = 5
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
GONE = "This result is no longer available (its images have expired or were deleted)."


def follow_up(
    services: Services,
    *,
    kind: str,
    job_id: str,
    index: int | None,
    team_id: str,
    user_id: str,
    response_url: str = "",
) -> Answer:
    """Queue a re-roll or variations of job ``job_id`` (of its image ``index``, or all of it)."""
    found = services.store.find(job_id) if _JOB_ID.match(job_id) and kind in RENDER_AGAIN else None
    job, progress = found if found else (None, Progress())
    if job is None or job.team_id != team_id or progress.deleted_at:
        return Answer(messages.notice(GONE))
    if progress.status != "done" or not progress.keys:
        return Answer(messages.notice("This result is not finished yet; try again once it is."))
    if index is not None and not 0 <= index < len(progress.keys):
        return Answer(messages.notice(GONE))
    # Next to the result, in the conversation it is in (the requester's DM, when it went there).
    channel_id, thread_ts = next_to_result(services, job, progress.message)
    ask = Ask(
        team_id=team_id,
        channel_id=channel_id,
        user_id=user_id,
        request_id=f"click#{job_id}#{kind}#{index}#{user_id}",
        response_url=response_url,
        thread_ts=thread_ts,
        parent_job_id=job.job_id,
        remember_seconds=CLICK_MEMORY_SECONDS,
    )
    return queue_render(services, ask, next_request(job, kind, index))


def next_request(job: Job, kind: str, index: int | None) -> ImageRequest:
    """Re-roll: the same parameters with a new seed (one image when asked for one image).
    Variations: four images from the seed next to the original's, the rest kept."""
    base = job.request
    if kind == "reroll":
        return replace(base, seed=None, count=1 if index is not None else base.count)
    seed = base.seed or 0
    return replace(base, seed=(seed + 1 + (index or 0)) % (MAX_SEED + 1), count=MAX_IMAGES)
