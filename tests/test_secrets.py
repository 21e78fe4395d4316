"""No secret (signing secret, bot token, link secret) appears in any log line, message, answer
or error, across a full run: a command, a render, a link, a refusal and a failure."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import urlsplit

import pytest

from bot import handlers
from tests.conftest import (
    BOT_TOKEN,
    LINK_SECRET,
    SIGNING_SECRET,
    Stack,
    call_http,
    call_worker,
    command_event,
)
from tests.conftest import http_event as make_event
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn

SECRETS = (SIGNING_SECRET, BOT_TOKEN, LINK_SECRET)


def test_a_full_run_never_shows_a_secret(
    env: Stack,
    sagemaker: SageMakerStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "2")
    handlers.reset()
    caplog.set_level(logging.DEBUG)
    # The structured JSON lines exactly as Lambda would ship them, with every appended key.
    structured = io.StringIO()
    powertools = logging.getLogger("imagine")
    json_lines = logging.StreamHandler(structured)
    json_lines.setFormatter(powertools.handlers[0].formatter)
    powertools.addHandler(json_lines)

    answers = [call_http(command_event("a cyborg tiger --seed 1"))]
    answers.append(call_worker(env.sqs_event()))
    [update] = env.slack.calls_to("chat.update")
    image = next(b for b in update.args["blocks"] if b["type"] == "image")
    answers.append(
        call_http(make_event("http", "GET", urlsplit(image["image_url"]).path.removeprefix("/prod")))
    )
    answers.append(call_http(command_event("too many --n 4")))  # refused by the quota
    answers.append(call_http(command_event("bad --ar 99:1")))  # usage
    answers.append(call_http(command_event("forged", secret="not-the-secret")))  # 401
    sagemaker.scripted.append(Answer(424, b'{"Message": "boom"}', "ModelError"))
    answers.append(call_http(command_event("a failing one")))
    answers.append(call_worker(env.sqs_event()))
    answers.append({"settings": repr(handlers.services().settings)})

    powertools.removeHandler(json_lines)
    out, err = capfd.readouterr()
    seen = {
        "structured logs": structured.getvalue(),
        "stdout": out,
        "stderr": err,
        "log records": "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records),
        "slack messages": json.dumps([c.args for c in env.slack.snapshot()]),
        "http answers": json.dumps(answers, default=str),
    }
    assert '"message":"job queued"' in structured.getvalue()  # the logs were captured
    assert "job failed for good" in caplog.text
    assert len(env.slack.snapshot()) >= 4
    for where, text in seen.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret appears in the {where}"
