"""``imagine-bot status`` against moto (CloudWatch, SQS) and the stand-ins: real jobs run through
the worker first; the metrics they emitted (Powertools' EMF lines) reach moto's CloudWatch with
PutMetricData, as CloudWatch Logs extracts them from a function's log in AWS; the dead-letter
queue holds the job that failed for good, with its reason."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import boto3
import pytest

from bot.local import cli
from bot.local.rekognition import ModerationStandIn
from bot.ops.checks import Context
from bot.ops.doctor import from_env
from bot.ops.status import Status, gather
from tests.conftest import Stack
from tests.slack_users import imagine


def into_cloudwatch(out: str) -> int:
    """Each EMF line's metrics put into CloudWatch with their dimensions; how many values."""
    cloudwatch, count = boto3.client("cloudwatch"), 0
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        emf = json.loads(line)
        for directive in emf["_aws"]["CloudWatchMetrics"]:
            dimensions = [{"Name": name, "Value": emf[name]} for name in directive["Dimensions"][0]]
            for metric in directive["Metrics"]:
                values = emf[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=[{
                        "MetricName": metric["Name"], "Dimensions": dimensions, "Value": value,
                        "Unit": metric.get("Unit", "None"), "Timestamp": datetime.now(UTC),
                    }])  # fmt: skip
                    count += 1
    return count


def now_status() -> Status:
    return gather(Context(from_env(os.environ), boto3.client), 24)


@pytest.fixture
def a_days_work(env: Stack, image_check: ModerationStandIn, capsys: pytest.CaptureFixture[str]) -> Status:
    """The work below, and the status before it: moto's CloudWatch is the test process's, shared
    with the tests before, so what this work adds is told apart by the difference."""
    before = now_status()
    imagine(env, "a paper crane --seed 5 --n 2")  # two images posted
    imagine(env, "a zombie in the rain --seed 5")  # withheld
    image_check.down("DetectModerationLabels", code="ThrottlingException", status=500)
    imagine(env, "a lighthouse --seed 5")  # failed for good, dead-lettered
    assert into_cloudwatch(capsys.readouterr().out) > 0
    return before


def test_status_says_what_happened_from_cloudwatch_the_queues_and_the_model(
    a_days_work: Status, env: Stack
) -> None:
    before, after = a_days_work, now_status()

    counted = ("images", "requested", "withheld", "failed")
    assert [getattr(after, n) - getattr(before, n) for n in counted] == [2, 4, 1, 1]
    assert after.waiting == {"jobs": 0, "tasks": 0}
    [(reason, count)] = after.dead_letters.items()  # the stack's own dead-letter queue
    assert count == 1 and reason.startswith("the image check could not be done (Amazon Rekognition: Thrott")
    assert after.model == "the placeholder (no model)"
    checked = (after.images + after.withheld) - (before.images + before.withheld)
    assert checked == 3 and after.cost is not None and before.cost is not None
    assert after.cost - before.cost == pytest.approx(
        3 * 0.001
    )  # three images checked; the placeholder is free
    assert (after.p50, after.p95) == (None, None)  # moto computes no percentiles
    assert after.problems == []
    assert len(env.dead_letters()) == 1  # looked at, not taken


def test_the_command_prints_it_and_exits_0(a_days_work: Status, capsys: pytest.CaptureFixture[str]) -> None:
    before = a_days_work
    assert cli.main(["status", "--hours", "6"]) == 0
    out = capsys.readouterr().out
    images, withheld = before.images + 2, before.withheld + 1
    assert "imagine status: the environment, the last 6 hours" in out
    assert (
        f"images made: {images} (of {before.requested + 4} asked for; {withheld} withheld by the image check)"
        in out
    )
    assert "time to image: p50 unknown, p95 unknown (CloudWatch gave no percentiles)" in out
    assert f"failures: {before.failed + 1} job" in out and "jobs waiting: 0 jobs, 0 tasks" in out
    assert "dead-lettered: 1\n  1 x the image check could not be done" in out
    assert f"(the placeholder costs nothing; {images + withheld} checked x $0.001)" in out


def test_an_unreadable_queue_is_said_and_the_exit_is_1(
    env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DEAD_LETTER_QUEUE_URL", f"{os.environ['AWS_ENDPOINT_URL']}/123456789012/no-such-queue"
    )
    assert cli.main(["status"]) == 1
    assert (
        "! the dead-letter queue could not be read (AWS.SimpleQueueService.NonExistentQueue"
        in capsys.readouterr().out
    )
