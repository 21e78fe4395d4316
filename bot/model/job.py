"""A job: one accepted /imagine with everything the worker needs, and how far it got."""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.model.prompt import MAX_SEED, ImageRequest
from bot.model.workspace import Workspace

_SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")
RECENT_LIMIT = 10  # jobs kept in a person's recent list (the Home tab)


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
    thread_ts: str = ""  # the result thread this job's messages go into ("" for the channel)
    parent_job_id: str = ""  # the result a button or a mention started from
    # Where the workspace's installation is kept (bot/model/workspace.py): its Enterprise Grid
    # org, and whether the app is installed org-wide.
    enterprise_id: str = ""
    org_wide: bool = False

    def __post_init__(self) -> None:
        if not _JOB_ID.match(self.job_id):
            raise ValueError("job_id must be 32 lowercase hex digits")
        for name in ("team_id", "channel_id", "user_id"):
            if not _SLACK_ID.match(getattr(self, name)):
                raise ValueError(f"{name} is not a Slack id")
        if self.request.seed is None:
            raise ValueError("a job's seed is chosen before it is queued")
        if self.thread_ts and not _SLACK_TS.match(self.thread_ts):
            raise ValueError("thread_ts is not a Slack message timestamp")
        if self.parent_job_id and not _JOB_ID.match(self.parent_job_id):
            raise ValueError("parent_job_id must be a job id")
        if self.enterprise_id and not _SLACK_ID.match(self.enterprise_id):
            raise ValueError("enterprise_id is not a Slack id")

    @classmethod
    def new(
        cls,
        *,
        team_id: str,
        channel_id: str,
        user_id: str,
        request: ImageRequest,
        response_url: str = "",
        thread_ts: str = "",
        parent_job_id: str = "",
        now: float | None = None,
        enterprise_id: str = "",
        org_wide: bool = False,
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
            thread_ts=thread_ts,
            parent_job_id=parent_job_id,
            enterprise_id=enterprise_id,
            org_wide=org_wide,
        )

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.team_id, self.enterprise_id, self.org_wide)

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
                "thread_ts": self.thread_ts,
                "parent_job_id": self.parent_job_id,
                "enterprise_id": self.enterprise_id,
                "org_wide": self.org_wide,
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
            thread_ts=str(data.get("thread_ts", "")),
            parent_job_id=str(data.get("parent_job_id", "")),
            enterprise_id=str(data.get("enterprise_id", "")),
            org_wide=bool(data.get("org_wide", False)),
        )

    def redriven(self) -> Job:
        return replace(self, redrives=self.redrives + 1)


@dataclass
class AsyncInference:
    """A render handed to the SageMaker asynchronous endpoint (IMAGE_BACKEND=sagemaker-async):
    where its request and answer live in S3, and until when the job waits for it.

    ``response_url`` is the command's, kept while the job waits: the notifier that delivers the
    result may need it (a channel closed to the bot), and the job record otherwise keeps none.
    It goes with this record when the job ends, and lapses with Slack's 30 minutes anyway."""

    input_location: str
    submitted_at: float
    give_up_at: float  # the sweep gives the job up after this (epoch seconds)
    inference_id: str = ""
    output_location: str = ""  # s3://bucket/key, as InvokeEndpointAsync answered
    failure_location: str = ""
    response_url: str = field(default="", repr=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> AsyncInference:
        data = json.loads(body)
        return cls(
            input_location=str(data["input_location"]),
            submitted_at=float(data["submitted_at"]),
            give_up_at=float(data["give_up_at"]),
            inference_id=str(data.get("inference_id", "")),
            output_location=str(data.get("output_location", "")),
            failure_location=str(data.get("failure_location", "")),
            response_url=str(data.get("response_url", "")),
        )


@dataclass
class Progress:
    """How far a job got, so a redelivered job picks up where the last attempt stopped."""

    # new -> (queued ->) rendering -> (submitted, on the asynchronous endpoint ->) done | failed
    status: str = "new"
    message: dict[str, str] = field(default_factory=dict)  # where the channel message lives
    keys: list[str] = field(default_factory=list)  # stored images
    seconds: float = 0.0  # backend time, reported in the result
    reason: str = ""  # why it failed, when it did
    redrives: int = 0  # the job's redrive count when this was written
    deleted_at: float = 0.0  # when Delete removed its images (the record stays, for the links' 410)
    shared: list[dict[str, str]] = field(default_factory=list)  # copies Share posted: {"channel", "ts"}
    files: list[str] = field(default_factory=list)  # ids of the Slack files an upload delivered
    inference: AsyncInference | None = None  # the asynchronous render it waits on, once submitted
    # Images the image check withheld: {"image": n (from 1), "labels": [{"name", "confidence"}]}.
    withheld: list[dict[str, Any]] = field(default_factory=list)
    withheld_told: bool = False  # the requester was told which, and the quota given back
    # Where the job's time went, in seconds: queued, rendering, checking, storing, posting.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def drawn(self) -> bool:
        """The images exist: stored, or withheld by the image check (never to be drawn again)."""
        return bool(self.keys or self.withheld)
