"""Feed SQS messages to ``worker_handler`` the way Lambda's SQS event sources do.

Messages come in batches with their system attributes; those the handler does not report in
``batchItemFailures`` are deleted, the rest stay hidden until their visibility timeout ends
and are received again (or moved to the dead-letter queue by the queue's redrive policy).
The worker has two event sources, the jobs queue's and the tasks queue's (infra/template.yaml);
with the asynchronous endpoint the notifier has a third, the notifications queue, and a schedule
that sweeps the jobs still waiting; the worker's own schedule settles what SQS dead-lettered
without a reason: :class:`EventSources` polls them all, in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.local.lambda_context import WORKER_RESOURCE, LocalContext

if TYPE_CHECKING:
    from bot.services import Services

WORKER_FUNCTION = "imagine-worker-local"
NOTIFIER_FUNCTION = "imagine-notifier-local"
NOTIFIER_RESOURCE = "NotifierFunction"  # its logical id in infra/template.yaml
SWEEP_EVERY_SECONDS = 60.0  # the template's schedule is every 5 minutes; locally, sooner
Handler = Callable[[dict[str, Any], Any], Any]


def _worker(event: dict[str, Any], context: Any) -> Any:
    from bot.handlers import worker_handler

    return worker_handler(event, context)


def _notifier(event: dict[str, Any], context: Any) -> Any:
    from bot.handlers import notifier_handler

    return notifier_handler(event, context)


def scheduled_event(now: float | None = None, region: str = "us-east-1") -> dict[str, Any]:
    """The event EventBridge's schedule hands a function
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html)."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return {
        "version": "0",
        "id": f"local-{int(at.timestamp())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/imagine-sweep"],
        "detail": {},
    }


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
        handler: Handler = _worker,
        function_name: str = WORKER_FUNCTION,
        resource: str = WORKER_RESOURCE,
    ) -> None:
        self.sqs = sqs
        self.handler = handler  # the function the queue's event source invokes
        self.function_name = function_name
        self.resource = resource  # its logical id in the template, whose Timeout it has
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
        """Receive one batch, hand it to the function, settle it; the number of messages handled."""
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
        context = LocalContext(self.function_name, self.resource)
        if self.timeout_seconds is not None:
            context.timeout_seconds = self.timeout_seconds
        result = self.handler(to_event(messages, self.queue_arn, region), context)
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


class Sweeper(_Polling):
    """A function's schedule, as EventBridge invokes it in AWS: by default the notifier's sweep
    of the jobs waiting on the asynchronous endpoint, every ``every`` seconds from the start."""

    def __init__(
        self,
        every: float = SWEEP_EVERY_SECONDS,
        handler: Handler = _notifier,
        function_name: str = NOTIFIER_FUNCTION,
        resource: str = NOTIFIER_RESOURCE,
        *,
        at_start: bool = True,
    ) -> None:
        self.every = every
        self.handler, self.function_name, self.resource = handler, function_name, resource
        self.last = 0.0 if at_start else time.monotonic()  # False: the first call after ``every``

    def poll_once(self) -> int:
        """Invoke if it is time; never counts as work done, so a drain does not wait on it."""
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.handler(scheduled_event(), LocalContext(self.function_name, self.resource))
        return 0


def dead_letter_watch(every: float = SWEEP_EVERY_SECONDS) -> Sweeper:
    """The worker's DeadLetters schedule (bot/worker/dead_letters.py). Its first call comes after
    ``every``, as a rate schedule's does, so a short-lived drain never runs it."""
    return Sweeper(every, _worker, WORKER_FUNCTION, WORKER_RESOURCE, at_start=False)


class EventSources(_Polling):
    """The functions' event sources, each queue polled in turn. Lambda runs them side by side; one
    process taking turns keeps a task from waiting for more than the render in progress."""

    def __init__(self, pollers: Sequence[_Polling]) -> None:
        self.pollers = list(pollers)

    @classmethod
    def of(cls, services: Services, **options: Any) -> EventSources:
        """Pollers for the jobs and tasks queues the settings name, each with ``options``, and
        the worker's dead-letter schedule; with a notifications queue named too, its poller and
        the notifier's sweep."""
        settings = services.settings
        urls = (settings.jobs_queue_url, settings.tasks_queue_url)
        pollers: list[_Polling] = [Poller(services.sqs, url, **options) for url in urls]
        if settings.dead_letter_queue_url:
            pollers.append(dead_letter_watch())
        if settings.notifications_queue_url:
            url = settings.notifications_queue_url
            notifier = Poller(
                services.sqs,
                url,
                handler=_notifier,
                function_name=NOTIFIER_FUNCTION,
                resource=NOTIFIER_RESOURCE,
                **options,
            )
            pollers.append(notifier)
            pollers.append(Sweeper())
        return cls(pollers)

    def poll_once(self) -> int:
        """One batch from each queue; the number of messages handled."""
        return sum(poller.poll_once() for poller in self.pollers)
