"""The image operations: what one costs outside the model, and the worker's peak memory for the
largest (a 4x upscale of a 1024x1024 image into 4096x4096).

The model is the Bedrock stand-in (tests/fakes/bedrock_runtime.py) on loopback, in this process
for the overhead (each answer's time inside it is measured there and subtracted) and in this
process too for the memory, whose figure is read in a child process that runs only the worker.
The source is a 1024x1024 JPEG in the images bucket, as a Bedrock-drawn result would be.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.bedrock_http import Answer
from tests.fakes.bedrock_runtime import BedrockStandIn

UPSCALE_MODEL = "us.stability.stable-fast-upscale-v1:0"
VARY_MODEL = "stability.sd3-5-large-v1:0"
SOURCE_SIDE = 1024
PROMPT = "a cyborg tiger in neon rain"


class TimedBedrock(BedrockStandIn):
    """The Bedrock stand-in, keeping how long each answer took it to make: the model's share."""

    def __init__(self) -> None:
        # It signs the bench's own credentials back (moto's, from bench/stack.py).
        super().__init__(keys={os.environ["AWS_ACCESS_KEY_ID"]: os.environ["AWS_SECRET_ACCESS_KEY"]})
        self.model_seconds = 0.0
        self._lock = threading.Lock()

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        started = time.perf_counter()
        answered = super().answer(method, target, headers, raw)
        with self._lock:
            self.model_seconds += time.perf_counter() - started
        return answered


@contextmanager
def bedrock() -> Iterator[TimedBedrock]:
    """The stand-in, with the operations' settings pointing at it (Upscale and Vary on Bedrock)."""
    from bot.services import reset_process_services

    stand_in = TimedBedrock()
    stand_in.start()
    settings = {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": stand_in.url,
        "BEDROCK_REGION": stand_in.region,
        "UPSCALE_MODEL": f"bedrock:{UPSCALE_MODEL}",
        "VARY_MODEL": f"bedrock:{VARY_MODEL}",
    }
    os.environ.update(settings)
    reset_process_services()
    try:
        yield stand_in
    finally:
        stand_in.stop()
        for name in settings:
            os.environ.pop(name, None)
        reset_process_services()


def source_result() -> tuple[Any, list[str]]:
    """A finished 1024x1024 result with its image stored, as an operation finds it."""
    from bot.backends.placeholder import draw
    from bot.model.job import Job
    from bot.model.prompt import ImageRequest
    from bot.services import process_services
    from bot.stores.images import image_key

    request = ImageRequest(PROMPT, width=SOURCE_SIDE, height=SOURCE_SIDE, seed=7, steps=30)
    job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request)
    key = image_key(job.team_id, job.job_id, job.created, 0)
    process_services().images.put(key, draw(request, 0), {})
    return job, [key]


def operation_job(parent: Any, keys: list[str], kind: str) -> Any:
    """The job a click on ``kind`` under the source's image queues."""
    from bot.model.job import Job
    from bot.model.operation_models import operation_request
    from bot.services import process_services

    choice = process_services().settings.operation_models[kind]
    request = operation_request(parent.request, keys, 0, kind, choice)
    return Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request,
                   parent_job_id=parent.job_id)  # fmt: skip


def overhead(rounds: int, percentile: Any) -> dict[str, float]:
    """Each operation run by worker_handler from its SQS event, less the model's time, against
    the bare I/O an operation must do (read the source, store the result, post and update the
    message), interleaved."""
    import boto3
    from slack_sdk import WebClient

    from bot.handlers import worker_handler
    from bot.local.lambda_context import LocalContext
    from bot.local.poller import to_event
    from bot.services import process_services

    figures: dict[str, float] = {}
    with bedrock() as model:
        services = process_services()
        queue_url = services.settings.jobs_queue_url
        arn = services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        services.sqs.purge_queue(QueueUrl=queue_url)
        slack = WebClient(token="xoxb-bench", base_url=services.settings.slack_api_url)
        s3, bucket = boto3.client("s3"), services.settings.images_bucket
        parent, keys = source_result()
        samples: dict[str, list[float]] = {"upscale": [], "vary_subtle": [], "baseline": []}
        result_bytes = {"upscale": b"", "vary_subtle": b""}
        for n in range(rounds + 2):
            for kind in ("upscale", "vary_subtle") if n % 2 == 0 else ("vary_subtle", "upscale"):
                job = operation_job(parent, keys, kind)
                services.queue.send(job)
                messages = services.sqs.receive_message(
                    QueueUrl=queue_url, MessageSystemAttributeNames=["All"]
                )["Messages"]
                model.model_seconds = 0.0
                started = time.perf_counter()
                assert worker_handler(to_event(messages, arn, "us-east-1"), LocalContext("bench")) == {
                    "batchItemFailures": []
                }
                wall = time.perf_counter() - started
                services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
                progress = services.store.load(job.job_id)
                if progress.status != "done":
                    raise RuntimeError(f"the {kind} did not finish: {progress.reason}")
                [stored] = progress.keys
                result_bytes[kind] = s3.get_object(Bucket=bucket, Key=stored)["Body"].read()
                if n >= 2:  # the first rounds warm up
                    samples[kind].append((wall - model.model_seconds) * 1000)
            # The baseline: the same bytes read and written with a bare client, and the message.
            started = time.perf_counter()
            s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
            posted = slack.chat_postMessage(channel="C0LOCAL", text="painting")
            s3.put_object(Bucket=bucket, Key=f"baseline/{n}.jpg", Body=result_bytes["upscale"] or b"0")
            slack.chat_update(channel="C0LOCAL", ts=posted["ts"], text="done")
            if n >= 2:
                samples["baseline"].append((time.perf_counter() - started) * 1000)
    baseline = statistics.median(samples["baseline"])
    for kind in ("upscale", "vary_subtle"):
        p50 = statistics.median(samples[kind])
        figures[f"{kind}_p50_ms"] = p50
        figures[f"{kind}_p99_ms"] = percentile(samples[kind], 0.99)
        figures[f"{kind}_ratio"] = p50 / baseline
    figures["baseline_bare_io_p50_ms"] = baseline
    figures["upscale_result_mb"] = len(result_bytes["upscale"]) / 1e6
    return figures


def memory_child(kind: str) -> None:
    """In a child process: three 4x upscales of the 1024x1024 source by the worker, on Bedrock
    (``imagine``) or on the placeholder, which resizes it in the worker's own memory
    (``imagine-placeholder``), or the bare minimum of the same (``baseline``): read the source,
    send it, keep the answer."""
    if kind == "imagine-placeholder":
        os.environ["UPSCALE_MODEL"] = "placeholder"
    if kind.startswith("imagine"):
        from bot.local.poller import Poller
        from bot.services import process_services

        services = process_services()
        poller = Poller(services.sqs, services.settings.jobs_queue_url)
        parent, keys = source_result()
        for _ in range(3):
            job = operation_job(parent, keys, "upscale")
            services.queue.send(job)
            for _ in range(20):
                poller.poll_once()
                if services.store.load(job.job_id).status == "done":
                    break
            else:
                raise RuntimeError("the worker did not finish the upscale")
        return
    import base64
    import json

    import boto3

    from bot.backends.placeholder import draw
    from bot.model.prompt import ImageRequest

    s3, bucket = boto3.client("s3"), os.environ["IMAGES_BUCKET"]
    source = draw(ImageRequest(PROMPT, width=SOURCE_SIDE, height=SOURCE_SIDE, seed=7), 0)
    s3.put_object(Bucket=bucket, Key="baseline/source.jpg", Body=source)
    runtime = boto3.client("bedrock-runtime", region_name=os.environ["BEDROCK_REGION"])
    for n in range(3):
        image = s3.get_object(Bucket=bucket, Key="baseline/source.jpg")["Body"].read()
        body = json.dumps({"image": base64.b64encode(image).decode(), "output_format": "jpeg"})
        answer = json.loads(runtime.invoke_model(modelId=UPSCALE_MODEL, body=body)["body"].read())
        s3.put_object(Bucket=bucket, Key=f"baseline/{n}.jpg", Body=base64.b64decode(answer["images"][0]))
