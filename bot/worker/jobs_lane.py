"""One SQS record, start to end: render it once, or give up on it properly.

Every accepted job ends one of two ways: its image is posted once, or the requester is told
what went wrong and the job is filed in the dead-letter queue with its reason. A failure that a
later delivery may get past (throttling, a service briefly down) hands the job back to SQS for
another delivery, after a short backoff rather than the queue's whole visibility timeout, until
the queue's last allowed receive; then, or at once for a failure no retry can fix, the worker
gives up. Nothing is left for SQS's own redrive, which would file the job without a reason and
tell nobody.

So that every delivery ends in time to give up, a render starts another endpoint attempt only
while that attempt, storing and delivering still fit before the function's timeout, less
GIVE_UP_SECONDS: RENDER_BUDGET_SECONDS is cut to what is left (:func:`_endpoint_budget`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.blocks import messages
from bot.config.settings import Settings
from bot.model.job import Job, Progress
from bot.services import Services
from bot.slack.installed import NotInstalled
from bot.slack.poster import ResponseUrlRefused
from bot.tracing import annotate
from bot.worker import retry
from bot.worker.pipeline import finished, render
from bot.worker.sqs_records import dead_letter, hand_back

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

GIVE_UP_SECONDS = 5.0  # kept at the end of an invocation to tell the requester and file the job
# Planning figures for a render's time outside the endpoint. They are what these steps take
# when the services answer in the normal course, not bounds: a Slack call that hangs until the
# client's 10 s timeout fails, and that failure is handled in the time GIVE_UP_SECONDS keeps.
STORE_SECONDS = 5.0  # the JPEGs into S3 and the job's progress into the job store
SLACK_CALL_SECONDS = 2.0  # one Web API call, Slack's download of the message's images included
INTERRUPTED = "the render was interrupted (its worker stopped) and could not be finished in time"


class AlreadyInProgress(Exception):
    """Another delivery of the same job holds it "in progress" (rendering, or died doing so)."""

    def __init__(self, job_id: str, lapses_at: float | None) -> None:
        super().__init__(job_id)
        self.lapses_at = lapses_at  # epoch seconds when that claim lapses; None if unknown


class Interrupted(Exception):
    """A job still claimed by a delivery that stopped, found on the last delivery too late."""

    retryable = False
    reason = INTERRUPTED


def handle_record(services: Services, record: SQSRecord, context: Any) -> None:
    try:
        job = Job.from_json(record.body)
    except (ValueError, KeyError, TypeError) as error:
        logger.error("unreadable job", error=type(error).__name__)
        _dead_letter(services, record.body, "the queued job could not be read", record)
        return
    logger.append_keys(job_id=job.job_id)
    annotate(job_id=job.job_id, team_id=job.team_id, channel_id=job.channel_id)

    def step(final: bool) -> None:
        _render(services, job, context, final=final)

    carry(services, record, job, step, queue_url=services.settings.jobs_queue_url, body=record.body)


def carry(
    services: Services,
    record: SQSRecord,
    job: Job,
    step: Callable[[bool], None],
    *,
    queue_url: str,
    body: str,
) -> None:
    """Run ``step(final)`` for the job an SQS record of ``queue_url`` brought, and settle the
    record as every job's is settled: done, handed back for a later delivery after a backoff,
    or given up (the requester told, ``body`` filed in the dead-letter queue with the reason).
    ``final`` says this is the record's last allowed delivery. The worker carries jobs to be
    rendered this way, and bot/worker/async_answers.py the answers of the asynchronous endpoint."""
    receives = int(record.attributes.approximate_receive_count or 1)
    delay = retry.backoff(receives, services.settings.retry_backoff_seconds)
    try:
        with services.acting_for(job.workspace):  # every Slack call with the job's own workspace's token
            _carry(
                services, record, job, step, receives=receives, delay=delay, queue_url=queue_url, body=body
            )
    except NotInstalled:
        # Uninstalled, or its token revoked: no retries against a token that is gone, and nobody
        # left to tell. The job ends here, quietly.
        logger.info("the job's workspace has uninstalled the app; the job ends here", team_id=job.team_id)
        metrics.add_metric(name="JobsOfUninstalledWorkspaces", unit=MetricUnit.Count, value=1)


def _carry(
    services: Services,
    record: SQSRecord,
    job: Job,
    step: Callable[[bool], None],
    *,
    receives: int,
    delay: int,
    queue_url: str,
    body: str,
) -> None:
    final = receives >= services.settings.max_receive_count
    try:
        step(final)
    except NotInstalled:
        raise
    except AlreadyInProgress as busy:
        # Not the last delivery (claimed() settles those): come back once the claim has lapsed,
        # to find the job done or take it over.
        lapses_in = None if busy.lapses_at is None else math.ceil(busy.lapses_at - time.time()) + 1
        hand_back(services, queue_url, record, lapses_in if lapses_in is not None else delay)
        raise
    except Exception as error:
        retryable, reason = retry.classify(error)
        if retryable and not final:
            logger.warning("will retry", reason=reason, receive_count=receives, retry_in=delay)
            metrics.add_metric(name="JobsRetried", unit=MetricUnit.Count, value=1)
            hand_back(services, queue_url, record, delay)
            _show_retrying(services, job, reason, delay, error)
            raise
        logger.append_keys(error=type(error).__name__)  # for whoever reads the log, never the user
        give_up(services, job, reason)
        if getattr(error, "refused", False):  # a refusal, said in the thread: nothing to redrive
            metrics.add_metric(name="JobsRefused", unit=MetricUnit.Count, value=1)
            return
        _dead_letter(services, body, reason, record)


def _show_retrying(services: Services, job: Job, reason: str, seconds: int, error: Exception) -> None:
    """Say "retrying" in the job's channel message, so nobody takes it for stuck."""
    from slack_sdk.errors import SlackApiError

    if isinstance(error, SlackApiError):
        return  # Slack itself just refused a call: do not add another
    try:
        where = services.store.load(job.job_id).message
        if "ts" not in where:
            return  # no message yet, or one behind response_url: keep its few uses for the result
        services.slack.update(job, where, messages.retrying(job.user_id, job.request, reason, seconds))
    except Exception as failure:
        logger.warning("could not show that the job will be retried", error=type(failure).__name__)


def _render(services: Services, job: Job, context: Any, *, final: bool) -> None:
    def once(budget: float | None) -> None:
        run_once(services, job, context, lambda again: render(services, again, budget_seconds=budget),
                 name="render_job")  # fmt: skip

    claimed(services, job, context, once, final=final)


def claimed(
    services: Services, job: Job, context: Any, once: Callable[[float | None], None], *, final: bool
) -> None:
    """``once(budget)``, which runs the job's step under its claim (:func:`run_once`) with the
    endpoint budget this invocation leaves; on the last delivery, a job claimed by another
    delivery is waited for and taken over (:func:`_take_over`)."""
    try:
        once(_endpoint_budget(services.settings, job, _deadline(context)))
    except AlreadyInProgress as busy:
        if not final:
            raise
        _take_over(services, job, context, busy.lapses_at, once)


def _take_over(
    services: Services,
    job: Job,
    context: Any,
    lapses_at: float | None,
    once: Callable[[float | None], None],
) -> None:
    """The last delivery met a job still claimed by another: never leave it to SQS's redrive.

    Wait while the other delivery may still finish it. Once its claim lapses (a claim lasts no
    longer than the function's timeout, so a delivery that died lets go) or is released, run it
    here if one endpoint attempt, storing and delivering still fit in this invocation, with
    retries only in the time left over (:func:`_endpoint_budget`); otherwise raise
    :class:`Interrupted` while there is time left to give up properly. With the defaults (a
    120 s function, a 65 s endpoint attempt) a take-over of one image may start up to about
    23 s into the invocation, of four images up to about 11 s.
    """
    deadline = _deadline(context)
    stop_waiting = deadline if deadline is not None else time.time()
    while True:
        if finished(services.store.load(job.job_id), job):
            return  # the other delivery finished it
        now = time.time()
        if now >= stop_waiting:
            raise Interrupted(job.job_id)
        if lapses_at is None or now > lapses_at:
            budget = _endpoint_budget(services.settings, job, deadline)
            if budget is None or budget < 0:
                raise Interrupted(job.job_id)
            try:
                once(budget)  # Powertools lets a lapsed claim be taken
                return
            except AlreadyInProgress as busy:
                lapses_at = busy.lapses_at  # still (or again) claimed
        wake = lapses_at + 0.2 if lapses_at is not None and lapses_at > now else now + 1.0
        time.sleep(min(1.0, max(0.05, min(wake, stop_waiting) - now)))


def _deadline(context: Any) -> float | None:
    """Epoch seconds by which this invocation must start giving up, to do it before Lambda's
    timeout; None when no deadline is known."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return time.time() + float(context.get_remaining_time_in_millis()) / 1000 - GIVE_UP_SECONDS


def _endpoint_budget(settings: Settings, job: Job, deadline: float | None) -> float | None:
    """Seconds in which new endpoint attempts may start, so that the last one, storing and
    delivering still end by ``deadline``: at most RENDER_BUDGET_SECONDS, less when the
    invocation has less time left. Negative when not even one attempt fits; None (the
    configured budget) when no deadline is known."""
    if deadline is None:
        return None
    room = deadline - time.time() - _one_attempt_seconds(settings, job)
    return min(settings.render_budget_seconds, room)


def _one_attempt_seconds(settings: Settings, job: Job) -> float:
    """The longest a render with a single endpoint attempt may take: the "rendering" note on a
    resumed job, the attempt (the backend's whole timeout: the endpoint's, Bedrock's, whose
    calls for several images run at once, or the placeholder's delay), storing and delivering.
    An image operation's attempt is its own model's."""
    operation = job.request.operation
    choice = settings.operation_models.get(operation.kind) if operation else None
    bedrock = choice.provider == "bedrock" if choice else settings.image_backend == "bedrock"
    images = job.request.count
    timeout = settings.bedrock_timeout_seconds if bedrock else settings.sagemaker_timeout_seconds
    endpoint = max(timeout, settings.placeholder_delay_seconds)
    return SLACK_CALL_SECONDS + endpoint + STORE_SECONDS + delivery_seconds(settings, images)


def delivery_seconds(settings: Settings, images: int) -> float:
    """The longest delivering ``images`` may take (bot/worker/delivery.py at its worst): the image
    blocks sent once, then again after each of IMAGE_DOWNLOAD_RETRY_SECONDS' waits, the upload
    (files.getUploadURLExternal and the upload for each image, files.completeUploadExternal),
    the message that says where the images went, and one call more for the way to the
    requester (conversations.open, or a response_url that refused)."""
    waits = settings.image_download_retry_seconds
    calls = (len(waits) + 1) + (2 * images + 1) + 1 + 1
    return sum(waits) + calls * SLACK_CALL_SECONDS


def run_once(
    services: Services, job: Job, context: Any, work: Callable[[Job], Progress], *, name: str
) -> None:
    """``work(job)`` once per job id and redrive count, for each ``name`` (the render, the
    asynchronous answer's delivery); :class:`AlreadyInProgress` while another run holds it."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    def step(payload: dict[str, Any]) -> dict[str, str]:
        return {"status": work(Job.from_json(json.dumps(payload))).status}

    payload = json.loads(job.to_json())
    try:
        retry.run_once(
            services.idempotency, step, payload, key="[job_id, redrives]", name=name, context=context
        )
    except IdempotencyAlreadyInProgressError:
        raise AlreadyInProgress(job.job_id, _claim_lapses_at(services, payload)) from None


def _claim_lapses_at(services: Services, payload: dict[str, Any]) -> float | None:
    """When the in-progress claim on the job lapses (Powertools' ``in_progress_expiration``:
    the claiming invocation's start plus its remaining time), in epoch seconds."""
    try:
        record = services.idempotency.get_record(data=payload)
    except Exception:
        return None  # gone since (finished or released) or unreadable: the caller backs off
    expiry = record.in_progress_expiry_timestamp if record is not None else None
    return float(expiry) / 1000 if expiry is not None else None  # a Decimal, as DynamoDB numbers are


def give_up(services: Services, job: Job, reason: str) -> None:
    """Tell the requester, mark the job failed and give its images back to the quota.

    Each step is best effort and independent: with the job store down the requester is still
    told, and with Slack down the job still reaches the dead-letter queue with its reason.
    """
    logger.error("job failed for good", reason=reason)
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    store = services.store
    try:
        progress = store.load(job.job_id)
    except Exception:
        logger.exception("could not read the job's progress")
        progress = Progress()
    if finished(progress, job):
        return
    try:
        if progress.message:
            services.slack.update(job, progress.message, messages.failed(job.user_id, job.request))
            services.slack.reply(job, progress.message, messages.failure_reply(reason))
        else:
            services.slack.post(job, messages.failure_reply(reason), must_arrive=True)
    except ResponseUrlRefused:
        # A channel closed to the bot whose response_url is used up or expired: as for a
        # result (bot/worker/delivery.py), the requester hears it from the bot directly.
        _tell_by_direct_message(services, job, reason)
    except Exception:
        logger.exception("could not tell the requester")
    progress.status, progress.reason, progress.redrives = "failed", reason, job.redrives
    try:
        store.save(job, progress)
    except Exception:
        logger.exception("could not record the failure")
    try:
        # The day the images were counted on (job.created), which may be yesterday by now.
        # Those the image check withheld were given back already (bot/worker/screened.py).
        unmade = job.request.count - len(progress.withheld)
        services.quotas.release(
            team_id=job.team_id, user_id=job.user_id, images=unmade, command_id="", now=job.created
        )
    except Exception:
        logger.exception("could not give the images back to the quota")


def _tell_by_direct_message(services: Services, job: Job, reason: str) -> None:
    try:
        channel = services.slack.open_direct_message(job.user_id)
        services.slack.client.chat_postMessage(channel=channel, **messages.failure_reply(reason))
    except Exception:
        logger.exception("could not tell the requester, not even by direct message")


def _dead_letter(services: Services, body: str, reason: str, record: SQSRecord) -> None:
    dead_letter(services, body, reason, record)
