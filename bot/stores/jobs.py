"""The store of each job's progress in DynamoDB, with the click memory, the thread index and
each person's recent list (the Home tab) kept beside it."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.model.job import RECENT_LIMIT, AsyncInference, Job, Progress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The jobs table's sparse index of jobs waiting on the asynchronous endpoint: only a job record
# whose status is "submitted" carries its key attributes (infra/template.yaml, JobsTable).
WAITING_INDEX = "waiting"
_WAITING = "async"  # the one value of the index's partition key
_RECENT_ATTEMPTS = 5  # tries at the recent list's version condition before giving up


class JobStore:
    """Each job and its progress in DynamoDB, one item per job under ``pk = job#<id>``.

    A record lives as long as the job's images (``keep_days``, from IMAGE_RETENTION_DAYS), so a
    button on a weeks-old result still finds what it was made from.
    """

    def __init__(self, dynamodb: DynamoDBClient, table: str, keep_days: int = 90) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.keep_days = keep_days

    def load(self, job_id: str) -> Progress:
        found = self.find(job_id)
        return found[1] if found else Progress()

    def find(self, job_id: str) -> tuple[Job | None, Progress] | None:
        """The job (None for records written before jobs were kept) and its progress."""
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": _pk(job_id)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        progress = Progress(
            status=item["status"]["S"],
            message=json.loads(item.get("message", {}).get("S", "{}")),
            keys=json.loads(item.get("keys", {}).get("S", "[]")),
            seconds=float(item.get("seconds", {}).get("N", "0")),
            reason=item.get("reason", {}).get("S", ""),
            redrives=int(item.get("redrives", {}).get("N", "0")),
            deleted_at=float(item.get("deleted_at", {}).get("N", "0")),
            shared=[
                {name: value["S"] for name, value in copy["M"].items()}
                for copy in item.get("shared", {}).get("L", [])
            ],
            files=json.loads(item.get("files", {}).get("S", "[]")),
            inference=AsyncInference.from_json(item["inference"]["S"]) if "inference" in item else None,
            withheld=json.loads(item.get("withheld", {}).get("S", "[]")),
            timings=json.loads(item.get("timings", {}).get("S", "{}")),
            withheld_told=bool(item.get("withheld_told", {}).get("BOOL", False)),
        )
        body = item.get("job", {}).get("S")
        return (Job.from_json(body) if body else None), progress

    def save(self, job: Job, progress: Progress) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=self._item(job, progress))

    def claim_message(self, job: Job, progress: Progress, *, first_record: bool = False) -> bool:
        """Save ``progress`` as the job's record unless a channel message is recorded already;
        False when one is (another writer claimed the slot first), and nothing is written.

        The render claims any record without a message; with ``first_record`` (the queued
        status) only a job with no record at all: once the render has begun, or the job is
        over, the queued state is past. So one message, whoever posts first, is the job's."""
        item = self._item(job, progress)
        try:
            if first_record:
                self.dynamodb.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            else:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item=item,
                    # Named through a placeholder, as every attribute in an expression may be.
                    ConditionExpression="attribute_not_exists(#message) OR #message = :none",
                    ExpressionAttributeNames={"#message": "message"},
                    ExpressionAttributeValues={":none": {"S": json.dumps({})}},
                )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _item(self, job: Job, progress: Progress) -> dict[str, Any]:
        # Without the response_url: it can post to the channel, and it expires in 30 minutes.
        kept = replace(job, response_url="")
        item: dict[str, Any] = {
            "pk": {"S": _pk(job.job_id)},
            "job": {"S": kept.to_json()},
            "status": {"S": progress.status},
            "message": {"S": json.dumps(progress.message)},
            "keys": {"S": json.dumps(progress.keys)},
            "seconds": {"N": f"{progress.seconds:.3f}"},
            "reason": {"S": progress.reason},
            "redrives": {"N": str(progress.redrives)},
            # A day past the images' own lifetime (the bucket's lifecycle rule).
            "expires_at": {"N": str(int(job.created_at) + (self.keep_days + 1) * 86400)},
        }
        if progress.deleted_at:
            item["deleted_at"] = {"N": f"{progress.deleted_at:.3f}"}
        if progress.shared:
            item["shared"] = {"L": [_copy(where) for where in progress.shared]}
        if progress.files:
            item["files"] = {"S": json.dumps(progress.files)}
        if progress.withheld:
            item["withheld"] = {"S": json.dumps(progress.withheld)}
            item["withheld_told"] = {"BOOL": progress.withheld_told}
        if progress.timings:
            item["timings"] = {"S": json.dumps(progress.timings)}
        inference = progress.inference
        if inference is not None:
            if progress.status != "submitted":  # over: the command's response_url goes with it
                inference = replace(inference, response_url="")
            item["inference"] = {"S": inference.to_json()}
        if progress.status == "submitted" and inference is not None:  # listed in the waiting index
            item[WAITING_INDEX] = {"S": _WAITING}
            item["give_up_at"] = {"N": f"{inference.give_up_at:.3f}"}
        return item

    def note_submitted(self, job_id: str, inference: AsyncInference) -> bool:
        """Record the submitted render's locations on a job that still waits for it; False when
        the job is over already (its notification came first), and nothing is written.

        Only ``inference`` is written: the notifier may have recorded the stored images or the
        uploaded files meanwhile (the answer can come back before InvokeEndpointAsync does), and
        a whole item written from what the worker read before the call would erase them."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": _pk(job_id)}},
                UpdateExpression="SET #inference = :inference",
                ConditionExpression="#status = :submitted AND attribute_exists(#inference)",
                ExpressionAttributeNames={"#status": "status", "#inference": "inference"},
                ExpressionAttributeValues={
                    ":submitted": {"S": "submitted"},
                    ":inference": {"S": inference.to_json()},
                },
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def note_not_submitted(self, job_id: str) -> None:
        """Take back a job's "submitted" (written before InvokeEndpointAsync) once the endpoint
        has refused the request, so that the next attempt submits it again: the job is back to
        rendering, out of the waiting index. A job that is no longer waiting is left alone."""
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": _pk(job_id)}},
                UpdateExpression="SET #status = :rendering REMOVE #inference, #waiting, #give_up_at",
                ConditionExpression="#status = :submitted",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#inference": "inference",
                    "#waiting": WAITING_INDEX,
                    "#give_up_at": "give_up_at",
                },
                ExpressionAttributeValues={
                    ":submitted": {"S": "submitted"},
                    ":rendering": {"S": "rendering"},
                },
            )

    def waiting(self) -> list[str]:
        """The ids of the jobs waiting on the asynchronous endpoint, soonest given up first.

        From the sparse index, which is eventually consistent: a job just submitted may be
        missing for a moment and one just finished still listed, so read each with :meth:`find`."""
        found: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": WAITING_INDEX,
                "KeyConditionExpression": "#waiting = :async",
                "ExpressionAttributeNames": {"#waiting": WAITING_INDEX},
                "ExpressionAttributeValues": {":async": {"S": _WAITING}},
            }
            if start:
                query["ExclusiveStartKey"] = start
            page = self.dynamodb.query(**query)
            found += [item["pk"]["S"].removeprefix("job#") for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def delete_team(self, team_id: str) -> int:
        """Delete every record of workspace ``team_id``: its jobs, recent lists, thread indexes and
        quota counts; how many went. A Scan, for the rare uninstall that asks for it."""
        scan: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "pk",
            "FilterExpression": "begins_with(pk, :recent) OR begins_with(pk, :thread)"
            " OR begins_with(pk, :user) OR begins_with(pk, :team)"
            " OR (begins_with(pk, :job) AND contains(#job, :of_team))",
            "ExpressionAttributeNames": {"#job": "job"},
            "ExpressionAttributeValues": {
                ":recent": {"S": f"recent#{team_id}#"}, ":thread": {"S": f"thread#{team_id}#"},
                ":user": {"S": f"quota#user#{team_id}#"}, ":team": {"S": f"quota#team#{team_id}#"},
                ":job": {"S": "job#"}, ":of_team": {"S": f'"team_id":"{team_id}"'},
            },
        }  # fmt: skip
        gone = 0
        for page in self.dynamodb.get_paginator("scan").paginate(**scan):
            for item in page.get("Items", []):
                self.dynamodb.delete_item(TableName=self.table, Key={"pk": item["pk"]})
                gone += 1
        return gone

    def mark_deleted(self, job_id: str, now: float) -> None:
        """Say in the job's record that its images were deleted on purpose (the first time
        counts); the record itself stays until it expires, so its links can answer 410 Gone."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": _pk(job_id)}},
            UpdateExpression="SET deleted_at = if_not_exists(deleted_at, :now)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
        )

    def note_shared(self, job_id: str, where: dict[str, str]) -> None:
        """Remember a copy of the result that Share posted, for Delete to remove with it."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": _pk(job_id)}},
            # SHARED is one of DynamoDB's reserved words: named through a placeholder.
            UpdateExpression="SET #shared = list_append(if_not_exists(#shared, :none), :copy)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#shared": "shared"},
            ExpressionAttributeValues={":none": {"L": []}, ":copy": {"L": [_copy(where)]}},
        )

    def remember(self, key: str, seconds: int, now: float | None = None) -> bool:
        """Remember ``key`` for ``seconds``; False when it is already remembered (a double-click,
        or Slack delivering the same click twice), so a repeat within that time does nothing."""
        now = time.time() if now is None else now
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"click#{key}"}, "expires_at": {"N": str(int(now) + seconds)}},
                # TTL deletes lazily (within days), so a memory past its time is checked here.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def note_latest_in_thread(self, job: Job, root_ts: str) -> None:
        """Remember ``job`` as the newest result in the thread under ``root_ts``, for mentions
        there to start from. A job older than the one remembered changes nothing."""
        # A newer result in the thread already remembered fails the condition: nothing to do.
        with contextlib.suppress(self.dynamodb.exceptions.ConditionalCheckFailedException):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": _thread_pk(job.team_id, job.channel_id, root_ts)},
                    "job_id": {"S": job.job_id},
                    "created_at": {"N": repr(job.created_at)},
                    "expires_at": {"N": str(int(job.created_at) + (self.keep_days + 1) * 86400)},
                },
                ConditionExpression="attribute_not_exists(pk) OR created_at <= :created",
                ExpressionAttributeValues={":created": {"N": repr(job.created_at)}},
            )

    def latest_in_thread(self, team_id: str, channel_id: str, root_ts: str) -> str | None:
        """The id of the newest result in a thread, or None when the thread holds no result."""
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": _thread_pk(team_id, channel_id, root_ts)}},
            ConsistentRead=True,
        ).get("Item")
        return item["job_id"]["S"] if item else None

    def note_recent(self, job: Job, keep: int = RECENT_LIMIT) -> None:
        """Put a finished ``job`` in its requester's list of recent jobs (for the Home tab): one
        item per person, the ``keep`` newest by creation, newest first. The table has only a hash
        key, so the list lives in one item, read and written back under a version condition: two
        jobs finishing at once for the same person both land, neither overwrites the other."""
        key = {"pk": {"S": _recent_pk(job.team_id, job.user_id)}}
        for _ in range(_RECENT_ATTEMPTS):
            item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            entries = _recent_entries(item)
            if any(job_id == job.job_id for job_id, _ in entries):
                return  # a job delivered again is listed once
            kept = sorted([*entries, (job.job_id, job.created_at)], key=lambda entry: -entry[1])[:keep]
            if all(job_id != job.job_id for job_id, _ in kept):
                return  # older than every job kept
            version = int(item["version"]["N"]) if item and "version" in item else 0
            newest = kept[0][1]
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        **key,
                        "jobs": {"L": [{"M": {"id": {"S": i}, "at": {"N": repr(at)}}} for i, at in kept]},
                        "version": {"N": str(version + 1)},
                        # Gone with the newest job's images: nothing listed outlives them.
                        "expires_at": {"N": str(int(newest) + (self.keep_days + 1) * 86400)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR version = :version",
                    ExpressionAttributeValues={":version": {"N": str(version)}},
                )
                return
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                continue  # another job of this person's was written first: read it and try again
        raise RecentListBusy(job.job_id)

    def recent(self, team_id: str, user_id: str) -> list[str]:
        """The ids of a person's recent jobs, newest first (some may have expired or been deleted)."""
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": _recent_pk(team_id, user_id)}}, ConsistentRead=True
        ).get("Item")
        return [job_id for job_id, _ in _recent_entries(item)]


class RecentListBusy(Exception):
    """The recent list kept changing under every attempt to add a job to it."""


def _recent_entries(item: dict[str, Any] | None) -> list[tuple[str, float]]:
    if not item or "jobs" not in item:
        return []
    return [(entry["M"]["id"]["S"], float(entry["M"]["at"]["N"])) for entry in item["jobs"]["L"]]


def _recent_pk(team_id: str, user_id: str) -> str:
    return f"recent#{team_id}#{user_id}"


def _copy(where: dict[str, str]) -> dict[str, Any]:
    return {"M": {name: {"S": value} for name, value in where.items()}}


def _thread_pk(team_id: str, channel_id: str, root_ts: str) -> str:
    return f"thread#{team_id}#{channel_id}#{root_ts}"


def _pk(job_id: str) -> str:
    return f"job#{job_id}"
