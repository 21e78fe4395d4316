"""What the dashboard and the alarms read of a job's time (infra/template.yaml, Dashboard): the
model's seconds per image, by backend, and the time from queued to posted. Both are CloudWatch
metrics in the ``imagine`` namespace, written as Powertools' EMF log lines.

``ModelSecondsPerImage`` has one dimension of its own, ``backend`` (beside Powertools' ``service``),
whose values are the backends' names
(placeholder, sagemaker, sagemaker-async, bedrock): a handful, so its cost stays bounded whatever
the traffic. Nothing is dimensioned by workspace, user or job: per-workspace counts come from the
logs (Logs Insights), where cardinality costs nothing."""

from __future__ import annotations

import time

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from bot.model.job import Job

NAMESPACE = "imagine"
metrics = Metrics(namespace=NAMESPACE)


def model_seconds(backend: str, seconds: float, images: int) -> None:
    # Metrics' own flush honours POWERTOOLS_METRICS_DISABLED; single_metric does not.
    if is_metrics_disabled():
        return
    with single_metric(name="ModelSecondsPerImage", unit=MetricUnit.Seconds, value=seconds / max(1, images),
                       namespace=NAMESPACE) as metric:  # fmt: skip
        metric.add_dimension(name="backend", value=backend)


def time_to_image(job: Job, now: float | None = None) -> float:
    """Seconds from the job's acknowledgement to its posted result, recorded as TimeToImage."""
    seconds = max(0.0, (time.time() if now is None else now) - job.created_at)
    if not job.redrives:  # a redriven job's hours in the dead-letter queue are not a slow render
        metrics.add_metric(name="TimeToImage", unit=MetricUnit.Seconds, value=seconds)
    return seconds
