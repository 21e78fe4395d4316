"""Doctor's queue checks: each queue the stack has exists, and each dead-letter queue's depth,
with the reasons of the newest dead-lettered jobs. With ``sagemaker-async`` that includes the
asynchronous endpoint's notifications queue and its own dead-letter queue."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.ops.checks import FAIL, PASS, SKIP, WARN, Context, Result, short, why

NEWEST_REASONS = 3  # dead-lettered jobs whose reasons are shown
GONE_FIX = "Check that the queue exists (redeploy the stack) and that you may read it."
SWEEP_FIX = (
    "The sweep settles their jobs from the answers in S3 within minutes; the notifier "
    "function's logs say why they failed."
)


def queue_checks(ctx: Context) -> list[Result]:
    d = ctx.deployment
    results = [
        queue(ctx, "Jobs queue", d.setting("JOBS_QUEUE_URL"), "JOBS_QUEUE_URL"),
        queue(ctx, "Tasks queue", d.setting("TASKS_QUEUE_URL"), "TASKS_QUEUE_URL"),
        dead_letters(ctx),
    ]
    if d.backend == "sagemaker-async":
        results += [notifications_queue(ctx), notifications_dead_letters(ctx)]
    return results


def queue(ctx: Context, name: str, url: str, setting: str) -> Result:
    if not url:
        return Result(name, FAIL, f"{setting} is not set", "Give --stack NAME or set it in the environment.")
    depth = _depth_or_failure(ctx, name, url)
    return depth if isinstance(depth, Result) else Result(name, PASS, f"exists, {depth} waiting")


def notifications_queue(ctx: Context) -> Result:
    """The asynchronous endpoint's topics feed it to the notifier (infra/template.yaml's
    NotificationsQueue; the notifier's NOTIFICATIONS_QUEUE_URL without a stack)."""
    d = ctx.deployment
    url = d.resources.get("NotificationsQueue") or d.setting("NOTIFICATIONS_QUEUE_URL")
    return queue(ctx, "Notifications queue", url, "NOTIFICATIONS_QUEUE_URL")


def notifications_dead_letters(ctx: Context) -> Result:
    """Notifications the notifier could not handle (the template's NotificationsDeadLetterQueue,
    found among the stack's resources: no setting names it). The sweep settles their jobs from
    the answers in S3, so a depth is a warning."""
    name = "Notifications dead-letter queue"
    url = ctx.deployment.resources.get("NotificationsDeadLetterQueue", "")
    if not url:
        if not ctx.deployment.stack_name:
            return Result(name, SKIP, "skipped: give --stack NAME to find it among the stack's resources")
        return Result(
            name,
            FAIL,
            "the stack has no NotificationsDeadLetterQueue",
            "Redeploy the stack with ImageBackend=sagemaker-async (make deploy).",
        )
    depth = _depth_or_failure(ctx, name, url)
    if isinstance(depth, Result):
        return depth
    if depth == 0:
        return Result(name, PASS, "empty")
    said = f"{depth} notification{'s' if depth != 1 else ''} the notifier could not handle"
    return Result(name, WARN, said, SWEEP_FIX)


def dead_letters(ctx: Context) -> Result:
    """The dead-letter queue's depth and the reasons of its newest jobs, looked at without being
    taken: received with VisibilityTimeout 0, each stays visible for the worker's redrive."""
    name = "Dead-letter queue"
    url = ctx.deployment.setting("DEAD_LETTER_QUEUE_URL")
    if not url:
        return Result(name, FAIL, "DEAD_LETTER_QUEUE_URL is not set", "Give --stack NAME or set it.")
    sqs = ctx.client("sqs")
    try:
        depth = _depth(sqs, url)
        messages = (
            []
            if depth == 0
            else sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                WaitTimeSeconds=1,
                MessageAttributeNames=["reason"],
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
        )
    except Exception as error:
        return Result(name, FAIL, f"could not be read ({why(error)})", GONE_FIX)
    if depth == 0:
        return Result(name, PASS, "empty")
    stack = ctx.deployment.stack_name
    redrive = f"--stack {stack}" if stack else "--queue-url ... --dead-letter-queue-url ..."
    newest = sorted(
        messages, key=lambda m: int(m.get("Attributes", {}).get("SentTimestamp", 0)), reverse=True
    )
    reasons = Counter(
        short(m.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "no reason recorded"))
        for m in newest[:NEWEST_REASONS]
    )
    said = "; ".join(f"{reason} (x{count})" if count > 1 else reason for reason, count in reasons.items())
    return Result(
        name,
        WARN,
        f"{depth} failed job{'s' if depth != 1 else ''}; newest: {said}",
        f"Fix the cause, then run `imagine-bot redrive {redrive}` to run them again.",
    )


def _depth_or_failure(ctx: Context, name: str, url: str) -> int | Result:
    try:
        return _depth(ctx.client("sqs"), url)
    except Exception as error:
        return Result(name, FAIL, f"could not be read ({why(error)})", GONE_FIX)


def _depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"].get("ApproximateNumberOfMessages", "0"))
