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
with its reason, as a job is (bot/worker.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot.settings import SettingsError
from bot.sqs_records import dead_letter, hand_back

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_sqs import SQSClient

    from bot.messages import Payload
    from bot.services import Services
    from bot.settings import Settings

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

IDEMPOTENCY_SECONDS = 86400  # as long as the queue keeps a message
TEXT_LIMIT = 4000  # Slack's advice for a message's text; our notices are far shorter
BLOCKS_LIMIT = 50  # Slack's limit on a message's blocks
_SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")
_TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_NAMESPACE = uuid.UUID("6f1c6b1e-4d0a-4a43-9a57-2f7d3c1f0b52")  # task ids made from a key
# Slack errors no later delivery changes (chat.postEphemeral's among them:
# https://docs.slack.dev/reference/methods/chat.postEphemeral).
_SLACK_PERMANENT = {
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
    "channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel", "msg_too_long",
    "no_text", "invalid_blocks", "invalid_arguments", "restricted_action",
}  # fmt: skip


def _slack_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_SLACK_ID.match(value))


def _optional_ts(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or bool(_SLACK_TS.match(value)))


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= TEXT_LIMIT and bool(value.strip())


def _blocks(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= BLOCKS_LIMIT and all(isinstance(b, dict) for b in value)


def _job_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_TASK_ID.match(value))  # job ids share the form


def _job(value: Any) -> bool:
    """A queued job, as its queue carries it (bot/jobs.py)."""
    from bot.jobs import Job

    if not isinstance(value, dict):
        return False
    try:
        Job.from_json(json.dumps(value))
    except (ValueError, KeyError, TypeError, RecursionError):
        return False
    return True


def _url(value: Any) -> bool:
    """A click's response_url (https at Slack; http on loopback for the local stand-in)."""
    return isinstance(value, str) and len(value) <= 2000 and value.startswith(("https://", "http://"))


# Each kind's fields: (check, required).
_FIELDS: dict[str, dict[str, tuple[Callable[[Any], bool], bool]]] = {
    "notice": {
        "team_id": (_slack_id, True),
        "channel_id": (_slack_id, True),
        "user_id": (_slack_id, True),
        "text": (_text, True),
        "thread_ts": (_optional_ts, False),
        "blocks": (_blocks, False),
    },
    "delete": {  # Delete on a result (bot/usecases/delete.py)
        "team_id": (_slack_id, True),
        "user_id": (_slack_id, True),  # who clicked: may they delete it is decided when it runs
        "job_id": (_job_id, True),
        "response_url": (_url, False),  # the click's: a refusal is said there
    },
    "share": {  # Share on a result (bot/usecases/share.py)
        "team_id": (_slack_id, True),
        "user_id": (_slack_id, True),  # who shares
        "job_id": (_job_id, True),
        "channel_id": (_slack_id, True),  # where it is posted
        "from_channel_id": (_slack_id, True),  # where the sharer clicked: told there if it fails
        "thread_ts": (_optional_ts, False),  # ... in this thread
        "response_url": (_url, False),  # ... or through the click's response_url
    },
    "home": {  # publish the person's App Home tab (bot/usecases/home.py)
        "team_id": (_slack_id, True),
        "user_id": (_slack_id, True),
    },
    "status": {  # a queued job's channel message, "queued, N ahead" (bot/render.py)
        "job": (_job, True),
    },
}
KINDS = tuple(_FIELDS)


@dataclass(frozen=True)
class Task:
    """One piece of Slack-side work: its kind and the fields that kind takes, validated."""

    kind: str
    fields: Mapping[str, Any]
    task_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        schema = _FIELDS.get(self.kind)
        if schema is None:
            raise ValueError("unknown task kind")
        if not _TASK_ID.match(self.task_id):
            raise ValueError("task_id must be 32 lowercase hex digits")
        if not isinstance(self.fields, Mapping):
            raise TypeError("a task's fields are a mapping")
        unknown = set(self.fields) - set(schema)
        if unknown:
            raise ValueError(f"{self.kind} takes no field {sorted(unknown)[0][:40]!r}")
        for name, (check, required) in schema.items():
            if name not in self.fields:
                if required:
                    raise ValueError(f"{self.kind} needs {name}")
            elif not check(self.fields[name]):
                raise ValueError(f"{self.kind}'s {name} is not valid")

    @staticmethod
    def id_for(kind: str, key: str) -> str:
        """The task id for ``key`` (an event id, say): a repeat of the same key is the same task."""
        return uuid.uuid5(_NAMESPACE, f"{kind}#{key}").hex

    @classmethod
    def notice(
        cls,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        payload: Payload,
        thread_ts: str = "",
        key: str = "",
    ) -> Task:
        """An ephemeral message for ``user_id`` in ``channel_id`` (in the thread ``thread_ts``),
        saying ``payload`` (built by bot/messages.py, so already escaped)."""
        fields: dict[str, Any] = {
            "team_id": team_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "text": payload.get("text", ""),
        }
        if payload.get("blocks"):
            fields["blocks"] = payload["blocks"]
        if thread_ts:
            fields["thread_ts"] = thread_ts
        if key:
            return cls("notice", fields, task_id=cls.id_for("notice", key))
        return cls("notice", fields)

    def to_json(self) -> str:
        # "task" names the kind, and marks the body as a task wherever it is found (a task
        # redriven from the dead-letter queue lands in the jobs queue).
        body = {
            "task": self.kind,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "fields": dict(self.fields),
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> Task:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            raise ValueError("not a task")
        return cls(
            kind=str(data["task"]),
            fields=data["fields"],
            task_id=str(data["task_id"]),
            created_at=float(data.get("created_at", 0.0)),
        )


class TaskQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, task: Task) -> str:
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=task.to_json())
        return response["MessageId"]


def queue_name(queue_url_or_arn: str) -> str:
    """The queue's name, the last part of its URL (``.../123456789012/name``) or ARN
    (``arn:aws:sqs:region:123456789012:name``)."""
    return re.split(r"[/:]", queue_url_or_arn.rstrip("/"))[-1]


def is_task(record: SQSRecord, tasks_queue_url: str) -> bool:
    """Whether a record is a task: it came from the tasks queue, or its body says so."""
    if record.event_source_arn and queue_name(record.event_source_arn) == queue_name(tasks_queue_url):
        return True
    try:
        body = json.loads(record.body)
    except (TypeError, ValueError, RecursionError):
        return False
    return isinstance(body, dict) and "task" in body


class TaskInProgress(Exception):
    """Another delivery of the same task holds it "in progress"."""


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
        _run_once(services, task, context)
    except Exception as error:
        retryable, reason = classify(error)
        if retryable and not final:
            delay = backoff(receives, settings.retry_backoff_seconds)
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
    """The task's runner, guarded by Powertools Idempotency on the task id."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    config = IdempotencyConfig(
        event_key_jmespath="task_id",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)  # a claim lapses when this invocation would end

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="task", persistence_store=_persistence(services), config=config
    )
    def run_task(task: dict[str, Any]) -> dict[str, str]:
        _RUNNERS[task["task"]](services, Task.from_json(json.dumps(task)))
        return {"done": task["task"]}

    try:
        run_task(task=json.loads(task.to_json()))
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


def _status(services: Services, task: Task) -> None:
    from bot.jobs import Job
    from bot.render import show_queued

    show_queued(services, Job.from_json(json.dumps(task.fields["job"])))


_RUNNERS: dict[str, Callable[[Services, Task], None]] = {
    "notice": _notice,
    "home": _home,
    "delete": _delete,
    "share": _share,
    "status": _status,
}


def classify(error: Exception) -> tuple[bool, str]:
    """Whether a later delivery could succeed, and the reason in words (for the dead letter)."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
    from botocore.exceptions import BotoCoreError, ClientError
    from slack_sdk.errors import SlackApiError

    from bot.slack_client import error_code

    if isinstance(error, IdempotencyPersistenceLayerError) and isinstance(error.__cause__, Exception):
        return classify(error.__cause__)  # the job store's own error, wrapped by Powertools
    if isinstance(error, TaskInProgress):
        return True, "another delivery of the task was still running"
    if isinstance(error, SettingsError):
        return False, "the bot is not configured correctly (an administrator has been told in the logs)"
    if isinstance(error, SlackApiError):
        code = error_code(error)
        return code not in _SLACK_PERMANENT, f"Slack refused it ({code or 'unknown error'})"
    if isinstance(error, ClientError):
        return True, f"a storage service failed ({error.operation_name})"
    if isinstance(error, BotoCoreError | OSError):
        return True, "a service could not be reached"
    return True, "an unexpected error"


def backoff(receives: int, steps: tuple[int, ...]) -> int:
    """Seconds until the next delivery after a retryable failure on delivery ``receives``."""
    return steps[min(max(receives, 1), len(steps)) - 1]


def _source_queue_url(settings: Settings, record: SQSRecord) -> str:
    """The URL of the queue the record came from: the tasks queue, or the jobs queue for a
    task redriven there."""
    redriven = queue_name(record.event_source_arn or "") == queue_name(settings.jobs_queue_url)
    return settings.jobs_queue_url if redriven else settings.tasks_queue_url


def _hand_back(services: Services, record: SQSRecord, seconds: int) -> None:
    hand_back(services, _source_queue_url(services.settings, record), record, seconds)


def _dead_letter(services: Services, record: SQSRecord, reason: str) -> None:
    dead_letter(services, record.body, reason, record, kind="task")
