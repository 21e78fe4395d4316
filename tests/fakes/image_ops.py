"""The image handling the model stand-ins share (tests/fakes/bedrock_images.py,
tests/fakes/jumpstart_images.py): reading a base64 image a request carries, marking an answer so
a test can tell it from the input, and encoding an answer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import random
from typing import Any

from PIL import Image, ImageDraw, ImageStat

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def opened(value: object, formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")) -> Image.Image | None:
    """The image a base64 string holds (loaded, its ``format`` kept), when it is one of
    ``formats`` (PIL's names); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        image = Image.open(io.BytesIO(base64.b64decode(value, validate=True)))
        image.load()
    except (binascii.Error, ValueError, OSError):
        return None
    return image if image.format in formats else None


def sent_image(body: dict[str, Any], name: str) -> Image.Image:
    """The image a recorded request body sent in ``name``, decoded, for a test to look at."""
    image = opened(body.get(name), (*PIL_FORMATS.values(), "GIF", "BMP"))
    if image is None:
        raise ValueError(f"the request sent no readable image in {name!r}")
    return image


def tint(*words: object) -> tuple[int, int, int]:
    """A colour that follows from the words of a request (the same words, the same colour)."""
    digest = hashlib.sha256("\0".join(str(word) for word in words).encode()).digest()
    return digest[0], digest[1], digest[2]


def far(image: Image.Image) -> Image.Image:
    """``image`` with each channel of each pixel pushed to the far end (0 or 255) from where it is:
    at least 128 away everywhere, so it cannot be mistaken for ``image``."""
    return image.convert("RGB").point(lambda level: 0 if level >= 128 else 255)


def mark(image: Image.Image) -> Image.Image:
    """``image`` with a filled square in its lower right corner, a quarter of its shorter side, in
    the colour farthest from that corner's own (every channel at least 128 away from its mean)."""
    width, height = image.size
    side = max(2, min(width, height) // 4)
    box = (width - side, height - side, width, height)
    means = ImageStat.Stat(image.convert("RGB").crop(box)).mean
    colour = (0 if means[0] >= 128 else 255, 0 if means[1] >= 128 else 255, 0 if means[2] >= 128 else 255)
    ImageDraw.Draw(image).rectangle((box[0], box[1], width - 1, height - 1), fill=colour)
    return image


def encoded(image: Image.Image, output_format: str = "jpeg") -> str:
    """``image`` as base64 of a JPEG, PNG or WebP file."""
    out = io.BytesIO()
    rgb = image.convert("RGB")
    if output_format == "jpeg":
        rgb.save(out, format="JPEG", quality=90)
    else:
        rgb.save(out, format=PIL_FORMATS[output_format])
    return base64.b64encode(out.getvalue()).decode()


def noisy_jpeg(side: int, seed: int = 7) -> bytes:
    """A photograph's worth of detail at its worst for JPEG: noise, which it cannot shrink (a
    2048x2048 one is past Rekognition's 5 MB)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(side * side * 3)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=100)
    return out.getvalue()
