"""One trace per request, as the X-Ray daemon receives it: the worker runs in a process of its own
as Lambda runs it with active tracing (``_X_AMZN_TRACE_ID``, ``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_FUNCTION_NAME``), and the X-Ray SDK streams its subsegments over UDP to
``AWS_XRAY_DAEMON_ADDRESS``, here a listener on 127.0.0.1 (each datagram a JSON header line, then
the document: docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html, "Sending
segment documents to the X-Ray daemon")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.local.poller import to_event
from tests.conftest import ROOT, Stack, command_event
from tests.fakes.xray_daemon import XRayDaemon

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
HTTP = (  # http_handler on one API Gateway event, as tests/run_worker.py runs the worker
    "import json, sys; from bot.handlers import http_handler; "
    "from bot.local.lambda_context import HTTP_RESOURCE, LocalContext; "
    "print(json.dumps(http_handler(json.load(sys.stdin), LocalContext('imagine-http', HTTP_RESOURCE))))"
)


@pytest.fixture
def daemon() -> Iterator[XRayDaemon]:
    listening = XRayDaemon().start()
    yield listening
    listening.stop()


def documents(received: list[bytes]) -> list[dict[str, Any]]:
    found = []
    for datagram in received:
        header, _, body = datagram.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        found.append(json.loads(body))
    return found


@pytest.mark.spawns
def test_a_job_is_one_trace_from_the_acknowledgement_to_the_image_annotated_and_in_steps(
    env: Stack, daemon: XRayDaemon
) -> None:
    address, received = daemon.address, daemon.received
    response_url = env.slack.response_url()
    lambda_env = {
        "AWS_LAMBDA_FUNCTION_NAME": "imagine-worker",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_X_AMZN_TRACE_ID": TRACE,
        "AWS_XRAY_DAEMON_ADDRESS": address,
        "POWERTOOLS_TRACE_DISABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    # The acknowledgement, traced too, in a process of its own.
    command = json.dumps(command_event("a paper crane --seed 5", response_url=response_url))
    in_lambda = dict(os.environ) | lambda_env
    acknowledged = subprocess.run([sys.executable, "-c", HTTP], input=command, env=in_lambda,
                                  capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert json.loads(acknowledged.stdout.splitlines()[-1])["statusCode"] == 200, acknowledged.stderr
    services = env.services
    queue_url = services.settings.jobs_queue_url
    messages = services.sqs.receive_message(QueueUrl=queue_url, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    arn = services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    event = json.dumps(to_event(messages, arn, "us-east-1"))
    worker = [sys.executable, "-m", "tests.run_worker"]
    done = subprocess.run(
        worker,
        input=event,
        env=dict(os.environ) | lambda_env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"batchItemFailures": []}

    traced = documents(received)
    assert {d["trace_id"] for d in traced} == {"1-5759e988-bd862e3fe1be46a994272793"}  # one trace: Lambda's
    [handler] = [d for d in traced if d["name"] == "## worker_handler"]
    job_id = handler["annotations"]["job_id"]
    expected = {
        "job_id": job_id,
        "team_id": "T0LOCAL",
        "channel_id": "C0LOCAL",
        "ColdStart": True,
        "Service": "imagine",
    }
    assert handler["annotations"] == expected
    [http] = [d for d in traced if d["name"] == "## http_handler"]
    assert {k: http["annotations"][k] for k in ("job_id", "team_id", "channel_id")} == {
        "job_id": job_id, "team_id": "T0LOCAL", "channel_id": "C0LOCAL",
    }  # fmt: skip
    steps = {d["name"]: d.get("annotations", {}) for d in traced}
    assert {"## quota", "## queue send"} <= set(steps)  # the acknowledgement's steps
    assert steps["## model"] == {"backend": "placeholder", "operation": "draw", "model": "placeholder"}
    assert steps["## store"] == {"images": "1"}
    assert {"## slack"} <= set(steps) and {"dynamodb", "s3"} <= set(steps)  # AWS calls, by botocore's patch
    slack_methods = {d["annotations"]["method"] for d in traced if d["name"] == "## slack"}
    assert {"chat.postMessage", "chat.update"} <= slack_methods
    # No HTTP call is traced (X-Ray's httplib patch records each URL whole, and a response_url is a
    # secret): only AWS's, by botocore's patch, and the bot's own subsegments.
    assert [d["name"] for d in traced if d.get("namespace") == "remote"] == []
    everything = b"".join(received).decode()
    assert "a paper crane" not in everything  # no prompt
    assert (
        response_url.split("/")[-1] not in everything and "xoxb-" not in everything
    )  # no response_url, no token
