"""Amazon Rekognition's DetectModerationLabels, as a local stand-in (moto has no Rekognition).

The protocol is AWS JSON 1.1 (bot/local/aws_json.py): ``X-Amz-Target:
RekognitionService.DetectModerationLabels``, signed for ``rekognition``; boto3 reaches it through
``AWS_ENDPOINT_URL_REKOGNITION``. Input and output as the API reference gives them
(docs.aws.amazon.com/rekognition/latest/APIReference/API_DetectModerationLabels.html):
``{"Image": {"Bytes": <base64>}, "MinConfidence": 0-100}`` (default 50), answered with
``ModerationLabels`` (each detection as its chain of ``Name``, ``ParentName``, ``Confidence``,
``TaxonomyLevel``), ``ModerationModelVersion: "7.0"`` and ``ContentTypes``.

Refused as Rekognition refuses ("Guidelines and quotas", docs.aws.amazon.com/rekognition/latest/dg/
limits.html; the errors the reference lists for the call):
- image bytes over 5 MB (5,242,880, the service model's ImageBlob maximum): ``ImageTooLargeException``;
- bytes that are not a JPEG or PNG, or an image under 80 pixels a side:
  ``InvalidImageFormatException``, "Request has invalid image format";
- no image, an S3 object (not modelled here), a MinConfidence outside 0 to 100:
  ``InvalidParameterException``;
- ``fail("DetectModerationLabels", times=N, code="ThrottlingException", status=500)`` throttles
  (Rekognition's ThrottlingException is a server fault, HTTP 500, in its service model), and
  ``down(...)`` keeps refusing until ``up()``.

What it finds: ``decide(image_bytes)``, when a test sets it, returns the labels to report (use
:func:`chain`). Otherwise it reads the JPEG's comment, where the placeholder backend writes the
prompt (bot/backends/placeholder.py): a prompt with one of ``FLAGGED_WORDS`` is reported with
that word's labels, so on the local stack ``/imagine a zombie in the rain`` shows what a withheld
picture looks like. Every other image is clean.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.local.aws_json import Answer, JsonService, Refusal
from bot.model.moderation import MAX_IMAGE_BYTES

MIN_SIDE = 80
# A word in the prompt -> the chain it is reported with (the v7 taxonomy's names, most specific first).
FLAGGED_WORDS: dict[str, tuple[tuple[str, ...], float]] = {
    "zombie": (("Corpses", "Death and Emaciation", "Visually Disturbing"), 93.1),
    "gore": (("Blood & Gore", "Graphic Violence", "Violence"), 97.4),
}
_WORD = re.compile(r"[a-z]+")


def chain(names: tuple[str, ...], confidence: float) -> list[dict[str, Any]]:
    """A detection as Rekognition reports it: the label and each parent, most specific first,
    with the same confidence and their taxonomy levels."""
    levels = len(names)
    return [
        {"Confidence": confidence, "Name": name, "ParentName": names[n + 1] if n + 1 < levels else "",
         "TaxonomyLevel": levels - n}
        for n, name in enumerate(names)
    ]  # fmt: skip


def by_comment(image: bytes) -> list[dict[str, Any]]:
    """The labels for a picture whose JPEG comment (the placeholder's prompt) has a flagged word."""
    from PIL import Image

    comment = Image.open(io.BytesIO(image)).info.get("comment", b"")
    words = set(_WORD.findall(comment.decode("utf-8", "replace").lower()))
    return [
        label
        for word, (names, sure) in FLAGGED_WORDS.items()
        if word in words
        for label in chain(names, sure)
    ]


@dataclass
class ModerationStandIn(JsonService):
    service: str = "rekognition"
    target_prefix: str = "RekognitionService"
    decide: Callable[[bytes], list[dict[str, Any]]] | None = None
    checked: list[bytes] = field(default_factory=list)  # every image it was asked about, as sent

    def operations(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        return {"DetectModerationLabels": self.detect_moderation_labels}

    def detect_moderation_labels(self, request: dict[str, Any]) -> Answer:
        image = request.get("Image")
        if not isinstance(image, dict) or not isinstance(image.get("Bytes"), str):
            reason = "S3Object is not modelled by the stand-in" if isinstance(image, dict) else "Image"
            return Refusal("InvalidParameterException", f"Request has invalid parameters ({reason})").answer()
        try:
            data = base64.b64decode(image["Bytes"], validate=True)
        except binascii.Error:
            return Refusal("SerializationException", "Invalid base64 for Image.Bytes").answer()
        confidence = request.get("MinConfidence", 50)
        if not isinstance(confidence, int | float) or not 0 <= confidence <= 100:
            return Refusal("InvalidParameterException", "Request has invalid parameters").answer()
        if len(data) > MAX_IMAGE_BYTES:
            return Refusal("ImageTooLargeException", "Image size is too large.").answer()
        if not _readable(data):
            return Refusal("InvalidImageFormatException", "Request has invalid image format").answer()
        self.checked.append(data)
        labels = (self.decide or by_comment)(data)
        found = [label for label in labels if label["Confidence"] >= confidence]
        return 200, {"ModerationLabels": found, "ModerationModelVersion": "7.0", "ContentTypes": []}


def _readable(data: bytes) -> bool:
    """A JPEG or PNG of at least 80 pixels a side."""
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        return False
    from PIL import Image, UnidentifiedImageError

    try:
        width, height = Image.open(io.BytesIO(data)).size
    except (UnidentifiedImageError, OSError):
        return False
    return min(width, height) >= MIN_SIDE
