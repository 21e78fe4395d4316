"""The baseline for the http function: a bare Bolt app that acknowledges /imagine and sends
one SQS message, with nothing else (no parsing, no settings, no structured logging)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

_handler: SlackRequestHandler | None = None


def _build() -> SlackRequestHandler:
    sqs = boto3.client("sqs")
    queue_url = os.environ["JOBS_QUEUE_URL"]

    def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=os.environ["SLACK_BOT_TOKEN"])

    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"], authorize=authorize, process_before_response=True
    )

    @app.command("/imagine")
    def imagine(ack: Any, command: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=command["text"])
        ack("Queued")

    return SlackRequestHandler(app)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        _handler = _build()
    response: dict[str, Any] = _handler.handle(event, context)  # type: ignore[no-untyped-call]
    return response
