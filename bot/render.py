"""The worker's pipeline: job -> channel message -> backend -> S3 -> delivered images.

Each step records its outcome in the job store before the next begins, so a job delivered
again (SQS is at-least-once, and a worker can die mid-job) reuses the message it already posted
and the images it already stored instead of posting or rendering twice. Failures are raised;
bot/worker.py decides between another delivery and giving up.
"""

from __future__ import annotations

import copy
import time
from typing import Protocol, runtime_checkable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot import messages
from bot.backends import Backend
from bot.delivery import Result, deliver
from bot.jobs import Job, Progress
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
    resumed = progress.status != "new"
    progress.redrives = job.redrives

    posted_before = bool(progress.message)
    if not progress.message:
        progress.message = services.slack.post(job, messages.rendering(job.user_id, job.request))
        progress.status = "rendering"
        store.save(job, progress)

    if not progress.keys and resumed:
        progress.keys = _stored_already(services, job)  # stored before a crash, not yet recorded
    if not progress.keys:
        if posted_before:
            _show_rendering(services, job, progress.message)
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


def _show_rendering(services: Services, job: Job, where: dict[str, str]) -> None:
    """An earlier delivery's message may say "retrying in about N s": say "rendering" again
    while this delivery renders. Best effort: the render goes on whatever Slack answers."""
    if "ts" not in where:
        return  # behind response_url: "retrying" is never shown there, keep its few uses
    try:
        services.slack.update(job, where, messages.rendering(job.user_id, job.request))
    except Exception as error:
        logger.warning("could not show that the job is rendering again", error=type(error).__name__)


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
