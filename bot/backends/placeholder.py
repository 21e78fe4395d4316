"""A stand-in for the GPU: a deterministic JPEG drawn from the prompt and seed.

Same request, same bytes. Each image is plainly labelled PLACEHOLDER so nobody mistakes it for
a render. An optional delay imitates the endpoint's latency for benchmarks.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
import time

from bot.prompt import ImageRequest


class PlaceholderBackend:
    name = "placeholder"

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds

    def generate(self, request: ImageRequest) -> list[bytes]:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return [draw(request, index) for index in range(request.count)]


def draw(request: ImageRequest, index: int) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    seed_material = f"{request.prompt}\0{request.negative_prompt}\0{request.seed}\0{index}".encode()
    rng = random.Random(hashlib.sha256(seed_material).digest())
    width, height = request.width, request.height

    top, bottom = _colour(rng), _colour(rng)
    image = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), image
    )
    pen = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = (
            rng.randrange(width),
            rng.randrange(height),
            rng.randrange(8, max(9, min(width, height) // 4)),
        )
        pen.ellipse((x - r, y - r, x + r, y + r), outline=_colour(rng), width=3)

    size = max(10, min(width, height) // 14)
    font = ImageFont.load_default(size=size)
    label = f"PLACEHOLDER · seed {request.seed}" + (
        f" · {index + 1}/{request.count}" if request.count > 1 else ""
    )
    lines = [label, *textwrap.wrap(request.prompt, width=max(10, width // (size // 2 + 1)))[:4]]
    pen.rectangle((0, 0, width, (len(lines) + 1) * (size + 4)), fill=(0, 0, 0))
    for row, line in enumerate(lines):
        pen.text((size // 2, size // 2 + row * (size + 4)), line, fill=(255, 255, 255), font=font)

    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(40, 256), rng.randrange(40, 256), rng.randrange(40, 256)
