"""Daily image quotas and duplicate-command detection, in one DynamoDB transaction at
acknowledgement time.

One TransactWriteItems both remembers the command (so Slack's retry of it is recognised) and
adds the request's images to the user's and the workspace's counts for the UTC day, each under
a condition that keeps the count within its limit. DynamoDB applies all or none of it, so
concurrent requests can never overrun a quota.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.model.guards import Guards, quota_day, quota_refusal, quota_resets

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

COMMAND_MEMORY_SECONDS = 3600  # Slack retries within minutes; an hour is plenty
# DynamoDB cancels a transaction that meets another one on the same item with the reason
# TransactionConflict, and botocore does not retry it (only TransactionInProgressException):
# every command adds to its workspace's counter, so commands arriving together conflict. Tried
# again after these pauses (seconds, each jittered), well inside Slack's 3 s for the ack.
# docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling
CONFLICT_RETRY_SECONDS = (0.02, 0.05, 0.1, 0.2)
QUOTA_RECORD_DAYS = 2


@dataclass(frozen=True)
class Reservation:
    accepted: bool
    duplicate: bool = False  # a retry of a command already accepted
    refusal: str = ""  # why not, in words for the requester


class QuotaStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def reserve(
        self,
        *,
        team_id: str,
        user_id: str,
        images: int,
        command_id: str,
        guards: Guards,
        now: datetime,
        remember_seconds: int = COMMAND_MEMORY_SECONDS,
    ) -> Reservation:
        """Count the images and remember ``command_id`` for ``remember_seconds``: a repeat of it
        within that time is a duplicate. A short memory lets a second click be a new ask."""
        day = quota_day(now)
        counts = [
            ("user", _user_key(team_id, user_id, day), guards.daily_images_per_user),
            ("workspace", _team_key(team_id, day), guards.daily_images_per_workspace),
        ]
        for whose, key, limit in counts:
            # More than a whole day's quota: refused before the transaction, whose condition
            # lets a count that does not exist yet (the day's first request) through.
            if limit and images > limit:
                used = self._used(key)
                return Reservation(
                    accepted=False,
                    refusal=quota_refusal(whose=whose, used=used, limit=limit, asked=images, now=now),
                )
        expires = str(int(quota_resets(now).timestamp()) + QUOTA_RECORD_DAYS * 86400)
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": f"command#{team_id}#{command_id}"},
                        "expires_at": {"N": str(int(time.time()) + remember_seconds)},
                    },
                    # TTL deletes lazily (within days), so a memory past its time is checked here.
                    "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                    "ExpressionAttributeValues": {":now": {"N": str(int(time.time()))}},
                }
            }
        ]
        for _, key, limit in counts:
            update: dict[str, Any] = {
                "TableName": self.table,
                "Key": {"pk": {"S": key}},
                "UpdateExpression": "ADD used :n SET expires_at = :expires",
                "ExpressionAttributeValues": {":n": {"N": str(images)}, ":expires": {"N": expires}},
            }
            if limit:  # 0 means no limit
                update["ConditionExpression"] = "attribute_not_exists(used) OR used <= :room"
                update["ExpressionAttributeValues"][":room"] = {"N": str(limit - images)}
            items.append({"Update": update})
        try:
            self._transact(items)
        except self.dynamodb.exceptions.TransactionCanceledException as error:
            reasons = _reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return Reservation(accepted=False, duplicate=True)
            for index, (whose, key, limit) in enumerate(counts, start=1):
                if index < len(reasons) and reasons[index] == "ConditionalCheckFailed":
                    used = self._used(key)
                    return Reservation(
                        accepted=False,
                        refusal=quota_refusal(whose=whose, used=used, limit=limit, asked=images, now=now),
                    )
            raise
        return Reservation(accepted=True)

    def _transact(self, items: list[Any]) -> None:
        """The transaction, tried again while it only conflicts with another one."""
        for pause in (*CONFLICT_RETRY_SECONDS, None):
            try:
                self.dynamodb.transact_write_items(TransactItems=items)
                return
            except self.dynamodb.exceptions.TransactionCanceledException as error:
                reasons = _reasons(error)
                if (
                    pause is None
                    or "TransactionConflict" not in reasons
                    or "ConditionalCheckFailed" in reasons
                ):
                    raise
                time.sleep(pause * random.uniform(0.5, 1.5))

    def release(self, *, team_id: str, user_id: str, images: int, command_id: str, now: datetime) -> None:
        """Give back a reservation whose job could not be queued or rendered. A count is never
        taken below zero, and a day's count that is gone (expired, purged) stays gone."""
        day = quota_day(now)
        for key in (_user_key(team_id, user_id, day), _team_key(team_id, day)):
            self._take(key, images)
        if command_id:
            self.dynamodb.delete_item(
                TableName=self.table, Key={"pk": {"S": f"command#{team_id}#{command_id}"}}
            )

    def _take(self, key: str, images: int) -> None:
        failed = self.dynamodb.exceptions.ConditionalCheckFailedException
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key={"pk": {"S": key}}, UpdateExpression="ADD used :n",
                ConditionExpression="attribute_exists(used) AND used >= :take",
                ExpressionAttributeValues={":n": {"N": str(-images)}, ":take": {"N": str(images)}},
            )  # fmt: skip
            return
        except failed:
            pass
        with contextlib.suppress(failed):  # fewer counted than given back: down to zero, not below
            self.dynamodb.update_item(
                TableName=self.table, Key={"pk": {"S": key}}, UpdateExpression="SET used = :zero",
                ConditionExpression="attribute_exists(used) AND used < :take",
                ExpressionAttributeValues={":zero": {"N": "0"}, ":take": {"N": str(images)}},
            )  # fmt: skip

    def used_by_user(self, team_id: str, user_id: str, now: datetime) -> int:
        """The images counted for the person on ``now``'s UTC day."""
        return self._used(_user_key(team_id, user_id, quota_day(now)))

    def used_by_workspace(self, team_id: str, now: datetime) -> int:
        return self._used(_team_key(team_id, quota_day(now)))

    def _used(self, key: str) -> int:
        item = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        return int(item["used"]["N"]) if item and "used" in item else 0


def _reasons(error: Exception) -> list[str]:
    """A cancelled transaction's reason codes, one per item ("None" where that item was fine)."""
    response = getattr(error, "response", {})
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]


def _user_key(team_id: str, user_id: str, day: str) -> str:
    return f"quota#user#{team_id}#{user_id}#{day}"


def _team_key(team_id: str, day: str) -> str:
    return f"quota#team#{team_id}#{day}"
