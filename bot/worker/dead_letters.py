"""Jobs and tasks that SQS itself moved to the dead-letter queue: told, recorded and filed.

The worker files every job and task it gives up on in the dead-letter queue itself, with a
``reason`` message attribute (bot/worker/sqs_records.py), after telling the requester. SQS moves a
message there on its own too, once its receive count passes the queue's maxReceiveCount: a last
receive that ended in a Lambda throttle (throttled receives count, which is why AWS advises a
maxReceiveCount of at least 5 for a queue that feeds Lambda:
https://docs.aws.amazon.com/lambda/latest/dg/sqs-retries.html; and, updated 2021-11-01,
https://aws.amazon.com/premiumsupport/knowledge-center/lambda-retrying-valid-sqs-messages/), a
worker that timed out or died, or one that could not start (bot/handlers.py). Such a message
arrives as it was sent: its body and no attribute of ours; SQS adds only system attributes, its
``ApproximateReceiveCount`` ("received across all queues but not deleted") and
``DeadLetterQueueSourceArn``, the queue it came from
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
Left so, nobody would hear of it and ``imagine-bot redrive`` would say "(no reason recorded)".

:func:`watch` runs on the worker's schedule (infra/template.yaml, the ``DeadLetters`` event; the
local stack's poller runs it too). It looks at the queue without consuming it for good: a
message that has a reason is made visible again at once, for operators and ``redrive``. One
without a reason is settled: a job's requester is told in the job's thread (or by direct message)
that it could not be run and why, the job is marked failed with that reason and its images go
back to the quota (:func:`bot.worker.give_up`, as for any job given up); a share's or a delete's
requester is told by the bot; then the message is filed again with its reason, and the original
deleted. A job already delivered is only removed, and one still waiting on the asynchronous
endpoint is left to the notifier and its sweep. Each step may be repeated safely: a job given up
once is not told twice, and a task's requester is told once (:meth:`bot.jobs.JobStore.remember`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bot.model.job import Job
from bot.model.task import Task, is_task, queue_name
from bot.slack.installed import NotInstalled
from bot.worker.jobs_lane import give_up
from bot.worker.pipeline import finished
from bot.worker.sqs_records import dead_letter

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from bot.services import Services

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

# What the requester and the dead letter read, for a job SQS moved there after ``tries`` receives.
NOT_RUN = (
    "the bot could not run it: it was tried {tries} times, and each time the bot was too busy "
    "to take it or stopped before it had finished"
)
TASK_NOT_RUN = (
    "it was tried {tries} times, and each time the bot was too busy to take it or stopped before the end"
)
UNREADABLE_JOB = "the queued job could not be read"  # as the worker says (bot/worker/jobs_lane.py)
UNREADABLE_TASK = "the queued task could not be read"  # as the tasks lane says (bot/model/task.py)
# What a task's requester reads, by kind; kinds not here have nobody to tell (a notice is itself
# what could not be said; the Home tab and a queued job's status have no one waiting on them).
TELL_BY_KIND = {
    "share": "Sorry, sharing that picture could not be done: {reason}. Try Share again.",
    "delete": "Sorry, deleting that picture could not be finished: {reason}. Try Delete again.",
}
MOVED_BY_SQS = "sqs"  # the re-filed message's ``moved_by`` label
BATCH = 10  # ReceiveMessage's most per call
LIMIT = 100  # messages looked at per run; the rest wait for the next
HIDE_SECONDS = 120  # hidden from others while being settled: the worker function's timeout
STOP_SECONDS = 15.0  # no new batch is taken with less of the invocation left
TOLD_SECONDS = 14 * 86400  # a task's "told" mark outlives the dead-letter queue's 14 days


@dataclass(frozen=True)
class Watched:
    name: str  # the job or task id, or the message id when the body cannot be read
    outcome: str  # "failed", "filed", "told", "delivered" or "waiting"


def watch(services: Services, context: Any = None, *, limit: int = LIMIT) -> list[Watched]:
    """Settle every message in the dead-letter queue that SQS moved there without a reason (up
    to ``limit``); those with a reason are left as they were."""
    queue_url = services.settings.dead_letter_queue_url
    if not queue_url:
        logger.warning("no DEAD_LETTER_QUEUE_URL: nothing to watch")
        return []
    sqs = services.sqs
    visible = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    waiting = int(visible["Attributes"].get("ApproximateNumberOfMessages", "0"))
    watched: list[Watched] = []
    kept: list[str] = []  # receipt handles of the messages left alone, shown again at the end
    seen = 0
    try:
        while seen < min(waiting, limit) and _time_left(context):
            batch = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(BATCH, limit - seen),
                # Long polling: no "false empty responses", which short polling's sample of the
                # servers can give (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html).
                WaitTimeSeconds=1,
                VisibilityTimeout=HIDE_SECONDS,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                seen += 1
                if "reason" in message.get("MessageAttributes", {}):
                    kept.append(message["ReceiptHandle"])
                    continue
                try:
                    watched.append(_settle(services, queue_url, message))
                except Exception:
                    # Hidden for HIDE_SECONDS, then found again by a later run.
                    logger.exception("could not settle a message SQS dead-lettered",
                                     message_id=message.get("MessageId", ""))  # fmt: skip
    finally:
        for handle in kept:
            try:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            except Exception:
                logger.warning("a dead letter stays hidden until its visibility timeout ends")
    if watched:
        logger.info("settled what SQS dead-lettered without a reason", outcomes=[w.outcome for w in watched])
    return watched


def _time_left(context: Any) -> bool:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return True
    return float(context.get_remaining_time_in_millis()) / 1000 > STOP_SECONDS


def _settle(services: Services, queue_url: str, message: MessageTypeDef) -> Watched:
    # SQS moved it once its receives passed maxReceiveCount, which MAX_RECEIVE_COUNT equals; the
    # ApproximateReceiveCount it has here counts every look at the dead-letter queue as well.
    tries = services.settings.max_receive_count
    record = _record(message, tries)
    metrics.add_metric(name="DeadLettersWithoutReason", unit=MetricUnit.Count, value=1)
    logger.warning("SQS dead-lettered a message the worker had not given up on",
                   message_id=record.message_id, receive_count=tries)  # fmt: skip
    if is_task(record, services.settings.tasks_queue_url):
        watched = _settle_task(services, record, tries)
    else:
        watched = _settle_job(services, record, tries)
    services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return watched


def _record(message: MessageTypeDef, receives: int) -> SQSRecord:
    """The dead letter as an SQS record of the queue it came from, with the receives it had there."""
    attributes = message.get("Attributes", {})
    return SQSRecord(
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": str(receives)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": attributes.get("DeadLetterQueueSourceArn", ""),
        }
    )


def _labels(record: SQSRecord) -> dict[str, str]:
    source = record.event_source_arn
    return {"moved_by": MOVED_BY_SQS, **({"source_queue": queue_name(source)} if source else {})}


def _settle_job(services: Services, record: SQSRecord, tries: int) -> Watched:
    try:
        job = Job.from_json(record.body)
    except (ValueError, KeyError, TypeError, RecursionError):
        dead_letter(services, record.body, UNREADABLE_JOB, record, **_labels(record))
        return Watched(record.message_id, "filed")
    progress = services.store.load(job.job_id)
    if progress.status == "done":
        logger.info("a job SQS dead-lettered had been delivered; removed", job_id=job.job_id)
        return Watched(job.job_id, "delivered")
    if progress.status == "submitted" and progress.redrives == job.redrives and progress.inference:
        # Its render is at the asynchronous endpoint: the notifier, or its sweep, finishes it.
        logger.info("a job SQS dead-lettered waits on the endpoint; left to the notifier", job_id=job.job_id)
        return Watched(job.job_id, "waiting")
    if finished(progress, job):
        # Told already, by the worker or an earlier run of this watch.
        reason = progress.reason or NOT_RUN.format(tries=tries)
    else:
        reason = NOT_RUN.format(tries=tries)
        try:
            with services.acting_for(job.workspace):
                give_up(services, job, reason)
        except NotInstalled:  # uninstalled since: nobody there to tell
            logger.info("a job SQS dead-lettered belongs to an uninstalled workspace", job_id=job.job_id)
    dead_letter(services, record.body, reason, record, **_labels(record))
    return Watched(job.job_id, "failed")


def _settle_task(services: Services, record: SQSRecord, tries: int) -> Watched:
    labels = {"kind": "task", **_labels(record)}
    try:
        task = Task.from_json(record.body)
    except (ValueError, KeyError, TypeError, RecursionError):
        dead_letter(services, record.body, UNREADABLE_TASK, record, **labels)
        return Watched(record.message_id, "filed")
    reason = TASK_NOT_RUN.format(tries=tries)
    try:
        with services.acting_for(task.workspace):
            told = task.kind in TELL_BY_KIND and _tell_once(services, task, record.message_id, reason)
    except NotInstalled:  # uninstalled since: nobody there to tell
        told = False
    dead_letter(services, record.body, f"{task.kind}: {reason}", record, **labels)
    return Watched(task.task_id, "told" if told else "filed")


def _tell_once(services: Services, task: Task, message_id: str, reason: str) -> bool:
    """Tell the task's requester it could not be done; False if they could not be told."""
    if not services.store.remember(f"dead-letter#{message_id}", TOLD_SECONDS):
        return True  # an earlier run got to them, and stopped before the message was filed
    text = TELL_BY_KIND[task.kind].format(reason=reason)
    fields = task.fields
    client = services.slack_client
    try:
        if task.kind == "share":  # where they clicked, as the share itself would have said it
            thread = {"thread_ts": fields["thread_ts"]} if fields.get("thread_ts") else {}
            client.chat_postEphemeral(
                channel=fields["from_channel_id"], user=fields["user_id"], text=text, **thread
            )
        else:  # a delete's click carried no channel, and its response_url is long expired
            channel = services.slack.open_direct_message(fields["user_id"])
            client.chat_postMessage(channel=channel, text=text)
    except Exception as error:
        logger.warning("could not tell the task's requester", task=task.kind, error=type(error).__name__)
        return False
    return True
