"""Feed SQS messages to ``worker_handler`` the way Lambda's SQS event sources do.

Messages come in batches with their system attributes; those the handler does not report in
``batchItemFailures`` are deleted, the rest stay hidden until their visibility timeout ends
and are received again (or moved to the dead-letter queue by the queue's redrive policy).
The worker has two event sources, the jobs queue's and the tasks queue's (infra/template.yaml):
:class:`EventSources` polls both, in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bot.local.lambda_context import LocalContext

if TYPE_CHECKING:
    from bot.services import Services

WORKER_FUNCTION = "imagine-worker-local"


def to_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class _Polling:
    def poll_once(self) -> int:
        raise NotImplementedError

    def drain(self, idle_polls: int = 1) -> int:
        """Poll until nothing has come for ``idle_polls`` rounds; the messages handled."""
        handled, idle = 0, 0
        while idle < idle_polls:
            count = self.poll_once()
            handled += count
            idle = 0 if count else idle + 1
        return handled

    def run_forever(self) -> None:
        while True:
            self.poll_once()


class Poller(_Polling):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        batch_size: int = 1,
        wait_seconds: int = 1,
        redeliver_after: int | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        # Seconds before a failed message is delivered again; None leaves it to the worker (which
        # backs off retries with ChangeMessageVisibility) and the queue's visibility timeout, as
        # Lambda does. Shorter makes retries visible while you watch.
        self.redeliver_after = redeliver_after
        # Each invocation's time limit; None is the deployed worker's Timeout (the template's).
        self.timeout_seconds = timeout_seconds
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def poll_once(self) -> int:
        """Receive one batch, hand it to the worker, settle it; the number of messages handled."""
        from bot.handlers import worker_handler

        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        region = self.sqs.meta.region_name
        context = LocalContext(WORKER_FUNCTION)
        if self.timeout_seconds is not None:
            context.timeout_seconds = self.timeout_seconds
        result = worker_handler(to_event(messages, self.queue_arn, region), context)
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            elif self.redeliver_after is not None:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.redeliver_after,
                )
        return len(messages)


class EventSources(_Polling):
    """The worker's event sources, each queue polled in turn. Lambda runs them side by side; one
    process taking turns keeps a task from waiting for more than the render in progress."""

    def __init__(self, pollers: Sequence[Poller]) -> None:
        self.pollers = list(pollers)

    @classmethod
    def of(cls, services: Services, **options: Any) -> EventSources:
        """Pollers for the jobs and tasks queues the settings name, each with ``options``."""
        settings = services.settings
        urls = (settings.jobs_queue_url, settings.tasks_queue_url)
        return cls([Poller(services.sqs, url, **options) for url in urls])

    def poll_once(self) -> int:
        """One batch from each queue; the number of messages handled."""
        return sum(poller.poll_once() for poller in self.pollers)
