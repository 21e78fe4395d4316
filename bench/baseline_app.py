"""Baselines for the http function, built the plainest way: a bare Bolt app that acknowledges
/imagine and sends one SQS message (`handler`), and the same app that first makes the quota's
DynamoDB transaction, written inline (`handler_with_quota`): the same I/O as imagine's
acknowledgement, with none of its code."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

_handlers: dict[bool, SlackRequestHandler] = {}


def _build(with_quota: bool) -> SlackRequestHandler:
    sqs = boto3.client("sqs")
    dynamodb = boto3.client("dynamodb")
    queue_url, table = os.environ["JOBS_QUEUE_URL"], os.environ["JOBS_TABLE"]

    def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=os.environ["SLACK_BOT_TOKEN"])

    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"], authorize=authorize, process_before_response=True
    )

    @app.command("/imagine")
    def imagine(ack: Any, command: dict[str, Any]) -> None:
        if with_quota:
            day = time.strftime("%Y-%m-%d", time.gmtime())
            count = {":n": {"N": "1"}, ":room": {"N": "1000000"}}
            dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"pk": {"S": f"baseline#{command['trigger_id']}"}},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Update": {"TableName": table, "Key": {"pk": {"S": f"baseline#user#{day}"}},
                                "UpdateExpression": "ADD used :n",
                                "ConditionExpression": "attribute_not_exists(used) OR used <= :room",
                                "ExpressionAttributeValues": count}},
                    {"Update": {"TableName": table, "Key": {"pk": {"S": f"baseline#team#{day}"}},
                                "UpdateExpression": "ADD used :n",
                                "ConditionExpression": "attribute_not_exists(used) OR used <= :room",
                                "ExpressionAttributeValues": count}},
                ]
            )  # fmt: skip
        sqs.send_message(QueueUrl=queue_url, MessageBody=command["text"])
        ack("Queued")

    return SlackRequestHandler(app)


def _handle(with_quota: bool, event: dict[str, Any], context: Any) -> dict[str, Any]:
    if with_quota not in _handlers:
        _handlers[with_quota] = _build(with_quota)
    response: dict[str, Any] = _handlers[with_quota].handle(event, context)  # type: ignore[no-untyped-call]
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(False, event, context)


def handler_with_quota(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(True, event, context)
