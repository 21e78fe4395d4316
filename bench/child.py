"""What one fresh benchmark process does; prints one JSON line.

python -m bench.child cold imagine|baseline      first acknowledged command since BENCH_T0
python -m bench.child http-memory imagine|baseline   max RSS after serving commands (and links)
python -m bench.child worker-memory imagine|baseline max RSS after rendering --n 4 at 1024x256
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _event(text: str) -> dict[str, Any]:
    from bot.local.server import to_event
    from bot.local.signing import command_body, signed_headers

    body = command_body(text)
    return to_event(
        "POST", "/slack/events", signed_headers(os.environ["SLACK_SIGNING_SECRET"], body), body.encode()
    )


def _handler(kind: str) -> Any:
    if kind == "imagine":
        from bot.handlers import http_handler

        return http_handler
    from bench.baseline_app import handler

    return handler


def _context() -> Any:
    from bot.local.lambda_context import LocalContext

    return LocalContext("bench")


def cold(kind: str) -> dict[str, Any]:
    handler = _handler(kind)
    response = handler(_event("a cyborg tiger --ar 16:9"), _context())
    elapsed = time.time() - float(os.environ["BENCH_T0"])
    assert response["statusCode"] == 200, response
    return {"seconds": elapsed}


def _max_rss_mb() -> float:
    # VmHWM, not getrusage: ru_maxrss survives exec, so it would report the parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def http_memory(kind: str) -> dict[str, Any]:
    handler, context = _handler(kind), _context()
    for n in range(200):
        assert handler(_event(f"a cyborg tiger number {n} --ar 16:9"), context)["statusCode"] == 200
    if kind == "imagine":  # the same process also answers image links
        from bot.local.server import to_event
        from bot.services import process_services as services
        from bot.stores.images import image_link

        settings = services().settings
        key = f"images/T0LOCAL/2026/11/25/{'a' * 32}/0.jpg"
        services().images.put(key, b"\xff\xd8\xff" + b"0" * 50_000, {})
        path = image_link("", settings.link_secret, key)
        for _ in range(50):
            assert handler(to_event("GET", path, {}, b""), context)["statusCode"] == 302
    return {"max_rss_mb": _max_rss_mb()}


def worker_memory(kind: str) -> dict[str, Any]:
    from bot.model.prompt import parse

    request = parse("a cyborg tiger, very detailed --ar 4:1 --n 4 --seed 1")
    assert (request.width, request.height, request.count) == (1024, 256, 4)
    if kind == "imagine":
        from bot.local.poller import Poller
        from bot.model.job import Job
        from bot.services import process_services as services

        sqs, queue_url = services().sqs, os.environ["JOBS_QUEUE_URL"]
        while stale := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in stale:  # jobs the other benchmarks queued; not this process's to render
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        poller = Poller(sqs, queue_url)
        for _ in range(5):
            job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request)
            services().queue.send(job)
            for _ in range(20):  # until this job is rendered (anything older is handled too)
                poller.poll_once()
                if services().store.load(job.job_id).status == "done":
                    break
            else:
                raise RuntimeError("the worker did not render the job")
    else:  # the bare minimum: draw the same four images and put them in S3
        import boto3

        from bot.backends.placeholder import draw

        s3 = boto3.client("s3")
        for round_ in range(5):
            for n in range(4):
                s3.put_object(
                    Bucket=os.environ["IMAGES_BUCKET"], Key=f"b/{round_}/{n}.jpg", Body=draw(request, n)
                )
    return {"max_rss_mb": _max_rss_mb()}


def operation_memory(kind: str) -> dict[str, Any]:
    from bench.operations import memory_child

    memory_child(kind)
    return {"max_rss_mb": _max_rss_mb()}


if __name__ == "__main__":
    task, kind = sys.argv[1], sys.argv[2]
    tasks = {"cold": cold, "http-memory": http_memory, "worker-memory": worker_memory,
             "operation-memory": operation_memory}  # fmt: skip
    print(json.dumps(tasks[task](kind)))
