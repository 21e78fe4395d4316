"""The asynchronous endpoint's answers, delivered (IMAGE_BACKEND=sagemaker-async).

The endpoint publishes one notification per inference to its SNS success or error topic; both
topics feed the notifications queue, and ``bot.handlers.notifier_handler`` takes each record
here. The subscriptions keep SNS's envelope (raw message delivery off: infra/template.yaml), so
an SQS body is ``{"Type": "Notification", "Message": "<the notification>", ...}``
(https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html). The notification
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html)::

    {"awsRegion", "eventTime", "receivedTime", "invocationStatus": "Completed" | "Failed",
     "failureReason" (when failed), "requestParameters": {"contentType", "endpointName",
     "inputLocation"}, "responseParameters": {"contentType", "outputLocation"},
     "inferenceId", "eventVersion": "1.0", "eventSource": "aws:sagemaker",
     "eventName": "InferenceResult"}

The inference id is the job id (bot/backends/sagemaker_async.py). A completed inference is read
from S3 and finished exactly as a real-time render is (bot/worker/pipeline.py: the JPEGs stored under
the job's keys, the same message and fallbacks); a failed one is given up as the worker gives
up (the requester told, the quota refunded, the job filed in the dead-letter queue), with the
endpoint's failureReason as the reason. Both run under the job's idempotency claim, so the same
notification delivered twice (SNS and SQS are at-least-once), or met by the sweep, posts once.

:func:`sweep` (on a schedule, and ``imagine-bot`` locally) finds jobs still waiting: one whose
answer is in S3 though its notification was lost is finished, one whose failure is there is
given up with it, and one past its time is given up as overdue.

Once used, the request (``async-inputs/``) and the answer (``async-outputs/``, or
``async-failures/``) are deleted: after the JPEGs are stored and recorded, or after the failure
is recorded, and the answer to a job that is over already when it arrives. Best effort: what a
failure leaves, Delete removes with the job's images, and the bucket's lifecycle rules on those
prefixes (infra/template.yaml) within two days.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.backends import BackendError
from bot.backends.sagemaker import decode_response
from bot.backends.sagemaker_async import SageMakerAsyncBackend, key_in, split_location
from bot.model.job import AsyncInference, Job, Progress
from bot.slack.installed import NotInstalled
from bot.stores.images import ImageStore
from bot.tracing import annotate
from bot.worker.jobs_lane import AlreadyInProgress, carry, claimed, give_up, run_once
from bot.worker.pipeline import deliver_result, finished, store_images, stored_already
from bot.worker.retry import classify
from bot.worker.sqs_records import dead_letter

if TYPE_CHECKING:
    from bot.services import Services

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

COMPLETED = "Completed"
UNREADABLE = "the image endpoint's notification could not be read"
MODEL_FAILED = "the model could not render this request"  # as the real-time endpoint's ModelError says
DELIVER = "deliver_answer"  # the idempotency claim's name: the notifier's and the sweep's alike
_REASON_CHARS = 300  # of what the endpoint said, in the requester's note and the dead letter


@dataclass(frozen=True)
class Notification:
    """What the endpoint said about one inference."""

    inference_id: str
    status: str  # "Completed"; anything else failed (SageMaker says "Failed")
    output_location: str = ""
    failure_reason: str = ""
    seconds: float | None = None  # receivedTime to eventTime: the endpoint's time, queue included


def parse(body: str) -> Notification:
    """The notification in an SQS body (inside its SNS envelope, or raw); ValueError if none."""
    data = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        data = json.loads(data["Message"])
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    inference_id, status = data.get("inferenceId"), data.get("invocationStatus")
    if not isinstance(inference_id, str) or not inference_id or not isinstance(status, str):
        raise ValueError("no inferenceId or invocationStatus")
    response = data.get("responseParameters")
    output = response.get("outputLocation", "") if isinstance(response, dict) else ""
    return Notification(
        inference_id=inference_id,
        status=status,
        output_location=output if isinstance(output, str) else "",
        failure_reason=str(data.get("failureReason", "")),
        seconds=_seconds_between(data.get("receivedTime"), data.get("eventTime")),
    )


def _seconds_between(start: object, end: object) -> float | None:
    try:
        seconds = (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def endpoint_failure(said: str) -> str:
    """The endpoint's failureReason as the requester reads it: what failed, without its pointer
    to the endpoint's logs ("See the SageMaker Endpoint logs ..."), which is for an admin."""
    said = " ".join(said.split(" See ", 1)[0].split()).rstrip(".")
    if len(said) > _REASON_CHARS:
        said = said[: _REASON_CHARS - 1] + "…"
    return f"{MODEL_FAILED} ({said})" if said else MODEL_FAILED


def handle_notification(services: Services, record: SQSRecord, context: Any) -> None:
    """One record of the notifications queue, settled as the worker settles a job's."""
    try:
        note = parse(record.body)
    except (ValueError, TypeError, RecursionError) as error:
        logger.error("unreadable notification", error=type(error).__name__)
        dead_letter(services, record.body, UNREADABLE, record, source="notification")
        return
    waiting = _waiting_job(services, note.inference_id)
    if waiting is None:
        _discard_late_answer(services, note)
        return
    job, _ = waiting
    logger.append_keys(job_id=job.job_id)
    annotate(job_id=job.job_id, team_id=job.team_id, channel_id=job.channel_id)

    def once(_budget: float | None) -> None:
        run_once(services, job, context, lambda again: answer(services, again, note, record), name=DELIVER)

    def step(final: bool) -> None:
        claimed(services, job, context, once, final=final)

    queue_url = services.settings.notifications_queue_url
    carry(services, record, job, step, queue_url=queue_url, body=job.to_json())


def _waiting_job(services: Services, inference_id: str) -> tuple[Job, AsyncInference] | None:
    """The job an inference belongs to, with the command's response_url back, while it waits
    on the endpoint; None (said in the log) for any other."""
    found = services.store.find(inference_id)
    job, progress = found if found is not None else (None, None)
    if job is None or progress is None:
        logger.warning("a notification for no job of ours", inference_id=inference_id[:64])
        return None
    if finished(progress, job):
        logger.info("job already finished; notification delivered again", job_id=job.job_id)
        return None
    if progress.status != "submitted" or progress.inference is None:
        logger.warning("a notification for a job not waiting on the endpoint", job_id=job.job_id,
                       status=progress.status)  # fmt: skip
        return None
    return replace(job, response_url=progress.inference.response_url), progress.inference


def answer(services: Services, job: Job, note: Notification, record: SQSRecord) -> Progress:
    """Finish the job with what the endpoint answered: its images delivered, or the job given
    up with the endpoint's reason. Runs under the job's claim (:func:`bot.worker.run_once`)."""
    progress = services.store.load(job.job_id)
    if finished(progress, job):
        return progress
    inference = progress.inference
    if note.status != COMPLETED:
        given_up = _fail(services, job, endpoint_failure(note.failure_reason), record)
        _discard(services, inference, note)
        return given_up
    if not progress.drawn:
        progress.keys = stored_already(services, job)  # stored before a crash, not yet recorded
    if not progress.drawn:
        location = note.output_location or (inference.output_location if inference else "")
        jpegs = decode_response(_read(services, location), job.request.count)
        seconds = note.seconds
        if seconds is None:
            seconds = time.time() - inference.submitted_at if inference else 0.0
        store_images(services, job, progress, jpegs, seconds, SageMakerAsyncBackend.name)
    _discard(services, inference, note)  # the JPEGs are stored and recorded: the answer is used
    return deliver_result(services, job, progress)


def _discard(services: Services, inference: AsyncInference | None, note: Notification | None = None) -> None:
    """Delete a settled inference's request and answer (or failure) from the bucket."""
    locations = [note.output_location] if note is not None else []
    if inference is not None:
        locations += [inference.input_location, inference.output_location, inference.failure_location]
    _delete(services, locations)


def _discard_late_answer(services: Services, note: Notification) -> None:
    """The answer to a job that is over already (given up as overdue, or delivered: the same
    notification again) is never used: delete it. Not the request: a job sent back by
    ``imagine-bot redrive`` writes its request to the same key again."""
    found = services.store.find(note.inference_id)
    if found is None or found[0] is None or not finished(found[1], found[0]):
        return
    inference = found[1].inference
    answers = [inference.output_location, inference.failure_location] if inference else []
    _delete(services, [note.output_location, *answers])


def _delete(services: Services, locations: list[str]) -> None:
    """Delete what ``locations`` name in the images bucket under the asynchronous prefixes
    (nothing else: a location comes from a notification). Best effort, logged: what is left is
    for Delete and the lifecycle rules."""
    bucket = services.settings.images_bucket
    keys = {key for key in (key_in(bucket, location) for location in locations if location) if key}
    for key in sorted(keys):
        try:
            services.images.delete(key)
        except Exception as error:
            logger.warning("could not delete a used request or answer", key=key, error=type(error).__name__)


def _read(services: Services, location: str) -> bytes:
    """The endpoint's answer at ``location`` (s3://bucket/key)."""
    try:
        bucket, key = split_location(location)
    except ValueError:
        raise BackendError("the image service did not say where its answer is", retryable=False) from None
    raw = ImageStore(services.s3, bucket).read(key)
    if raw is None:
        raise BackendError("the image service's answer is not in S3 (yet)", retryable=True)
    return raw


def _fail(services: Services, job: Job, reason: str, record: SQSRecord) -> Progress:
    """Give the job up with ``reason`` and file it (with the command's response_url, so that
    ``imagine-bot redrive`` runs it again as it came) in the dead-letter queue."""
    metrics.add_metric(name="AsyncInferencesFailed", unit=MetricUnit.Count, value=1)
    give_up(services, job, reason)
    try:
        dead_letter(services, job.to_json(), reason, record)
    except Exception:
        logger.exception("could not file the job in the dead-letter queue")
    return services.store.load(job.job_id)


# ---- the sweep --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Swept:
    job_id: str
    outcome: str  # "delivered", "failed", "overdue", "waiting", "busy" or "error"


def sweep(services: Services, context: Any = None, now: float | None = None) -> list[Swept]:
    """Look at every job waiting on the endpoint, as of ``now``: deliver those whose answer is
    in S3 (their notification lost) or whose images are stored already, give up those whose
    failure is there or whose time is past. A job another run is finishing is left to it; an
    error is logged and left for the next sweep (a job past its time is given up then)."""
    now = time.time() if now is None else now
    swept: list[Swept] = []
    for job_id in services.store.waiting():
        waiting = _waiting_job(services, job_id)
        if waiting is None:
            continue
        job, inference = waiting
        logger.append_keys(job_id=job.job_id)
        try:
            with services.acting_for(job.workspace):
                outcome = _sweep_one(services, job, inference, context, now)
        except NotInstalled:  # uninstalled while it waited: its answer goes with the table's TTL
            outcome = "uninstalled"
        except AlreadyInProgress:
            outcome = "busy"
        except Exception as error:
            retryable, reason = classify(error)
            logger.warning("the sweep could not settle a job", reason=reason, error=type(error).__name__)
            outcome = "error"
            if not retryable:
                give_up(services, job, reason)
                dead_letter(services, job.to_json(), reason, _sweep_record(job), found_by="sweep")
                outcome = "failed"
        finally:
            logger.remove_keys(["job_id"])
        swept.append(Swept(job.job_id, outcome))
    if swept:
        logger.info("swept the jobs waiting on the endpoint", outcomes=[s.outcome for s in swept])
    return swept


def _sweep_one(services: Services, job: Job, inference: AsyncInference, context: Any, now: float) -> str:
    record = _sweep_record(job)
    # The images stored already (the answer then deleted) and the delivery not finished: its
    # notification's deliveries all failed after that.
    stored = services.store.load(job.job_id).drawn
    if stored or (inference.output_location and _exists(services, inference.output_location)):
        note = Notification(inference.inference_id or job.job_id, COMPLETED, inference.output_location)
        metrics.add_metric(name="AsyncNotificationsLost", unit=MetricUnit.Count, value=1)
        run_once(services, job, context, lambda again: answer(services, again, note, record), name=DELIVER)
        return "delivered"
    if inference.failure_location and _exists(services, inference.failure_location):
        said = _read(services, inference.failure_location).decode("utf-8", "replace")
        note = Notification(inference.inference_id or job.job_id, "Failed", failure_reason=said)
        run_once(services, job, context, lambda again: answer(services, again, note, record), name=DELIVER)
        return "failed"
    if now >= inference.give_up_at:
        minutes = round((inference.give_up_at - inference.submitted_at) / 60)
        reason = f"the image service did not answer within {minutes} minutes"
        run_once(
            services, job, context, lambda again: _overdue(services, again, reason, record), name=DELIVER
        )
        return "overdue"
    return "waiting"


def _overdue(services: Services, job: Job, reason: str, record: SQSRecord) -> Progress:
    progress = services.store.load(job.job_id)
    if finished(progress, job):
        return progress
    metrics.add_metric(name="AsyncInferencesOverdue", unit=MetricUnit.Count, value=1)
    given_up = _fail(services, job, reason, record)
    _discard(services, progress.inference)  # its request; an answer that comes after all, on arrival
    return given_up


def _exists(services: Services, location: str) -> bool:
    try:
        bucket, key = split_location(location)
    except ValueError:
        return False
    return ImageStore(services.s3, bucket).exists(key)


def _sweep_record(job: Job) -> SQSRecord:
    """What the dead-letter queue's attributes are made of, for a job the sweep (not an SQS
    delivery) gives up."""
    return SQSRecord(
        {
            "messageId": f"sweep-{job.job_id}",
            "body": job.to_json(),
            "attributes": {"ApproximateReceiveCount": "1"},
        }
    )
