"""The worker's pipeline: job -> channel message -> backend -> S3 -> delivered images.

The channel message shows the job's state, changed once per state: "queued, N ahead" (posted
by :func:`show_queued` from the tasks lane while the job waits), "painting since <time>" (when
the render starts), then the result with its render time. One message per job, whichever of
the two posts first: the job's record decides (:meth:`bot.jobs.JobStore.claim_message`).

Each step records its outcome in the job store before the next begins, so a job delivered
again (SQS is at-least-once, and a worker can die mid-job) reuses the message it already posted
and the images it already stored instead of posting or rendering twice. Failures are raised;
bot/worker/jobs_lane.py decides between another delivery and giving up.

With the asynchronous endpoint (IMAGE_BACKEND=sagemaker-async) the render stops once the request
is submitted, its message saying "warming up the GPU" while the endpoint has no instance running
(else "painting"); bot/worker/async_answers.py takes the answer from there, through the same second half:
:func:`store_images` and :func:`deliver_result`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError

from bot.backends import Backend, BackendError
from bot.backends.sagemaker_async import SubmissionUnconfirmed
from bot.blocks import messages, screening
from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.model.job import Job, Progress
from bot.services import Services
from bot.slack.poster import CHANNEL_CLOSED, ResponseUrlRefused, error_code
from bot.stores.images import image_key
from bot.tracing import traced
from bot.worker.delivery import Result, deliver
from bot.worker.screened import after_withheld, screened, translated
from bot.worker.timings import model_seconds, time_to_image

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


def finished(progress: Progress, job: Job) -> bool:
    """Done, or failed and not sent back since (a redriven job runs again)."""
    return progress.status == "done" or (progress.status == "failed" and progress.redrives >= job.redrives)


def render(services: Services, job: Job, *, budget_seconds: float | None = None) -> Progress:
    """Carry a job to its posted result, resuming wherever an earlier delivery stopped (or, on
    the asynchronous endpoint, to its submitted request).

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
    if _submitted(progress, job):
        logger.info("job already submitted to the asynchronous endpoint", job_id=job.job_id)
        return progress  # the notifier finishes it
    resumed = progress.status not in ("new", "queued")
    if progress.status == "failed":  # redriven: whatever an earlier run submitted is over
        progress.inference = None
    progress.redrives = job.redrives

    started_at = time.time()
    progress.timings.setdefault("queued", round(max(0.0, started_at - job.created_at), 3))
    # An image operation is drawn by its own model, at once, whatever the image backend.
    submitting = settings.image_backend == "sagemaker-async" and job.request.operation is None
    cold = submitting and services.async_backend.cold()
    status = (
        messages.warming_up(job.user_id, job.request)
        if cold
        else messages.rendering(job.user_id, job.request, started_at)
    )
    painting_shown = False
    if not progress.message:
        painting_shown = _post_painting(services, job, progress, status)
    elif progress.status != "rendering":  # the queued message, or a redriven job's
        progress.status = "rendering"
        store.save(job, progress)

    if not progress.drawn and resumed:
        progress.keys = stored_already(services, job)  # stored before a crash, not yet recorded
    if not progress.drawn:
        if not painting_shown:  # queued, or an earlier delivery's "retrying": now painting
            _show_painting(services, job, progress.message, status)
        job = translated(services, job)  # the model draws from English; people see what they typed
        if submitting:
            return _submit(services, job, progress, started_at)
        started = time.perf_counter()
        backend = _within(services.backend_for(job.request), budget_seconds)
        with traced("model", backend=backend.name, **_model_of(settings, job)):
            jpegs = backend.generate(job.request.as_drawn())
        store_images(services, job, progress, jpegs, time.perf_counter() - started, backend.name)

    # From here on the images exist: whatever Slack refuses, they are delivered, never rendered again.
    return deliver_result(services, job, progress)


def _model_of(settings: Settings, job: Job) -> dict[str, str]:
    """What the model call's subsegment names: the operation, and the endpoint or model drawing it."""
    operation = job.request.operation
    if operation is not None:
        choice = settings.operation_models[operation.kind]
        return {"operation": operation.kind, "model": choice.name or choice.provider}
    model = (
        settings.bedrock_model_id if settings.image_backend == "bedrock" else settings.sagemaker_endpoint_name
    )
    return {"operation": "draw", "model": model or settings.image_backend}


def _submitted(progress: Progress, job: Job) -> bool:
    """Queued, or perhaps queued, at the asynchronous endpoint by this run of the job: "submitted"
    is recorded before InvokeEndpointAsync and taken back only when the endpoint refused, so a
    job still at it may have its render on the way (a worker that died before recording the
    answer), and submitting it again would render twice."""
    return (
        progress.status == "submitted"
        and progress.redrives == job.redrives
        and progress.inference is not None
    )


def store_images(
    services: Services, job: Job, progress: Progress, jpegs: list[bytes], seconds: float, backend: str
) -> None:
    """Keep the JPEGs a backend returned under the job's keys and record them (and the backend's
    time) as the job's progress, before anything is delivered: those the image check lets through
    (bot/worker/screened.py)."""
    progress.seconds = seconds
    metrics.add_metric(name="BackendSeconds", unit=MetricUnit.Seconds, value=seconds)
    model_seconds(backend, seconds, len(jpegs))
    if len(jpegs) != job.request.count:
        raise ValueError(f"the backend returned {len(jpegs)} images for {job.request.count}")
    checking = time.perf_counter()
    kept, progress.withheld = screened(services, jpegs)
    storing = time.perf_counter()
    with traced("store", images=str(len(kept))):
        progress.keys = _store_images(services, job, kept, backend)
    progress.timings |= {"rendering": round(seconds, 3), "checking": round(storing - checking, 3),
                         "storing": round(time.perf_counter() - storing, 3)}  # fmt: skip
    services.store.save(job, progress)


def deliver_result(services: Services, job: Job, progress: Progress) -> Progress:
    """The stored images (``progress.keys``) to the requester, and the job done: the same
    message, blocks and fallbacks whichever backend drew them."""
    store = services.store

    def uploaded(files: list[str]) -> None:
        # Recorded before anything else is sent: a delivery that stops after the upload neither
        # uploads again when the job comes back nor leaves files that Delete cannot find.
        progress.files = files
        store.save(job, progress)

    if progress.withheld and not progress.withheld_told:  # here, so a job resumed after a crash tells too
        after_withheld(services, job, progress)
        progress.withheld_told = True
        store.save(job, progress)
    if not progress.keys:  # every image withheld by the image check: nothing of them is shown
        shown = screening.all_withheld(job.user_id, job.request, len(progress.withheld))
        try:
            services.slack.update(job, progress.message, shown)
        except ResponseUrlRefused:  # used up or expired; the requester was told privately already
            logger.warning("could not show the withheld result where it was asked for", job_id=job.job_id)
        progress.status = "done"
        store.save(job, progress)
        logger.info("job done, every image withheld", job_id=job.job_id, withheld=len(progress.withheld))
        return progress
    note = screening.withheld_note(len(progress.withheld), job.request.count) if progress.withheld else ""
    result = Result(job, progress.keys, progress.seconds, files=progress.files, uploaded=uploaded, note=note)
    posting = time.perf_counter()
    way = deliver(services, result, progress.message)
    progress.timings["posting"] = round(time.perf_counter() - posting, 3)
    progress.status = "done"
    store.save(job, progress)
    root_ts = job.thread_ts or progress.message.get("ts", "")
    if root_ts:  # a mention in this thread starts from the newest result
        store.note_latest_in_thread(job, root_ts)
    _note_recent(services, job)
    metrics.add_metric(name="ImagesPosted", unit=MetricUnit.Count, value=len(progress.keys))
    waited = time_to_image(job)
    logger.info("job done", job_id=job.job_id, team_id=job.team_id, images=len(progress.keys),
                delivered_as=way, backend_seconds=round(progress.seconds, 3),
                time_to_image_seconds=round(waited, 3), timings=progress.timings)  # fmt: skip
    return progress


def _submit(services: Services, job: Job, progress: Progress, started_at: float) -> Progress:
    """Hand the request to the asynchronous endpoint and end the render here.

    The request is written first; then the job is recorded as submitted (with the command's
    response_url, for the notifier) before the endpoint is called, so a notification that comes
    back quicker than this invocation still finds it, and a delivery after a crash does not
    submit again (:func:`_submitted`). Only the endpoint's refusal takes that back. The
    locations the endpoint answered with are added after, unless the job is over by then."""
    backend, store = services.async_backend, services.store
    backend.write_request(job.job_id, job.request.as_drawn())
    progress.status = "submitted"
    progress.inference = backend.pending(job.job_id, job.response_url, started_at)
    store.save(job, progress)
    try:
        submitted = backend.invoke(job.job_id)
    except SubmissionUnconfirmed as lost:
        # Perhaps queued: its answer (or the sweep, once the job is overdue) settles the job.
        logger.warning("the endpoint's answer to the submission was lost; waiting for the render",
                       job_id=job.job_id, error=str(lost))  # fmt: skip
        return progress
    except BackendError:
        # Refused: nothing is queued, so the next attempt submits it again.
        try:
            store.note_not_submitted(job.job_id)
        except Exception as error:  # the job then waits as if queued, and is given up when overdue
            logger.warning("could not take back the submission", job_id=job.job_id,
                           error=type(error).__name__)  # fmt: skip
        backend.forget_request(job.job_id)
        raise
    progress.inference = replace(
        progress.inference,
        inference_id=submitted.inference_id,
        output_location=submitted.output_location,
        failure_location=submitted.failure_location,
    )
    try:
        noted = store.note_submitted(job.job_id, progress.inference)
    except Exception as error:
        # Queued all the same: the notification names the answer's location, so the job only
        # loses the sweep's look for an answer whose notification is lost too.
        logger.warning("could not record the submission's locations", job_id=job.job_id,
                       error=type(error).__name__)  # fmt: skip
        return progress
    if not noted:
        logger.info("the job finished before its submission was recorded", job_id=job.job_id)
        return store.load(job.job_id)
    metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("job submitted to the asynchronous endpoint", job_id=job.job_id,
                inference_id=submitted.inference_id)  # fmt: skip
    return progress


def _note_recent(services: Services, job: Job) -> None:
    """List the job on its requester's Home tab. Best effort, after the job is recorded done: a
    failure here must not send a delivered job round again (its files would be uploaded twice)."""
    try:
        services.store.note_recent(job)
    except Exception as error:
        logger.warning("the Home tab will not list this job", job_id=job.job_id, error=type(error).__name__)


def _post_painting(services: Services, job: Job, progress: Progress, status: messages.Payload) -> bool:
    """Post the job's channel message, saying "painting" (``status``), and claim it as the job's message.

    The queued status (:func:`show_queued`, on the tasks lane) may have posted and claimed its
    own meanwhile: then that one is the job's message, this one is deleted again, and False
    says that the kept message does not say "painting" yet."""
    mine = services.slack.post(job, status)
    progress.message, progress.status = mine, "rendering"
    if _claimed(services, mine, lambda: services.store.claim_message(job, progress)):
        return True
    progress.message = services.store.load(job.job_id).message
    logger.info("the queued message was recorded first; it is the job's message")
    _take_back(services, mine)
    services.store.save(job, progress)
    return False


def _show_painting(services: Services, job: Job, where: dict[str, str], status: messages.Payload) -> None:
    """The message says "queued", or an earlier delivery's "retrying in about N s": say
    "painting" while this delivery renders. Best effort: the render goes on whatever Slack
    answers."""
    if "ts" not in where:
        return  # behind response_url: only the render's own states go there, keep its few uses
    try:
        services.slack.update(job, where, status)
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


def stored_already(services: Services, job: Job) -> list[str]:
    """The job's image keys if every image is in S3 already (stored before a crash), else []."""
    keys = _keys(job)
    return keys if all(services.images.exists(key) for key in keys) else []


def _store_images(services: Services, job: Job, jpegs: list[tuple[int, bytes]], backend: str) -> list[str]:
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
        "backend": backend,
    }
    keys = _keys(job)
    for index, jpeg in jpegs:
        services.images.put(keys[index], jpeg, metadata)
    return [keys[index] for index, _ in jpegs]
