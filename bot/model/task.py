"""A task: Slack-side work that must follow an acknowledgement, run by the tasks lane
(bot/worker/tasks_lane.py). Its kinds, the fields each takes, validated, and its JSON body."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

from bot.model.workspace import Workspace

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


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
    """A queued job, as its queue carries it (bot/stores/jobs.py)."""
    from bot.model.job import Job

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
    "status": {  # a queued job's channel message, "queued, N ahead" (bot/worker/pipeline.py)
        "job": (_job, True),
    },
    "purge": {  # an uninstalled workspace's images and records (bot/usecases/installs.py)
        "team_id": (_slack_id, True),
    },
}
# Kinds that make no Slack call: they run even for a workspace that is no longer installed.
WITHOUT_SLACK = ("purge",)
KINDS = tuple(_FIELDS)


@dataclass(frozen=True)
class Task:
    """One piece of Slack-side work: its kind and the fields that kind takes, validated."""

    kind: str
    fields: Mapping[str, Any]
    task_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    # Where its workspace's installation is kept, as for a job (bot/model/workspace.py).
    enterprise_id: str = ""
    org_wide: bool = False

    @property
    def workspace(self) -> Workspace:
        """The workspace the task acts for: its team's, or its job's."""
        job = self.fields.get("job")
        if isinstance(job, Mapping):
            return Workspace(
                str(job["team_id"]), str(job.get("enterprise_id", "")), bool(job.get("org_wide"))
            )
        return Workspace(str(self.fields["team_id"]), self.enterprise_id, self.org_wide)

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
        payload: dict[str, Any],
        thread_ts: str = "",
        key: str = "",
    ) -> Task:
        """An ephemeral message for ``user_id`` in ``channel_id`` (in the thread ``thread_ts``),
        saying ``payload`` (built by bot/blocks/messages.py, so already escaped)."""
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
            "enterprise_id": self.enterprise_id,
            "org_wide": self.org_wide,
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
            enterprise_id=str(data.get("enterprise_id", "")),
            org_wide=bool(data.get("org_wide", False)),
        )


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
