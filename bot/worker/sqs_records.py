"""What the worker does with an SQS record it cannot finish now: hand it back for a later
delivery, or file it in the dead-letter queue with its reason. Jobs and tasks share both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from bot.services import Services

logger = Logger(service="imagine", child=True)

MAX_VISIBILITY_SECONDS = 43200  # SQS's limit on a message's visibility timeout (12 hours)


def hand_back(services: Services, queue_url: str, record: SQSRecord, seconds: int) -> None:
    """Set when SQS delivers the record again, counted from now.

    With ReportBatchItemFailures, Lambda leaves a failed message in the queue untouched; it comes
    back when its visibility timeout ends, the queue's 720 s unless the function changes it
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). A new
    timeout counts from the ChangeMessageVisibility call, up to 12 hours after the receive
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html;
    the same pattern: aws-powertools/powertools-lambda-java issue 437).
    """
    try:
        services.sqs.change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=min(max(seconds, 0), MAX_VISIBILITY_SECONDS),
        )
    except Exception:
        # It still comes back, only after the queue's whole visibility timeout.
        logger.exception("could not set when the record is delivered again")


def dead_letter(services: Services, body: str, reason: str, record: SQSRecord, **labels: str) -> None:
    """File ``body`` in the dead-letter queue with its reason (and ``labels``) as attributes."""
    queue_url = services.settings.dead_letter_queue_url
    if not queue_url:
        # Not the body: a job's carries the command's response_url, which can post to the channel.
        logger.error("no DEAD_LETTER_QUEUE_URL: the failure is only in this log", reason=reason,
                     message_id=record.message_id)  # fmt: skip
        return
    attributes = {
        "reason": reason[:1000],
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "receive_count": str(record.attributes.approximate_receive_count or 1),
        "source_message_id": record.message_id,
        **labels,
    }
    services.sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
