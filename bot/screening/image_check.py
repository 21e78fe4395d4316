"""Each image checked with Amazon Rekognition's DetectModerationLabels before it is stored or shown.

The image goes as bytes, which Rekognition takes as JPEG or PNG up to 5 MB ("Guidelines and
quotas", docs.aws.amazon.com/rekognition/latest/dg/limits.html): a larger one (a 4x upscale of a
photograph) is checked on a copy scaled down to fit, which keeps what the check looks for.
Throttling (``ThrottlingException``, ``ProvisionedThroughputExceededException``, and
``InternalServerError``, which the API reference lists for the call) is asked again after the
pauses MODERATION_RETRY_SECONDS names; past them, or for any other refusal, the check fails
closed: :class:`ImageCheckUnavailable`, which no later delivery retries (the job is dead-lettered
with the reason, to be redriven once Rekognition is back).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot.model.moderation import MAX_IMAGE_BYTES, Label, blocked

if TYPE_CHECKING:
    from bot.config.settings import Screening

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")
THROTTLED = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"}
)


class ImageCheckUnavailable(Exception):
    """Rekognition could not check an image: it is not shown, and the job fails for good."""

    retryable = False

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.reason = f"the image check could not be done ({why}), so the picture was not shown"


class ImageCheck:
    def __init__(
        self, client: Any, screening: Screening, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.screening = screening
        self.sleep = sleep

    def flagged(self, jpeg: bytes) -> list[Label]:
        """The blocked labels Rekognition finds in the image; none when it may be shown."""
        from botocore.exceptions import BotoCoreError, ClientError

        image = within_limit(jpeg)
        for pause in (*self.screening.retry_seconds, None):
            try:
                answer = self.client.detect_moderation_labels(
                    Image={"Bytes": image}, MinConfidence=self.screening.min_confidence
                )
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code not in THROTTLED or pause is None:
                    metrics.add_metric(name="ImageChecksFailed", unit=MetricUnit.Count, value=1)
                    raise ImageCheckUnavailable(f"Amazon Rekognition: {code or 'error'}") from error
                logger.warning("the image check is throttled; asking again", error=code, retry_in=pause)
            except BotoCoreError as error:
                if pause is None:
                    metrics.add_metric(name="ImageChecksFailed", unit=MetricUnit.Count, value=1)
                    raise ImageCheckUnavailable("Amazon Rekognition could not be reached") from error
                logger.warning("the image check could not be reached; asking again", retry_in=pause)
            else:
                return blocked(answer, self.screening.blocked_labels, self.screening.min_confidence)
            self.sleep(pause)
        raise AssertionError("unreachable")  # the last pass returns or raises


def within_limit(jpeg: bytes, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """The JPEG as it is, or scaled down (and re-encoded) until it fits Rekognition's limit."""
    if len(jpeg) <= limit:
        return jpeg
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    scale = math.sqrt(limit / len(jpeg))
    while True:
        scale *= 0.9
        smaller = image.resize((max(80, int(image.width * scale)), max(80, int(image.height * scale))))
        out = io.BytesIO()
        smaller.save(out, format="JPEG", quality=90)
        if out.tell() <= limit:
            return out.getvalue()
