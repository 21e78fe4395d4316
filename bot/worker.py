"""One SQS record, start to end: render it once, or give up on it properly.

Every accepted job ends one of two ways: its image is posted once, or the requester is told
what went wrong and the job is filed in the dead-letter queue with its reason. A failure that a
later delivery may get past (throttling, a service briefly down) is raised for SQS to deliver
again, until the queue's last allowed receive; then, or at once for a failure no retry can fix,
the worker gives up.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot import messages
from bot.backends import BackendError
from bot.jobs import Job, Progress
from bot.render import finished, render
from bot.services import Services
from bot.settings import SettingsError

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

IDEMPOTENCY_SECONDS = 86400
# Slack errors that no retry will change.
_SLACK_PERMANENT = {
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "invalid_blocks",
}  # fmt: skip


class AlreadyInProgress(Exception):
    """Another delivery of the same job is rendering it right now."""


def handle_record(services: Services, record: SQSRecord, context: Any) -> None:
    try:
        job = Job.from_json(record.body)
    except (ValueError, KeyError, TypeError) as error:
        logger.error("unreadable job", error=type(error).__name__)
        _dead_letter(services, record.body, "the queued job could not be read", record)
        return
    logger.append_keys(job_id=job.job_id)
    receives = int(record.attributes.approximate_receive_count or 1)
    final = receives >= services.settings.max_receive_count
    try:
        _render_once(services, job, context)
    except AlreadyInProgress:
        raise  # the other delivery will finish it; this one comes back later and finds it done
    except Exception as error:
        retryable, reason = classify(error)
        if retryable and not final:
            logger.warning("will retry", reason=reason, receive_count=receives)
            metrics.add_metric(name="JobsRetried", unit=MetricUnit.Count, value=1)
            raise
        give_up(services, job, reason)
        _dead_letter(services, record.body, reason, record)


def _render_once(services: Services, job: Job, context: Any) -> None:
    """render() guarded by Powertools Idempotency on the job id (and its redrive count)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    config = IdempotencyConfig(
        event_key_jmespath="[job_id, redrives]",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="job", persistence_store=services.idempotency, config=config
    )
    def render_job(job: dict[str, Any]) -> dict[str, str]:
        progress = render(services, Job.from_json(json.dumps(job)))
        return {"status": progress.status}

    try:
        render_job(job=json.loads(job.to_json()))
    except IdempotencyAlreadyInProgressError:
        raise AlreadyInProgress(job.job_id) from None


def classify(error: Exception) -> tuple[bool, str]:
    """Whether a later delivery could succeed, and the reason in words for the requester."""
    from botocore.exceptions import BotoCoreError, ClientError
    from slack_sdk.errors import SlackApiError

    if isinstance(error, BackendError):
        return error.retryable, error.reason
    if isinstance(error, SettingsError):
        return False, "the bot is not configured correctly (an administrator has been told in the logs)"
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error", "")) if error.response is not None else ""
        return code not in _SLACK_PERMANENT, f"Slack refused the message ({code or 'unknown error'})"
    if isinstance(error, ClientError):
        service = error.operation_name
        return True, f"a storage service failed ({service})"
    if isinstance(error, BotoCoreError | OSError):
        return True, "a storage service could not be reached"
    return True, "an unexpected error"


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
            services.slack.post(job, messages.failure_reply(reason))
    except Exception:
        logger.exception("could not tell the requester")
    progress.status, progress.reason, progress.redrives = "failed", reason, job.redrives
    try:
        store.save(job.job_id, progress)
        services.quotas.release(
            team_id=job.team_id, user_id=job.user_id, images=job.request.count, command_id="", now=job.created
        )
    except Exception:
        logger.exception("could not record the failure or give the quota back")


def _dead_letter(services: Services, body: str, reason: str, record: SQSRecord) -> None:
    """File the job in the dead-letter queue with its reason; the original is then deleted."""
    queue_url = services.settings.dead_letter_queue_url
    if not queue_url:
        # Not the body: it carries the command's response_url, which can post to the channel.
        logger.error("no DEAD_LETTER_QUEUE_URL: the failure is only in this log", reason=reason,
                     message_id=record.message_id)  # fmt: skip
        return
    attributes = {
        "reason": reason[:1000],
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "receive_count": str(record.attributes.approximate_receive_count or 1),
        "source_message_id": record.message_id,
    }
    services.sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


def redrive(
    sqs: Any, dead_letter_queue_url: str, queue_url: str, *, limit: int = 1000
) -> list[tuple[str, str]]:
    """Move dead-lettered jobs back to the jobs queue, each marked as redriven so it runs again.

    Returns (job id or message id, reason) for each job moved.
    """
    moved: list[tuple[str, str]] = []
    started = time.monotonic()
    while len(moved) < limit and time.monotonic() - started < 300:
        batch = sqs.receive_message(
            QueueUrl=dead_letter_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            reason = (
                message.get("MessageAttributes", {})
                .get("reason", {})
                .get("StringValue", "(no reason recorded)")
            )
            try:
                job = Job.from_json(message["Body"]).redriven()
                body, name = job.to_json(), job.job_id
            except (ValueError, KeyError, TypeError):
                body, name = message["Body"], message["MessageId"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
            moved.append((name, reason))
    return moved
