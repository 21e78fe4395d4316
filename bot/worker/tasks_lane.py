"""Slack-side work that must follow an acknowledgement, on its own queue: the tasks lane.

On Lambda, Bolt answers Slack only once a listener returns (``process_before_response``), so a
listener that called the Web API would hold up its own acknowledgement. What has to be said
after it (why a mention queued nothing; delete, share, the Home tab, a queued job's channel
message) is queued here as a :class:`Task` and run by the worker from the tasks queue's own
event source, so it never waits behind GPU renders, which the jobs queue's event source bounds.

A task runs once per task id (Powertools Idempotency): one built from the same Slack event
(Slack retries an event with the same ``event_id``) is said once. A failure that a later
delivery may get past is handed back after a short backoff until the queue's last receive;
then, or at once for a failure no retry changes, the task is filed in the dead-letter queue
with its reason, as a job is (bot/worker/jobs_lane.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot.model.task import WITHOUT_SLACK, Task, queue_name
from bot.slack.installed import NotInstalled
from bot.worker import retry
from bot.worker.sqs_records import dead_letter, hand_back

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from bot.config.settings import Settings
    from bot.services import Services


logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


class TaskInProgress(Exception):
    """Another delivery of the same task holds it "in progress"."""

    retryable = True
    reason = "another delivery of the task was still running"


def handle_task(services: Services, record: SQSRecord, context: Any = None) -> None:
    """Run one task record; raise to hand it back for another delivery (reported as a batch
    item failure), or file it in the dead-letter queue with its reason when no retry helps."""
    try:
        task = Task.from_json(record.body)
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        logger.error("unreadable task", error=type(error).__name__)
        _dead_letter(services, record, "the queued task could not be read")
        return
    logger.append_keys(task_id=task.task_id, task=task.kind)
    receives = int(record.attributes.approximate_receive_count or 1)
    settings = services.settings
    final = receives >= settings.max_receive_count
    try:
        if task.kind in WITHOUT_SLACK:
            _run_once(services, task, context)
        else:
            with services.acting_for(task.workspace):  # Slack calls with the task's own workspace's token
                _run_once(services, task, context)
    except NotInstalled:  # uninstalled, or its token revoked: nothing to do there any more
        logger.info("the task's workspace has uninstalled the app; the task ends here")
        return
    except Exception as error:
        retryable, reason = retry.classify(error)
        if retryable and not final:
            delay = retry.backoff(receives, settings.retry_backoff_seconds)
            logger.warning("task will be retried", reason=reason, receive_count=receives, retry_in=delay)
            metrics.add_metric(name="TasksRetried", unit=MetricUnit.Count, value=1)
            _hand_back(services, record, delay)
            raise
        logger.error("task failed for good", reason=reason, error=type(error).__name__)
        metrics.add_metric(name="TasksFailed", unit=MetricUnit.Count, value=1)
        _dead_letter(services, record, reason)
        return
    metrics.add_metric(name="TasksDone", unit=MetricUnit.Count, value=1)


def _run_once(services: Services, task: Task, context: Any) -> None:
    """The task's runner, once per task id."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    def run_task(payload: dict[str, Any]) -> dict[str, str]:
        _RUNNERS[payload["task"]](services, Task.from_json(json.dumps(payload)))
        return {"done": payload["task"]}

    try:
        retry.run_once(_persistence(services), run_task, json.loads(task.to_json()), key="task_id",
                       name="run_task", context=context)  # fmt: skip
    except IdempotencyAlreadyInProgressError:
        raise TaskInProgress(task.task_id) from None


def _persistence(services: Services) -> DynamoDBPersistenceLayer:
    """A persistence layer of the tasks' own, on the jobs table as the jobs' is. Not the shared
    ``services.idempotency``: Powertools configures a layer once, with the first config it is
    given (its ``configure`` returns early once ``configured``), so jobs and tasks sharing one
    would read whichever key came first: the tasks' ``task_id`` in a job, or the reverse."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=services.settings.jobs_table,
        key_attr="pk",
        expiry_attr="expires_at",
        boto3_client=services.dynamodb,
    )


def _notice(services: Services, task: Task) -> None:
    fields = task.fields
    optional = {name: fields[name] for name in ("blocks", "thread_ts") if fields.get(name)}
    services.slack_client.chat_postEphemeral(
        channel=fields["channel_id"], user=fields["user_id"], text=fields["text"], **optional
    )


def _delete(services: Services, task: Task) -> None:
    from bot.usecases.delete import run_delete

    run_delete(services, **task.fields)


def _share(services: Services, task: Task) -> None:
    from bot.usecases.share import run_share

    run_share(services, **task.fields)


def _home(services: Services, task: Task) -> None:
    from bot.usecases.home import publish_home

    publish_home(services, task.fields["team_id"], task.fields["user_id"])


def _purge(services: Services, task: Task) -> None:
    from bot.usecases.installs import purge

    purge(services, task.fields["team_id"])


def _status(services: Services, task: Task) -> None:
    from bot.model.job import Job
    from bot.worker.pipeline import show_queued

    show_queued(services, Job.from_json(json.dumps(task.fields["job"])))


_RUNNERS: dict[str, Callable[[Services, Task], None]] = {
    "notice": _notice,
    "home": _home,
    "delete": _delete,
    "share": _share,
    "status": _status,
    "purge": _purge,
}


def _source_queue_url(settings: Settings, record: SQSRecord) -> str:
    """The URL of the queue the record came from: the tasks queue, or the jobs queue for a
    task redriven there."""
    redriven = queue_name(record.event_source_arn or "") == queue_name(settings.jobs_queue_url)
    return settings.jobs_queue_url if redriven else settings.tasks_queue_url


def _hand_back(services: Services, record: SQSRecord, seconds: int) -> None:
    hand_back(services, _source_queue_url(services.settings, record), record, seconds)


def _dead_letter(services: Services, record: SQSRecord, reason: str) -> None:
    dead_letter(services, record.body, reason, record, kind="task")
