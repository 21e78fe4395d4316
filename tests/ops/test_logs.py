"""Logs that join up: every line of a job, in the http function and the worker, carries its job
id, and the http function's lines the Slack request that started it, so one Logs Insights query
(`filter job_id = "…"`, docs/operating.md) shows a job's whole life. Read from the JSON lines
Powertools' Logger writes (to the process's standard output, as Lambda hands it to CloudWatch Logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

import bot.handlers  # noqa: F401 - the functions' logger, parent of every child logger
from tests.conftest import Stack, call_http, command_event


@pytest.fixture
def logged(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the functions log from now on, INFO included (the test stack keeps it quiet with
    POWERTOOLS_LOG_LEVEL=WARNING), formatted by Powertools as CloudWatch Logs receives it: the
    loggers made from now on (a use case's, imported with its first request) and those made."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    parent = logging.getLogger("imagine")  # the functions' Logger (bot/handlers.py)
    found = logging.root.manager.loggerDict.values()
    named = [each for each in found if isinstance(each, logging.Logger) and each.name.startswith("imagine")]
    levels = [(each, each.level) for each in named]
    for each in named:
        each.setLevel(logging.INFO)
    buffer = io.StringIO()
    tap = logging.StreamHandler(buffer)
    tap.setFormatter(parent.handlers[0].formatter)
    parent.addHandler(tap)
    yield buffer
    parent.removeHandler(tap)
    for each, level in levels:
        each.setLevel(level)


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"level"')]


def test_a_jobs_lines_in_both_functions_carry_its_id_and_the_http_ones_the_slack_request(
    env: Stack, logged: io.StringIO
) -> None:
    event = command_event("a paper crane --seed 5", trigger_id="13345224609.738474920.8088930838d88f008e0")
    assert call_http(event)["statusCode"] == 200
    http = lines(logged.getvalue())
    logged.truncate(0)
    logged.seek(0)
    env.settle()
    worker = lines(logged.getvalue())

    [queued] = [line for line in http if line["message"] == "job queued"]
    job_id = queued["job_id"]
    assert queued["slack_request"] == "13345224609.738474920.8088930838d88f008e0"
    assert queued["function_name"] == "imagine-http-test"
    done = [line for line in worker if line.get("job_id") == job_id]
    assert "job done" in {line["message"] for line in done}
    # (Which function wrote each worker line is not asserted: here the image links are served by
    # http_handler in a thread of this process, and Powertools keeps one Lambda context a process.)
    # Nothing of the prompt or the response_url in any line.
    assert not any(
        "a paper crane" in json.dumps(line) or "hooks.slack.com" in json.dumps(line) for line in http + worker
    )
