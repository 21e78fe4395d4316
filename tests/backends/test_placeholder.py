"""The placeholder image's text: every glyph drawn is a real one, and the label fits the width."""

from __future__ import annotations

import io
import string

import pytest
from PIL import Image, ImageDraw, ImageFont

from bot.backends.placeholder import Caption, caption, draw
from bot.model.prompt import MAX_SEED, parse

# Two code points no font maps: whatever a font draws for them is its .notdef glyph (the box).
UNMAPPED = ("\U0010ffff", "\ue000")


def _notdef_masks(shown: Caption) -> set[tuple[tuple[int, int], bytes]]:
    masks = set()
    for ch in UNMAPPED:
        mask = shown.font.getmask(ch)
        masks.add((mask.size, bytes(mask)))
    return masks


NON_LATIN = [
    "\u4e00\u53ea\u8d5b\u535a\u670b\u514b\u8001\u864e",  # 一只赛博朋克老虎
    "\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f42f\U0001f308 a family of tigers",
    "\u4e00\u53ea\u8001\u864e tiger in a caf\u00e9 \u2764\ufe0f na\u00efve \uff21\uff22",
    "\u0627\u0644\u0646\u0645\u0631 \u0928\u092e\u0938\u094d\u0924\u0947",  # Arabic, Devanagari
    "\u0421\u043f\u0430\u0441\u0438\u0431\u043e \u03c4\u03af\u03b3\u03c1\u03b7\u03c2",  # Cyrillic, Greek
]


@pytest.mark.parametrize("text", NON_LATIN)
@pytest.mark.parametrize("aspect", ["1:1", "1:4"])
def test_no_character_is_drawn_as_an_empty_box(text: str, aspect: str) -> None:
    request = parse(f"{text} --ar {aspect}").with_seed(7)
    assert draw(request, 0).startswith(b"\xff\xd8\xff")  # the real render runs

    shown = caption(request, 0)
    notdef = _notdef_masks(shown)
    for line in shown.lines:
        for ch in line:
            mask = shown.font.getmask(ch)
            assert (mask.size, bytes(mask)) not in notdef, f"{ch!r} (U+{ord(ch):04X}) draws as a box"
    drawn = " ".join(shown.lines)
    if "tiger in a caf" in text:  # what the font can draw stays legible; accents fall back
        assert "tiger in a cafe naive AB" in drawn


@pytest.mark.parametrize("aspect", ["1:4", "9:16", "2:3", "1:1", "4:1"])
def test_the_seed_label_fits_the_image(aspect: str) -> None:
    request = parse(f"a tiger --ar {aspect} --n 4").with_seed(MAX_SEED)  # the longest label
    label = f"PLACEHOLDER · seed {MAX_SEED} · 4/4"
    shown = caption(request, 3)

    assert " ".join(shown.lines).startswith(label)
    for (x, _), line in shown.placed():
        assert x + shown.font.getlength(line) <= request.width, line
    # And in the pixels: the black band's right edge carries no text that ran off the image.
    image = Image.open(io.BytesIO(draw(request, 3))).convert("L")
    assert image.size == (request.width, request.height)
    edge = image.crop((request.width - 3, 0, request.width, shown.height)).tobytes()
    assert max(edge) < 64


# --- boxes in the pixels ------------------------------------------------------------------------
# A font draws a character it lacks as its .notdef glyph: in Pillow's default font (Aileron) a
# rectangle with square corners and a cross inside. The finder below looks for that shape in the
# drawn JPEG's caption band (white text on black), knowing nothing of how the caption was built.

Pixel = tuple[int, int]


def _band(jpeg: bytes) -> Image.Image:
    """The black caption band at the top of a placeholder: the rows whose left margin is black."""
    image = Image.open(io.BytesIO(jpeg)).convert("L")
    margin = image.crop((1, 0, 2, image.height)).tobytes()
    rows = next((y for y, level in enumerate(margin) if level >= 40), image.height)
    return image.crop((0, 0, image.width, rows))


def _shapes(band: Image.Image) -> list[set[Pixel]]:
    """The band's bright shapes (8-connected pixels of 128 or more): one per glyph, roughly."""
    width = band.width
    bright = {(i % width, i // width) for i, level in enumerate(band.tobytes()) if level >= 128}
    shapes = []
    while bright:
        todo = [bright.pop()]
        shape = set(todo)
        while todo:
            x, y = todo.pop()
            for near in [(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]:
                if near in bright:
                    bright.remove(near)
                    shape.add(near)
                    todo.append(near)
        shapes.append(shape)
    return shapes


def _is_box(shape: set[Pixel]) -> bool:
    """A rectangle outline: all four corners square (within a pixel), each side at least 90 %
    drawn along its whole length, and a middle that is not solid (an I or l stroke is)."""
    xs, ys = [x for x, _ in shape], [y for _, y in shape]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    width, height = right - left + 1, bottom - top + 1
    if width < 5 or height < 7 or width < 0.4 * height:
        return False

    def corner(x: int, y: int, dx: int, dy: int) -> bool:
        return any((x + i * dx, y + j * dy) in shape for i in (0, 1) for j in (0, 1))

    def drawn(edge: list[Pixel]) -> float:
        return sum(p in shape for p in edge) / len(edge)

    corners = (
        corner(left, top, 1, 1)
        and corner(right, top, -1, 1)
        and corner(left, bottom, 1, -1)
        and corner(right, bottom, -1, -1)
    )
    across, down = range(left, right + 1), range(top, bottom + 1)
    sides = [[(x, top) for x in across], [(x, bottom) for x in across]]
    sides += [[(left, y) for y in down], [(right, y) for y in down]]
    middle = [
        (x, y)
        for x in range(left + width // 4, right - width // 4 + 1)
        for y in range(top + height // 4, bottom - height // 4 + 1)
    ]
    return corners and min(map(drawn, sides)) >= 0.9 and drawn(middle) < 0.7


def _boxes(jpeg: bytes) -> int:
    return sum(_is_box(shape) for shape in _shapes(_band(jpeg)))


def _drawn_as_is(text: str, size: int) -> bytes:
    """``text`` drawn in the placeholder's font with nothing left out, white on a black band."""
    image = Image.new("RGB", (60 * size, 3 * size), (0, 0, 0))
    font = ImageFont.load_default(size=size)
    ImageDraw.Draw(image).text((size // 2, size // 2), text, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


ASCII = string.ascii_letters + string.digits + string.punctuation


@pytest.mark.parametrize("size", [10, 13, 18, 27, 31, 36])
def test_the_box_finder_sees_the_boxes_a_font_draws_and_no_others(size: int) -> None:
    for text in NON_LATIN:
        assert _boxes(_drawn_as_is(text, size)) > 0, text
    assert _boxes(_drawn_as_is(f"{ASCII} PLACEHOLDER \u00b7 seed {MAX_SEED} \u00b7 4/4", size)) == 0


@pytest.mark.parametrize("text", [*NON_LATIN, f"a tiger {ASCII}"])
@pytest.mark.parametrize(("aspect", "count"), [("1:1", 1), ("1:4", 4), ("4:1", 1), ("16:9", 2)])
def test_the_drawn_image_shows_no_empty_box(text: str, aspect: str, count: int) -> None:
    request = parse(f"{text} --ar {aspect} --n {count}").with_seed(MAX_SEED)
    for index in range(count):
        assert _boxes(draw(request, index)) == 0
