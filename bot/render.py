"""The worker's pipeline: job -> channel message -> backend -> S3 -> delivered images.

The channel message shows the job's state, changed once per state: "queued, N ahead" (posted
by :func:`show_queued` from the tasks lane while the job waits), "painting since <time>" (when
the render starts), then the result with its render time. One message per job, whichever of
the two posts first: the job's record decides (:meth:`bot.jobs.JobStore.claim_message`).

Each step records its outcome in the job store before the next begins, so a job delivered
again (SQS is at-least-once, and a worker can die mid-job) reuses the message it already posted
and the images it already stored instead of posting or rendering twice. Failures are raised;
bot/worker.py decides between another delivery and giving up.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.backends import Backend
from bot.delivery import Result, deliver
from bot.jobs import Job, Progress
from bot.poster import CHANNEL_CLOSED, error_code
from bot.services import Services
from bot.settings import SettingsError
from bot.storage import image_key

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


def finished(progress: Progress, job: Job) -> bool:
    """Done, or failed and not sent back since (a redriven job runs again)."""
    return progress.status == "done" or (progress.status == "failed" and progress.redrives >= job.redrives)


def render(services: Services, job: Job, *, budget_seconds: float | None = None) -> Progress:
    """Carry a job to its posted result, resuming wherever an earlier delivery stopped.

    ``budget_seconds`` caps the backend's time for starting endpoint attempts (its
    RENDER_BUDGET_SECONDS), so that a render fits the invocation's time left.
    """
    settings = services.settings
    if settings.image_delivery == "link" and not settings.public_base_url:  # before any GPU time
        raise SettingsError("PUBLIC_BASE_URL is not set: the worker needs it to link the images")
    store = services.store
    progress = store.load(job.job_id)
    if finished(progress, job):
        logger.info("job already finished", job_id=job.job_id, status=progress.status)
        return progress
    resumed = progress.status not in ("new", "queued")
    progress.redrives = job.redrives

    started_at = time.time()
    painting_shown = False
    if not progress.message:
        painting_shown = _post_painting(services, job, progress, started_at)
    elif progress.status != "rendering":  # the queued message, or a redriven job's
        progress.status = "rendering"
        store.save(job, progress)

    if not progress.keys and resumed:
        progress.keys = _stored_already(services, job)  # stored before a crash, not yet recorded
    if not progress.keys:
        if not painting_shown:  # queued, or an earlier delivery's "retrying": now painting
            _show_painting(services, job, progress.message, started_at)
        started = time.perf_counter()
        jpegs = _within(services.backend, budget_seconds).generate(job.request)
        progress.seconds = time.perf_counter() - started
        metrics.add_metric(name="BackendSeconds", unit=MetricUnit.Seconds, value=progress.seconds)
        progress.keys = _store_images(services, job, jpegs)
        store.save(job, progress)

    # From here on the images exist: whatever Slack refuses, they are delivered, never rendered again.
    way = deliver(services, Result(job, progress.keys, progress.seconds), progress.message)
    progress.status = "done"
    store.save(job, progress)
    root_ts = job.thread_ts or progress.message.get("ts", "")
    if root_ts:  # a mention in this thread starts from the newest result
        store.note_latest_in_thread(job, root_ts)
    _note_recent(services, job)
    metrics.add_metric(name="ImagesPosted", unit=MetricUnit.Count, value=len(progress.keys))
    logger.info("job done", job_id=job.job_id, images=len(progress.keys), delivered_as=way,
                backend_seconds=round(progress.seconds, 3))  # fmt: skip
    return progress


def _note_recent(services: Services, job: Job) -> None:
    """List the job on its requester's Home tab. Best effort, after the job is recorded done: a
    failure here must not send a delivered job round again (its files would be uploaded twice)."""
    try:
        services.store.note_recent(job)
    except Exception as error:
        logger.warning("the Home tab will not list this job", job_id=job.job_id, error=type(error).__name__)


def _post_painting(services: Services, job: Job, progress: Progress, started_at: float) -> bool:
    """Post the job's channel message, saying "painting", and claim it as the job's message.

    The queued status (:func:`show_queued`, on the tasks lane) may have posted and claimed its
    own meanwhile: then that one is the job's message, this one is deleted again, and False
    says that the kept message does not say "painting" yet."""
    mine = services.slack.post(job, messages.rendering(job.user_id, job.request, started_at))
    progress.message, progress.status = mine, "rendering"
    if _claimed(services, mine, lambda: services.store.claim_message(job, progress)):
        return True
    progress.message = services.store.load(job.job_id).message
    logger.info("the queued message was recorded first; it is the job's message")
    _take_back(services, mine)
    services.store.save(job, progress)
    return False


def _show_painting(services: Services, job: Job, where: dict[str, str], started_at: float) -> None:
    """The message says "queued", or an earlier delivery's "retrying in about N s": say
    "painting" while this delivery renders. Best effort: the render goes on whatever Slack
    answers."""
    if "ts" not in where:
        return  # behind response_url: only the render's own states go there, keep its few uses
    try:
        services.slack.update(job, where, messages.rendering(job.user_id, job.request, started_at))
    except Exception as error:
        logger.warning("could not show that the job is painting", error=type(error).__name__)


def show_queued(services: Services, job: Job) -> None:
    """The job's channel message while it waits, with about how many jobs are ahead (the
    "status" task, run on the tasks lane right after the job is queued).

    Nothing is posted once the job has a record: the render has begun (its message says
    "painting") or the job is over. Where the bot may not post, the queued state is left out:
    the requester saw "Queued" in the acknowledgement already, and the command's response_url
    (5 uses) is kept for the render's message, its result and any failure note. Should the
    render claim the job's message between this check and this post, the post is deleted
    again: one channel message per job, whoever posts first (:meth:`JobStore.claim_message`).
    """
    store = services.store
    if store.find(job.job_id) is not None:
        logger.info("the job has begun; no queued message", job_id=job.job_id)
        return
    ahead = max(0, services.queue.depth() - 1)  # every job in the queue but this one
    try:
        response = services.slack_client.chat_postMessage(
            channel=job.channel_id,
            thread_ts=job.thread_ts or None,  # a follow-up waits in its result's thread
            unfurl_links=False,
            unfurl_media=False,
            **messages.waiting(job.user_id, job.request, ahead),
        )
    except SlackApiError as error:
        if error_code(error) not in CHANNEL_CLOSED:
            raise
        logger.info("channel closed to the bot; no queued message", error=error_code(error))
        return
    where = {"channel": str(response["channel"]), "ts": str(response["ts"])}
    queued = Progress(status="queued", message=where)
    if not _claimed(services, where, lambda: store.claim_message(job, queued, first_record=True)):
        logger.info("the render posted first; the queued message is taken back", job_id=job.job_id)
        _take_back(services, where)


def _claimed(services: Services, where: dict[str, str], claim: Callable[[], bool]) -> bool:
    """``claim()``; should the job store fail, the message just posted is taken back before the
    error is raised: unrecorded, a later delivery would post another beside it."""
    try:
        return claim()
    except Exception:
        _take_back(services, where)
        raise


def _take_back(services: Services, where: dict[str, str]) -> None:
    """Delete a message that lost the claim to the job's message (chat.delete: a bot token
    deletes the bot's own messages, docs.slack.dev/reference/methods/chat.delete). Best
    effort: the client already retries rate limits and server errors."""
    if "ts" not in where:
        logger.warning("a second message behind response_url cannot be taken back")
        return
    try:
        services.slack_client.chat_delete(channel=where["channel"], ts=where["ts"])
    except Exception as error:
        logger.warning("could not take back a second message", error=type(error).__name__)


@runtime_checkable
class _Budgeted(Protocol):
    budget_seconds: float  # no new endpoint attempt starts after this (bot/backends/sagemaker.py)


def _within(backend: Backend, budget_seconds: float | None) -> Backend:
    """``backend`` with its retry budget cut to ``budget_seconds``: a copy, since the backend
    is shared by every job of the container."""
    if budget_seconds is None or not isinstance(backend, _Budgeted):
        return backend
    capped = copy.copy(backend)
    capped.budget_seconds = max(0.0, min(backend.budget_seconds, budget_seconds))
    return capped


def _keys(job: Job) -> list[str]:
    return [image_key(job.team_id, job.job_id, job.created, index) for index in range(job.request.count)]


def _stored_already(services: Services, job: Job) -> list[str]:
    keys = _keys(job)
    return keys if all(services.images.exists(key) for key in keys) else []


def _store_images(services: Services, job: Job, jpegs: list[bytes]) -> list[str]:
    request = job.request
    metadata = {
        "prompt": request.prompt,
        "negative-prompt": request.negative_prompt,
        "seed": str(request.seed),
        "size": f"{request.width}x{request.height}",
        "steps": str(request.steps),
        "cfg": f"{request.guidance:g}",
        "job-id": job.job_id,
        "user-id": job.user_id,
        "backend": services.backend.name,
    }
    keys = _keys(job)
    for key, jpeg in zip(keys, jpegs, strict=True):
        services.images.put(key, jpeg, metadata)
    return keys
