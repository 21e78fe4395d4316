"""Tracing on against off, the same run: the acknowledgement and the worker's time per job outside
the model. Powertools' Tracer is a no-op outside Lambda, so each side runs in a process of its
own started as Lambda starts one with active tracing (``AWS_LAMBDA_FUNCTION_NAME``,
``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``), the X-Ray SDK's emitter sending to
``AWS_XRAY_DAEMON_ADDRESS``: a UDP listener here, the way the X-Ray daemon receives the segments.
The two sides take turns, ``rounds`` processes each, and their samples are pooled.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def measure(rounds: int, each: int) -> dict[str, float]:
    from tests.fakes.xray_daemon import XRayDaemon

    daemon = XRayDaemon().start()
    traced = {"AWS_LAMBDA_FUNCTION_NAME": "imagine-bench", "LAMBDA_TASK_ROOT": os.getcwd(),
              "_X_AMZN_TRACE_ID": TRACE, "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
              "POWERTOOLS_TRACE_DISABLED": "false"}  # fmt: skip
    samples: dict[str, dict[str, list[float]]] = {
        "on": {"ack": [], "worker": []},
        "off": {"ack": [], "worker": []},
    }
    try:
        for n in range(rounds):
            for side in ("on", "off") if n % 2 == 0 else ("off", "on"):
                env = dict(os.environ) | (traced if side == "on" else {"POWERTOOLS_TRACE_DISABLED": "true"})
                done = subprocess.run([sys.executable, "-m", "bench.tracing", str(each)], env=env,
                                      capture_output=True, text=True, check=False)  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(f"the {side} side failed:\n{done.stderr[-2000:]}")
                child = json.loads(done.stdout.strip().splitlines()[-1])
                for part in ("ack", "worker"):
                    samples[side][part] += child[part]
    finally:
        daemon.stop()
    figures: dict[str, float] = {}
    for part in ("ack", "worker"):
        on, off = statistics.median(samples["on"][part]), statistics.median(samples["off"][part])
        figures |= {f"{part}_on_p50_ms": on, f"{part}_off_p50_ms": off, f"{part}_p50_ratio": on / off}
    figures["segments_received"] = float(len(daemon.received))
    return figures


def child(each: int) -> dict[str, Any]:
    """``each`` acknowledgements and ``each`` jobs, in this process: their times in ms."""
    import time

    from bench.child import _event
    from bot.handlers import http_handler, worker_handler
    from bot.local.lambda_context import LocalContext
    from bot.local.poller import to_event
    from bot.services import process_services

    services = process_services()
    queue_url = services.settings.jobs_queue_url
    arn = services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    acks, work = [], []
    for n in range(each + 3):
        started = time.perf_counter()
        response = http_handler(_event(f"a cyborg tiger number {n} --seed {n}"), LocalContext("bench-http"))
        ack = time.perf_counter() - started
        assert response["statusCode"] == 200, response
        messages = services.sqs.receive_message(QueueUrl=queue_url, MessageSystemAttributeNames=["All"])[
            "Messages"
        ]
        started = time.perf_counter()
        assert worker_handler(to_event(messages, arn, "us-east-1"), LocalContext("bench")) == {
            "batchItemFailures": []
        }
        wall = time.perf_counter() - started
        services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        job_id = json.loads(messages[0]["Body"])["job_id"]
        if n >= 3:  # warm
            acks.append(ack * 1000)
            work.append((wall - services.store.load(job_id).seconds) * 1000)
    return {"ack": acks, "worker": work}


if __name__ == "__main__":
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the metrics' EMF lines
        result = child(int(sys.argv[1]))
    print(json.dumps(result))
