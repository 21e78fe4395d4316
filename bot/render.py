"""The worker's pipeline: job -> channel message -> backend -> S3 -> updated message.

Each step records its outcome in the job store before the next begins, so a job delivered
again (SQS is at-least-once) reuses the message it already posted and the images it already
stored instead of posting or rendering twice.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger

from bot import messages
from bot.backends import BackendError
from bot.jobs import Job, Progress
from bot.services import Services
from bot.settings import SettingsError
from bot.storage import image_key, image_link

logger = Logger(service="imagine", child=True)


def render(services: Services, job: Job, *, final_attempt: bool = False) -> Progress:
    """Carry a job to its end. Raises when a later delivery could do better."""
    if not services.settings.public_base_url:  # checked before any GPU time is spent
        raise SettingsError("PUBLIC_BASE_URL is not set: the worker needs it to link the images")
    store = services.store
    progress = store.load(job.job_id)
    if progress.status in ("done", "failed"):
        logger.info("job already finished", job_id=job.job_id, status=progress.status)
        return progress

    if not progress.message:
        progress.message = services.slack.post(job, messages.rendering(job.user_id, job.request))
        progress.status = "rendering"
        store.save(job.job_id, progress)

    if not progress.keys:
        try:
            jpegs, progress.seconds = _generate(services, job)
        except BackendError as error:
            if error.retryable and not final_attempt:
                raise
            _fail(services, job, progress, error.reason)
            if error.retryable:
                raise  # the final attempt: the user has been told; SQS moves the job to the DLQ
            return progress
        progress.keys = _store_images(services, job, jpegs)
        store.save(job.job_id, progress)

    settings = services.settings
    links = [image_link(settings.public_base_url, settings.link_secret, key) for key in progress.keys]
    services.slack.update(
        job, progress.message, messages.result(job.user_id, job.request, links, progress.seconds)
    )
    progress.status = "done"
    store.save(job.job_id, progress)
    logger.info("job done", job_id=job.job_id, images=len(links), backend_seconds=round(progress.seconds, 3))
    return progress


def _generate(services: Services, job: Job) -> tuple[list[bytes], float]:
    started = time.perf_counter()
    jpegs = services.backend.generate(job.request)
    return jpegs, time.perf_counter() - started


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
    keys = []
    for index, jpeg in enumerate(jpegs):
        key = image_key(job.team_id, job.job_id, job.created, index)
        services.images.put(key, jpeg, metadata)
        keys.append(key)
    return keys


def _fail(services: Services, job: Job, progress: Progress, reason: str) -> None:
    logger.warning("render failed", job_id=job.job_id, reason=reason)
    services.slack.update(job, progress.message, messages.failed(job.user_id, job.request))
    services.slack.reply(job, progress.message, messages.failure_reply(reason))
    progress.status = "failed"
    services.store.save(job.job_id, progress)
