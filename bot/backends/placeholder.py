"""A stand-in for the GPU: a deterministic JPEG drawn from the prompt and seed.

Same request, same bytes. Each image is plainly labelled PLACEHOLDER so nobody mistakes it for
a render. An optional delay imitates the endpoint's latency for benchmarks.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont, ImageFont

    Font = FreeTypeFont | ImageFont

MIN_TEXT_SIZE = 10  # px: below this the label stops being readable
PROMPT_LINES = 4
NOT_A_CHARACTER = "\uffff"  # a noncharacter: no font maps it, so it always draws as .notdef


class PlaceholderBackend:
    name = "placeholder"

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds

    def generate(self, request: ImageRequest) -> list[bytes]:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return [draw(request, index) for index in range(request.count)]


def draw(request: ImageRequest, index: int) -> bytes:
    from PIL import Image, ImageDraw

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

    text = caption(request, index)
    pen.rectangle((0, 0, width, text.height), fill=(0, 0, 0))
    for xy, line in text.placed():
        pen.text(xy, line, fill=(255, 255, 255), font=text.font)

    out = io.BytesIO()
    # The prompt in the JPEG's comment: the local image check decides by it (bot/local/rekognition.py).
    image.save(out, format="JPEG", quality=85, comment=request.prompt.encode()[:65000])
    return out.getvalue()


@dataclass(frozen=True)
class Caption:
    """The text on a placeholder: the label, then up to four lines of the prompt, in one font."""

    font: Font
    lines: list[str]
    size: int

    @property
    def margin(self) -> int:
        return self.size // 2

    @property
    def height(self) -> int:
        return (len(self.lines) + 1) * (self.size + 4)

    def placed(self) -> list[tuple[tuple[int, int], str]]:
        step = self.size + 4
        return [((self.margin, self.margin + row * step), line) for row, line in enumerate(self.lines)]


def caption(request: ImageRequest, index: int) -> Caption:
    """Fit the label and the prompt to the image's width, in characters the font can draw."""
    width = request.width
    label = f"PLACEHOLDER · seed {request.seed}" + (
        f" · {index + 1}/{request.count}" if request.count > 1 else ""
    )
    size = max(MIN_TEXT_SIZE, min(width, request.height) // 14)
    font = caption_font(size)
    while size > MIN_TEXT_SIZE and font.getlength(label) > width - size:  # narrow images: smaller text
        size -= 1
        font = caption_font(size)
    room = width - size  # a margin of size // 2 each side
    lines = _wrap(label, font, room, 2) + _wrap(drawable(request.prompt, size), font, room, PROMPT_LINES)
    return Caption(font, lines, size)


def drawable(text: str, size: int) -> str:
    """``text`` in glyphs the font has: letters it lacks as such fall back to their base letter
    (é as e); anything else (CJK, emoji, joiners) is left out rather than drawn as an empty box."""
    shown = []
    for ch in text:
        if _has_glyph(size, ch):
            shown.append(ch)
        else:
            shown.extend(c for c in unicodedata.normalize("NFKD", ch) if c != ch and _has_glyph(size, c))
    return " ".join("".join(shown).split())


def _wrap(text: str, font: Font, room: float, max_lines: int) -> list[str]:
    """Greedy word wrap by drawn width; a word wider than the room is broken where it must be."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= room:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.getlength(word) > room and len(lines) < max_lines:
            cut = _longest_fit(word, font, room)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
        if len(lines) >= max_lines:
            break
    if line:
        lines.append(line)
    return lines[:max_lines]


def _longest_fit(word: str, font: Font, room: float) -> int:
    """How many leading characters of ``word`` fit in ``room`` (at least one), by bisection."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(word[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return low


@functools.cache
def caption_font(size: int) -> Font:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def _has_glyph(size: int, ch: str) -> bool:
    """Whether the font draws ``ch`` as itself, not as its .notdef glyph (the empty box)."""
    font = caption_font(size)
    return ch.isspace() or _mask(font, ch) != _mask(font, NOT_A_CHARACTER)


def _mask(font: Font, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(40, 256), rng.randrange(40, 256), rng.randrange(40, 256)
