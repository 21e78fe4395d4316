"""The image an operation starts from: read from S3 by the key its job names, fitted to what the
model takes (bot/model/operation_models.py) and encoded for the call. Shared by every backend's
operations, so the same image is sent whichever model does the work."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.backends import JPEG_QUALITY, BackendError
from bot.model.operation import Operation
from bot.model.operation_models import OperationModel, Plan, plan
from bot.model.prompt import ImageRequest, UsageNeeded

if TYPE_CHECKING:
    from PIL.Image import Image

Read = Callable[[str], "bytes | None"]  # an image's bytes by its S3 key; None when it is gone
GONE = "the image it starts from is gone (deleted, or past its retention)"


@dataclass(frozen=True)
class Source:
    """The chosen image, as the model will be sent it."""

    operation: Operation
    image: Image  # at its stored size
    model: OperationModel
    plan: Plan
    stored: bytes  # the JPEG as stored: sent as it is when the model takes it at its size

    def fitted(self) -> Image:
        """The image at the size the model takes it: the whole call, or the middle of the padded
        canvas for a model that paints around it (:func:`padded`)."""
        width, height = self.plan.sent
        if self.model.padded:
            left, up, right, down = self.plan.margins
            width, height = width - left - right, height - up - down
        return resized(self.image, (width, height))

    def fitted_jpeg(self) -> bytes:
        """:meth:`fitted` as a JPEG: the stored one itself when no resize was needed."""
        image = self.fitted()
        return self.stored if image is self.image else jpeg(image)


def source(read: Read, request: ImageRequest, model: OperationModel) -> Source:
    """The image ``request``'s operation starts from, planned for ``model``; a
    :class:`BackendError` (not retryable) when it is gone or ``model`` cannot take it."""
    operation = request.operation
    if operation is None:
        raise BackendError("this job is not an image operation", retryable=False)
    stored = read(operation.source_key)
    if stored is None:
        raise BackendError(GONE, retryable=False)
    image = decoded(stored)
    try:
        planned = plan(model, operation.kind, *image.size)
    except UsageNeeded as needed:
        raise BackendError(str(needed.problem), retryable=False) from None
    return Source(operation, image, model, planned, stored)


def decoded(data: bytes) -> Image:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise BackendError("the stored image could not be read", retryable=False) from None


def resized(image: Image, size: tuple[int, int]) -> Image:
    from PIL import Image as PILImage

    return image if image.size == size else image.resize(size, PILImage.Resampling.LANCZOS)


def jpeg(image: Image, comment: str = "") -> bytes:
    """``image`` as a JPEG; ``comment`` goes into its COM segment (the placeholder's prompt,
    which the local image check reads: bot/local/rekognition.py)."""
    out = io.BytesIO()
    extra = {"comment": comment.encode()[:65000]} if comment else {}
    image.save(out, format="JPEG", quality=JPEG_QUALITY, **extra)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def padded(image: Image, margins: tuple[int, int, int, int]) -> tuple[Image, Image]:
    """``image`` in the middle of a canvas grown by ``margins`` (left, up, right, down), and the
    inpainting mask for it: white where the model paints, black where the image is kept."""
    from PIL import Image as PILImage

    left, up, right, down = margins
    width, height = image.width + left + right, image.height + up + down
    # The margins start from the image's own edges stretched out, a closer start than grey.
    canvas = image.resize((width, height), PILImage.Resampling.BILINEAR)
    canvas.paste(image, (left, up))
    mask = PILImage.new("L", (width, height), 255)
    mask.paste(0, (left, up, left + image.width, up + image.height))
    return canvas, mask
