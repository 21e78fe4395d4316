"""The dashboard and the alarms read only what exists: a metric of the ``imagine`` namespace that
the code emits when it runs (read from Powertools' EMF lines while real jobs run through the
worker here), a metric AWS documents for its namespace (tests/fixtures/aws_metrics.json, with
where each list comes from), or a line the worker logs (its Logs Insights widgets)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.local.rekognition import ModerationStandIn
from tests.conftest import ROOT, Stack
from tests.infra.test_template import _evaluate, _of_type, _translate
from tests.slack_users import imagine

RESOURCES = {  # what CloudFormation names them, as the dashboard's text takes them
    "HttpFunction": "imagine-http", "WorkerFunction": "imagine-worker", "JobsQueue.QueueName": "imagine-jobs",
    "TasksQueue.QueueName": "imagine-tasks", "JobsDeadLetterQueue.QueueName": "imagine-dead-letters",
    "WorkerFunctionLogs": "/aws/lambda/imagine-worker", "AWS::StackName": "imagine",
    "NotifierFunctionLogs": "/aws/lambda/imagine-notifier",
}  # fmt: skip
DOCUMENTED = json.loads((ROOT / "tests" / "fixtures" / "aws_metrics.json").read_text())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _translate()


def dashboard(template: dict[str, Any], **parameters: str) -> list[dict[str, Any]]:
    [board] = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = _evaluate(template, board["Properties"]["DashboardBody"], RESOURCES | parameters)
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def read_by(widgets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Each (namespace, metric) a metric widget draws (an expression's inputs included)."""
    return {
        (line[0], line[1])
        for widget in widgets
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], str)
    }


def emitted(out: str) -> set[str]:
    """The metric names in Powertools' EMF lines (one JSON object a line, under ``_aws``)."""
    names: set[str] = set()
    for line in out.splitlines():
        if line.startswith('{"_aws"'):
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names |= {metric["Name"] for metric in directive["Metrics"]}
    return names


def test_every_widget_and_alarm_reads_a_metric_the_code_emits_or_aws_documents(
    template: dict[str, Any], env: Stack, image_check: ModerationStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    imagine(env, "a paper crane --seed 5 --n 2")  # posted
    imagine(env, "a zombie in the rain --seed 5")  # withheld
    image_check.down("DetectModerationLabels", code="ThrottlingException", status=500)
    imagine(env, "a lighthouse --seed 5")  # failed for good
    made = emitted(capsys.readouterr().out)

    widgets = dashboard(template)
    alarms = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"])
              for a in _of_type(template, "AWS::CloudWatch::Alarm").values()}  # fmt: skip
    read = read_by(widgets) | alarms
    ours = {name for namespace, name in read if namespace == "imagine"}
    assert ours and ours <= made, ours - made
    for namespace, name in read - {("imagine", n) for n in ours}:
        assert name in DOCUMENTED[namespace]["metrics"], (namespace, name)
    assert {"ImagesPosted", "ImagesWithheld", "JobsFailed", "TimeToImage", "ModelSecondsPerImage"} <= ours


def test_the_log_widgets_read_lines_and_fields_the_worker_logs(template: dict[str, Any]) -> None:
    """Their filters name a message the worker logs, with the fields they count by; with the
    asynchronous endpoint they read the notifier's log group too, which finishes those jobs."""
    for widget in (w for w in dashboard(template, ImageBackend="sagemaker-async") if w["type"] == "log"):
        assert widget["properties"]["query"].startswith(
            "SOURCE '/aws/lambda/imagine-worker' | SOURCE '/aws/lambda/imagine-notifier' | filter"
        )
    code = "\n".join(path.read_text() for path in (ROOT / "bot" / "worker").glob("*.py"))
    for widget in (w for w in dashboard(template) if w["type"] == "log"):
        query = widget["properties"]["query"]
        [message] = re.findall(r"filter message = '([^']+)'", query)
        call = re.search(rf'logger\.\w+\(\s*"{re.escape(message)}"(.*?)\)\n', code, re.DOTALL)
        assert call, message
        for field in re.findall(r"by (?:bin\(1d\) as day, )?(\w+)", query):
            assert f"{field}=" in call[1], (message, field)


def test_the_dashboard_is_one_page_with_each_asked_for_view(template: dict[str, Any]) -> None:
    titles = " · ".join(w["properties"]["title"] for w in dashboard(template))
    for view in ("Acknowledgement", "Jobs waiting", "Time to image", "Model seconds per image, by backend",
                 "dead letters", "Estimated cost per day", "SageMaker endpoint", "Bedrock",
                 "Images per day, by workspace", "Failures by reason"):  # fmt: skip
        assert view in titles, view
    assert Path(ROOT / "infra" / "template.yaml").read_text().count("AWS::CloudWatch::Dashboard") == 1
