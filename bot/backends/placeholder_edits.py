"""The image operations without a GPU: deterministic and cheap, so the local stack, the demo and
the playground show every one. Upscale is a resize, Vary a perturbed copy (further for Strong),
Zoom Out the image in the middle of a frame twice its size, Change a copy labelled with the change."""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

from bot.backends.sources import Read, jpeg, padded, resized, source
from bot.model.operation import CHANGE, STRENGTH, UPSCALE, ZOOM_OUT
from bot.model.operation_models import PLACEHOLDER
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from PIL.Image import Image


class PlaceholderEditor:
    name = "placeholder"

    def __init__(self, read: Read) -> None:
        self.read = read

    def generate(self, request: ImageRequest) -> list[bytes]:
        chosen = source(self.read, request, PLACEHOLDER)
        operation = chosen.operation
        image = chosen.fitted()
        said = request.prompt  # in each JPEG's comment, as the placeholder's own drawings have it
        if operation.kind == UPSCALE:
            return [jpeg(resized(image, chosen.plan.result), said)] * request.count
        if operation.kind == ZOOM_OUT:
            canvas, _ = padded(image, chosen.plan.margins)
            return [jpeg(_framed(canvas, chosen.plan.margins), said)] * request.count
        if operation.kind == CHANGE:
            change = f"{operation.search} -> {operation.replacement}"
            return [jpeg(_labelled(image, change), f"{said} {change}")] * request.count
        strength = STRENGTH[operation.kind]
        return [jpeg(_varied(image, strength, f"{request.seed}\0{n}"), said) for n in range(request.count)]


def _varied(image: Image, strength: float, seed: str) -> Image:
    """``image`` moved towards its own negative and with shapes drawn on it, both by ``strength``:
    a variation stays nearer its image than any other, and a strong one strays further than a
    subtle one, whatever the seed (which only places the shapes)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageOps

    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    varied = PILImage.blend(image, ImageOps.invert(image), strength * 0.3)
    pen = ImageDraw.Draw(varied)
    for _ in range(int(12 * strength)):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        r = rng.randrange(4, max(5, min(image.size) // 6))
        pen.ellipse(
            (x - r, y - r, x + r, y + r), outline=tuple(rng.randrange(256) for _ in range(3)), width=3
        )
    return varied


def _framed(canvas: Image, margins: tuple[int, int, int, int]) -> Image:
    """The zoomed-out canvas with its new margins dimmed, so the added part shows."""
    from PIL import Image as PILImage

    left, up, right, down = margins
    shade = PILImage.new("L", canvas.size, 90)
    shade.paste(0, (left, up, canvas.width - right, canvas.height - down))
    return PILImage.composite(PILImage.new("RGB", canvas.size, (0, 0, 0)), canvas, shade)


def _labelled(image: Image, text: str) -> Image:
    """A copy of ``image`` with ``text`` on a band across its bottom."""
    from PIL import ImageDraw

    from bot.backends.placeholder import caption_font, drawable

    changed = image.copy()
    size = max(10, min(image.size) // 20)
    band = size * 2
    pen = ImageDraw.Draw(changed)
    pen.rectangle((0, image.height - band, image.width, image.height), fill=(0, 0, 0))
    pen.text((size // 2, image.height - band + size // 2), drawable(text, size), fill=(255, 255, 255),
             font=caption_font(size))  # fmt: skip
    return changed
