"""The image check and the prompts' translation: what they add to the worker's time per job (both
on against both off, the same prompt in Chinese, interleaved, each job carried through the jobs
lane as the worker carries it), and the bytes a 4x upscale sends to Rekognition, whose limit for
an image as bytes is 5 MB. The stand-ins of Rekognition and Translate answer on loopback
(bot/local/rekognition.py, bot/local/translate.py), so the figure is the worker's own work and
two more HTTPS-less round trips, not the services' latency.
"""

from __future__ import annotations

import io
import os
import statistics
import time
from dataclasses import replace
from typing import Any

PROMPT = "一只赛博朋克风格的老虎 --seed 3"
MB = 1024 * 1024


def overhead(jobs: int, percentile: Any) -> dict[str, float]:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    import bot.handlers  # noqa: F401 - the handlers' Logger, parent of the lanes' child loggers
    from bot.config.settings import Screening
    from bot.local.lambda_context import LocalContext
    from bot.local.poller import to_event
    from bot.local.rekognition import ModerationStandIn
    from bot.local.translate import TranslateStandIn
    from bot.model.job import Job
    from bot.model.prompt import parse
    from bot.services import Services, process_services
    from bot.worker.jobs_lane import handle_record

    keys = {
        os.environ["AWS_ACCESS_KEY_ID"]: os.environ["AWS_SECRET_ACCESS_KEY"]
    }  # the bench's own (bench/stack.py)
    check, translate = ModerationStandIn(keys=keys).start(), TranslateStandIn(keys=keys).start()
    os.environ["AWS_ENDPOINT_URL_REKOGNITION"], os.environ["AWS_ENDPOINT_URL_TRANSLATE"] = (
        check.url,
        translate.url,
    )
    try:
        base = process_services().settings
        kinds = {
            "on": Services(
                replace(base, screening=Screening(image_moderation="rekognition", translate_prompts="auto"))
            ),
            "off": Services(replace(base, screening=Screening())),
        }
        queue_url = base.jobs_queue_url
        any_services = kinds["off"]
        arn = any_services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        any_services.sqs.purge_queue(QueueUrl=queue_url)
        request = parse(PROMPT)
        samples: dict[str, list[float]] = {"on": [], "off": []}
        for n in range(jobs + 3):
            for kind in ("on", "off") if n % 2 == 0 else ("off", "on"):
                services = kinds[kind]
                job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request)
                services.queue.send(job)
                messages = services.sqs.receive_message(
                    QueueUrl=queue_url, MessageSystemAttributeNames=["All"]
                )["Messages"]
                [record] = to_event(messages, arn, "us-east-1")["Records"]
                started = time.perf_counter()
                handle_record(services, SQSRecord(record), LocalContext("bench"))
                wall = time.perf_counter() - started
                services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
                progress = services.store.load(job.job_id)
                if progress.status != "done":
                    raise RuntimeError(f"the job did not finish ({kind}): {progress.reason}")
                if n >= 3:
                    samples[kind].append((wall - progress.seconds) * 1000)
        if len(translate.calls("TranslateText")) < jobs or len(check.checked) < jobs:
            raise RuntimeError("the screened jobs did not call both stand-ins")
    finally:
        check.stop()
        translate.stop()
        for name in ("AWS_ENDPOINT_URL_REKOGNITION", "AWS_ENDPOINT_URL_TRANSLATE"):
            os.environ.pop(name, None)
    on, off = statistics.median(samples["on"]), statistics.median(samples["off"])
    return {
        "both_on_p50_ms": on,
        "both_on_p99_ms": percentile(samples["on"], 0.99),
        "both_off_p50_ms": off,
        "both_off_p99_ms": percentile(samples["off"], 0.99),
        "added_p50_ms": on - off,
        "p50_ratio": on / off,
    }


def upscale_bytes() -> dict[str, float]:
    """A 4x upscale of a 1024x1024 image as stored, and as sent to the check: the placeholder's
    (smooth, small) and a photograph's worst case (noise, which JPEG cannot shrink)."""
    from PIL import Image

    from bot.backends import JPEG_QUALITY
    from bot.backends.placeholder import draw
    from bot.model.prompt import ImageRequest
    from bot.screening.image_check import within_limit
    from tests.fakes.image_ops import noisy_jpeg

    smooth = Image.open(io.BytesIO(draw(ImageRequest("a cyborg tiger", width=1024, height=1024, seed=1), 0)))
    noise = Image.open(io.BytesIO(noisy_jpeg(1024)))
    figures: dict[str, float] = {}
    for name, image in (("placeholder", smooth), ("photograph_like", noise)):
        out = io.BytesIO()
        image.resize((4096, 4096)).save(out, format="JPEG", quality=JPEG_QUALITY)
        stored = out.getvalue()
        sent = within_limit(stored)
        figures[f"{name}_upscale_mb"] = len(stored) / MB
        figures[f"{name}_sent_mb"] = len(sent) / MB
    figures["limit_mb"] = 5.0
    return figures
