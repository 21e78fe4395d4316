"""The job model, the queue that carries jobs to the worker, and the store of their progress."""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.prompt import MAX_SEED, ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

_SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
RECORD_DAYS = 30  # progress records expire (DynamoDB TTL) well after any redelivery


@dataclass(frozen=True)
class Job:
    """One accepted /imagine: everything the worker needs, with the seed already chosen."""

    job_id: str
    team_id: str
    channel_id: str
    user_id: str
    request: ImageRequest
    created_at: float
    response_url: str = field(default="", repr=False)
    redrives: int = 0  # times `imagine-bot redrive` sent it back after it failed for good

    def __post_init__(self) -> None:
        if not _JOB_ID.match(self.job_id):
            raise ValueError("job_id must be 32 lowercase hex digits")
        for name in ("team_id", "channel_id", "user_id"):
            if not _SLACK_ID.match(getattr(self, name)):
                raise ValueError(f"{name} is not a Slack id")
        if self.request.seed is None:
            raise ValueError("a job's seed is chosen before it is queued")

    @classmethod
    def new(
        cls,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        request: ImageRequest,
        response_url: str = "",
        now: float | None = None,
    ) -> Job:
        # A random uuid4, not a timestamp, so jobs created in the same instant never collide.
        if request.seed is None:
            request = request.with_seed(secrets.randbelow(MAX_SEED + 1))
        return cls(
            job_id=uuid.uuid4().hex,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            request=request,
            created_at=time.time() if now is None else now,
            response_url=response_url,
        )

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)

    def to_json(self) -> str:
        return json.dumps(
            {
                "job_id": self.job_id,
                "team_id": self.team_id,
                "channel_id": self.channel_id,
                "user_id": self.user_id,
                "request": self.request.to_dict(),
                "created_at": self.created_at,
                "response_url": self.response_url,
                "redrives": self.redrives,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str) -> Job:
        data = json.loads(body)
        return cls(
            job_id=data["job_id"],
            team_id=data["team_id"],
            channel_id=data["channel_id"],
            user_id=data["user_id"],
            request=ImageRequest.from_dict(data["request"]),
            created_at=float(data["created_at"]),
            response_url=data.get("response_url", ""),
            redrives=int(data.get("redrives", 0)),
        )

    def redriven(self) -> Job:
        return replace(self, redrives=self.redrives + 1)


class JobQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, job: Job) -> str:
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=job.to_json())
        return response["MessageId"]


@dataclass
class Progress:
    """How far a job got, so a redelivered job picks up where the last attempt stopped."""

    status: str = "new"  # new -> rendering -> done | failed
    message: dict[str, str] = field(default_factory=dict)  # where the channel message lives
    keys: list[str] = field(default_factory=list)  # stored images
    seconds: float = 0.0  # backend time, reported in the result
    reason: str = ""  # why it failed, when it did
    redrives: int = 0  # the job's redrive count when this was written


class JobStore:
    """Job progress in DynamoDB, one item per job under ``pk = job#<id>``."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def load(self, job_id: str) -> Progress:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": _pk(job_id)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return Progress()
        return Progress(
            status=item["status"]["S"],
            message=json.loads(item.get("message", {}).get("S", "{}")),
            keys=json.loads(item.get("keys", {}).get("S", "[]")),
            seconds=float(item.get("seconds", {}).get("N", "0")),
            reason=item.get("reason", {}).get("S", ""),
            redrives=int(item.get("redrives", {}).get("N", "0")),
        )

    def save(self, job_id: str, progress: Progress) -> None:
        item: dict[str, Any] = {
            "pk": {"S": _pk(job_id)},
            "status": {"S": progress.status},
            "message": {"S": json.dumps(progress.message)},
            "keys": {"S": json.dumps(progress.keys)},
            "seconds": {"N": f"{progress.seconds:.3f}"},
            "reason": {"S": progress.reason},
            "redrives": {"N": str(progress.redrives)},
            "expires_at": {"N": str(int(time.time()) + RECORD_DAYS * 86400)},
        }
        self.dynamodb.put_item(TableName=self.table, Item=item)


def _pk(job_id: str) -> str:
    return f"job#{job_id}"
