"""``imagine-bot status [--stack imagine] [--hours 24]``: what happened, read-only.

From CloudWatch (the metrics the worker emits, namespace ``imagine``: bot/worker/timings.py), the
queues (their depth; the dead-lettered jobs with their reasons, looked at with VisibilityTimeout
0 so each stays for a redrive), the model (the endpoint's state and instances, or the Bedrock
model's lifecycle, as ``doctor`` reads them) and the prices ``imagine-bot cost`` uses, it prints:
images made, time to image p50 / p95, failures by reason, jobs waiting, dead-lettered jobs, the
model's state, and an estimated cost for the period. Nothing is changed.

CloudWatch computes the percentiles (GetMetricStatistics' ExtendedStatistics p50, p95); a
CloudWatch that does not (moto's) leaves them unknown, and the line says so.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.ops.backend_checks import bedrock_model, sagemaker_endpoint
from bot.ops.checks import Context, Deployment, short, why
from bot.ops.prices import load_table

NAMESPACE, DIMENSIONS = "imagine", [{"Name": "service", "Value": "imagine"}]
PAGES = 10  # dead letters looked at: up to 100, the newest reasons


@dataclass
class Status:
    hours: int
    images: int = 0
    requested: int = 0
    withheld: int = 0
    failed: int = 0
    p50: float | None = None
    p95: float | None = None
    waiting: dict[str, int] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    model: str = ""
    cost: float | None = None
    cost_basis: str = ""
    problems: list[str] = field(default_factory=list)


def gather(ctx: Context, hours: int, now: datetime | None = None) -> Status:
    status = Status(hours)
    # Whole minutes, the next one included: CloudWatch rounds a window's ends down to the minute
    # (GetMetricStatistics' StartTime), so the minute under way would otherwise be left out.
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(hours=hours)
    cloudwatch = ctx.client("cloudwatch")
    try:
        sums = {name: _sum(cloudwatch, name, start, end) for name in
                ("ImagesPosted", "ImagesRequested", "ImagesWithheld", "JobsFailed")}  # fmt: skip
        status.images, status.requested = sums["ImagesPosted"], sums["ImagesRequested"]
        status.withheld, status.failed = sums["ImagesWithheld"], sums["JobsFailed"]
        status.p50, status.p95 = _percentiles(cloudwatch, start, end)
    except Exception as error:
        status.problems.append(f"CloudWatch could not be read ({why(error)})")
    sqs, d = ctx.client("sqs"), ctx.deployment
    for label, setting in (("jobs", "JOBS_QUEUE_URL"), ("tasks", "TASKS_QUEUE_URL")):
        try:
            status.waiting[label] = _depth(sqs, d.setting(setting))
        except Exception as error:
            status.problems.append(f"the {label} queue could not be read ({why(error)})")
    try:
        status.dead_letters = _reasons(sqs, d.setting("DEAD_LETTER_QUEUE_URL"))
    except Exception as error:
        status.problems.append(f"the dead-letter queue could not be read ({why(error)})")
    if d.backend in ("sagemaker", "sagemaker-async"):
        status.model = sagemaker_endpoint(ctx)[0].detail
    elif d.backend == "bedrock":
        status.model = bedrock_model(ctx).detail
    else:
        status.model = "the placeholder (no model)"
    status.cost, status.cost_basis = _cost(d, status)
    return status


def render(where: str, status: Status) -> str:
    def seconds(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.1f} s"

    lines = [
        f"imagine status: {where}, the last {status.hours} hours",
        f"images made: {status.images} (of {status.requested} asked for; "
        f"{status.withheld} withheld by the image check)",
        f"time to image: p50 {seconds(status.p50)}, p95 {seconds(status.p95)}"
        + ("" if status.p50 is not None else " (CloudWatch gave no percentiles)"),
        f"failures: {status.failed} job{'s' if status.failed != 1 else ''} failed for good",
        "jobs waiting: " + ", ".join(f"{count} {label}" for label, count in status.waiting.items()),
        f"dead-lettered: {sum(status.dead_letters.values())}",
        *(f"  {count} x {reason}" for reason, count in status.dead_letters.most_common()),
        f"model: {status.model}",
        f"estimated cost: {'unknown' if status.cost is None else f'${status.cost:,.2f}'} "
        f"({status.cost_basis})",
    ]
    lines += [f"! {problem}" for problem in status.problems]
    return "\n".join(lines)


def run(stack: str, hours: int) -> int:
    import boto3

    from bot.ops.doctor import DoctorError, from_env, from_stack

    session = boto3.session.Session()
    try:
        deployment = (
            from_stack(stack, session.client("cloudformation"), session.client("lambda"))
            if stack
            else from_env()
        )
    except DoctorError as error:
        print(f"imagine status: {error}", file=sys.stderr)
        return 1
    status = gather(Context(deployment, session.client), hours)
    print(render(deployment.where, status))
    return 1 if status.problems else 0


def _sum(cloudwatch: Any, name: str, start: datetime, end: datetime) -> int:
    """The metric's sum over the window, added up from as many periods as one call may answer
    (at most 1,440 datapoints: GetMetricStatistics' API reference)."""
    seconds = (end - start).total_seconds()
    # A period in whole minutes, five of them for data older than 15 days (its API reference).
    step = 300 if seconds > 15 * 86400 else 60
    period = max(step, -(-int(seconds) // (1440 * step)) * step)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=name, Dimensions=DIMENSIONS, StartTime=start, EndTime=end,
        Period=period, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    return int(sum(point.get("Sum", 0) for point in points))


def _percentiles(cloudwatch: Any, start: datetime, end: datetime) -> tuple[float | None, float | None]:
    """TimeToImage's p50 and p95 over the whole period: one datapoint of the period's length."""
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="TimeToImage", Dimensions=DIMENSIONS, StartTime=start, EndTime=end,
        Period=_period(start, end), ExtendedStatistics=["p50", "p95"],
    )["Datapoints"]  # fmt: skip
    extended = points[0].get("ExtendedStatistics", {}) if len(points) == 1 else {}
    return extended.get("p50"), extended.get("p95")


def _period(start: datetime, end: datetime) -> int:
    """The whole window as one period: whole minutes, or five of them past 15 days (the window is
    whole hours, so both hold)."""
    return max(60, int((end - start).total_seconds()) // 300 * 300)


def _depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, "0")) for name in names)


def _reasons(sqs: Any, url: str) -> Counter[str]:
    seen: dict[str, str] = {}
    for _ in range(PAGES):
        asked = {"MaxNumberOfMessages": 10, "VisibilityTimeout": 0, "WaitTimeSeconds": 0}
        messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["reason"], **asked).get(
            "Messages", []
        )
        fresh = {m["MessageId"]: m for m in messages if m["MessageId"] not in seen}
        if not fresh:
            break
        for message_id, message in fresh.items():
            reason = (
                message.get("MessageAttributes", {})
                .get("reason", {})
                .get("StringValue", "no reason recorded")
            )
            seen[message_id] = short(reason)
    return Counter(seen.values())


def _cost(d: Deployment, status: Status) -> tuple[float | None, str]:
    """The period's images at the bundled table's prices: Bedrock per image, the image check per
    image; an endpoint's hours are its instances' (imagine-bot cost prices them)."""
    prices = load_table()
    check = (
        prices["screening"]["rekognition"]["per_image"]
        if d.setting("IMAGE_MODERATION") == "rekognition"
        else 0
    )
    checked = status.images + status.withheld
    if d.backend == "bedrock":
        model = prices["bedrock"]["models"].get(d.setting("BEDROCK_MODEL_ID"), {})
        per_image = float(model.get("per_image", 0))
        if not per_image:
            return None, f"no price for {d.setting('BEDROCK_MODEL_ID')} in the bundled table"
        total = checked * per_image + checked * check  # Bedrock bills the images it drew, withheld or not
        return total, f"{checked} images x ${per_image:g} on Bedrock + {checked} checked x ${check:g}"
    if d.backend == "placeholder":
        return checked * check, f"the placeholder costs nothing; {checked} checked x ${check:g}"
    return checked * check, (
        f"{checked} checked x ${check:g}; the endpoint's instance hours come on top: "
        "`imagine-bot cost --images-per-day N` prices them"
    )
