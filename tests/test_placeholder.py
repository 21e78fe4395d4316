"""The placeholder image's text: every glyph drawn is a real one, and the label fits the width."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.backends.placeholder import Caption, caption, draw
from bot.prompt import MAX_SEED, parse

# Two code points no font maps: whatever a font draws for them is its .notdef glyph (the box).
UNMAPPED = ("\U0010ffff", "\ue000")


def _notdef_masks(shown: Caption) -> set[tuple[tuple[int, int], bytes]]:
    masks = set()
    for ch in UNMAPPED:
        mask = shown.font.getmask(ch)
        masks.add((mask.size, bytes(mask)))
    return masks


@pytest.mark.parametrize(
    "text",
    [
        "\u4e00\u53ea\u8d5b\u535a\u670b\u514b\u8001\u864e",  # 一只赛博朋克老虎
        "\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f42f\U0001f308 a family of tigers",
        "\u4e00\u53ea\u8001\u864e tiger in a caf\u00e9 \u2764\ufe0f na\u00efve \uff21\uff22",
        "\u0627\u0644\u0646\u0645\u0631 \u0928\u092e\u0938\u094d\u0924\u0947",  # Arabic, Devanagari
        "\u0421\u043f\u0430\u0441\u0438\u0431\u043e \u03c4\u03af\u03b3\u03c1\u03b7\u03c2",  # Cyrillic, Greek
    ],
)
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
