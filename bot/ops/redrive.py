"""The operator's redrive: jobs filed in the dead-letter queue back to the jobs queue, each
marked as redriven so that it runs again (``imagine-bot redrive``)."""

from __future__ import annotations

import time
from typing import Any

from bot.model.job import Job


def redrive(
    sqs: Any, dead_letter_queue_url: str, queue_url: str, *, limit: int = 1000
) -> list[tuple[str, str]]:
    """Move dead-lettered jobs back to the jobs queue, each marked as redriven so it runs again.

    Returns (job id or message id, reason) for each job moved.
    """
    moved: list[tuple[str, str]] = []
    started = time.monotonic()
    while len(moved) < limit and time.monotonic() - started < 300:
        batch = sqs.receive_message(
            QueueUrl=dead_letter_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            reason = (
                message.get("MessageAttributes", {})
                .get("reason", {})
                .get("StringValue", "(no reason recorded)")
            )
            try:
                job = Job.from_json(message["Body"]).redriven()
                body, name = job.to_json(), job.job_id
            except (ValueError, KeyError, TypeError):
                body, name = message["Body"], message["MessageId"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
            moved.append((name, reason))
    return moved
