"""The /imagine parser: examples, then properties over generated commands."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.model.prompt import (
    MAX_ASPECT,
    MAX_IMAGES,
    MAX_SEED,
    MAX_SIDE,
    NATIVE_SIDE,
    ImageRequest,
    InvalidFields,
    PromptLimits,
    UsageNeeded,
    from_fields,
    parse,
    size_for_aspect,
)

LIMITS = PromptLimits(default_steps=30, max_steps=50, default_guidance=7.5, max_prompt_chars=200)


def test_defaults() -> None:
    assert parse("a cyborg tiger", LIMITS) == ImageRequest(
        prompt="a cyborg tiger",
        aspect="1:1",
        width=512,
        height=512,
        seed=None,
        steps=30,
        guidance=7.5,
        count=1,
    )


def test_every_option() -> None:
    request = parse("a cyborg  tiger --ar 16:9 --seed 7 --no text, blurry --steps 40 --cfg 9.5 --n 3", LIMITS)
    assert request == ImageRequest(
        prompt="a cyborg tiger",
        negative_prompt="text, blurry",
        aspect="16:9",
        width=680,
        height=384,
        seed=7,
        steps=40,
        guidance=9.5,
        count=3,
    )


def test_phone_dashes_and_case_are_forgiven() -> None:
    request = parse("a tiger \u2014ar 2:3 \u2013SEED 5", LIMITS)
    assert (request.aspect, request.seed) == ("2:3", 5)


def test_aspect_is_reduced_and_repeated_no_accumulates() -> None:
    request = parse("a tiger --ar 32:18 --no dogs --no cats", LIMITS)
    assert request.aspect == "16:9"
    assert request.negative_prompt == "dogs, cats"


def test_newlines_and_control_characters_become_spaces() -> None:
    assert parse("a\ntiger\x00 in\tthe\u2028rain", LIMITS).prompt == "a tiger in the rain"


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        ("1:1", (512, 512)),
        ("16:9", (680, 384)),
        ("9:16", (384, 680)),
        ("4:1", (1024, 256)),
        ("2:3", (416, 624)),
    ],
)
def test_sizes(aspect: str, size: tuple[int, int]) -> None:
    request = parse(f"x --ar {aspect}", LIMITS)
    assert (request.width, request.height) == size


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a tiger --ar 5:1", "between 1:4 and 4:1"),
        ("a tiger --ar 16x9", "must look like"),
        ("a tiger --ar 0:3", "must look like"),
        ("a tiger --ar", "takes one value"),
        ("a tiger --ar 1:1 2:1", "takes one value"),
        ("a tiger --seed 4294967296", "0 to 4294967295"),
        ("a tiger --seed 1.5", "whole number"),
        ("a tiger --seed ٣", "whole number"),  # non-ASCII digits are not numbers here
        ("a tiger --n 0", "1 to 4"),
        ("a tiger --steps 51", "1 to 50"),
        ("a tiger --cfg 0.5", "1 to 20"),
        ("a tiger --cfg nan", "1 to 20"),
        ("a tiger --cfg inf", "1 to 20"),
        ("a tiger --no", "needs the things to leave out"),
        ("a tiger --hd", "`--hd` is not an option"),
        ("--seed 3", "Start with what you want to see"),
        ("x" * 201, "201 characters; the limit is 200"),
    ],
)
def test_problems_are_named(text: str, problem: str) -> None:
    with pytest.raises(UsageNeeded) as raised:
        parse(text, LIMITS)
    assert raised.value.problem is not None
    assert problem in raised.value.problem


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help", "\n"])
def test_help(text: str) -> None:
    with pytest.raises(UsageNeeded) as raised:
        parse(text, LIMITS)
    assert raised.value.problem is None


# Words as people type them: no spaces or control characters inside, not starting with a dash.
words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp"]),
    min_size=1,
    max_size=12,
).filter(lambda w: not w.startswith(("-", "\u2014", "\u2013")) and "\u2014" not in w and "\u2013" not in w)


@given(
    prompt=st.lists(words, min_size=1, max_size=8),
    aspect=st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(lambda a: max(a) <= MAX_ASPECT * min(a)),
    seed=st.integers(0, MAX_SEED),
    steps=st.integers(1, LIMITS.max_steps),
    count=st.integers(1, MAX_IMAGES),
    guidance=st.floats(1, 20, allow_nan=False).map(lambda g: round(g, 2)),
)
def test_valid_commands_round_trip(
    prompt: list[str], aspect: tuple[int, int], seed: int, steps: int, count: int, guidance: float
) -> None:
    text = " ".join(prompt)
    command = (
        f"{text} --ar {aspect[0]}:{aspect[1]} --seed {seed} --steps {steps} --n {count} --cfg {guidance}"
    )
    request = parse(command, LIMITS)  # at most 8 words of 12 characters: within the limit
    assert request.prompt == text
    assert (request.seed, request.steps, request.count, request.guidance) == (seed, steps, count, guidance)
    w, h = (int(n) for n in request.aspect.split(":"))
    assert w * aspect[1] == h * aspect[0]


@given(st.text(max_size=300))
def test_any_text_parses_or_asks_for_usage(text: str) -> None:
    try:
        request = parse(text, LIMITS)
    except UsageNeeded:
        return
    assert request.prompt and len(request.prompt) <= LIMITS.max_prompt_chars
    assert 1 <= request.count <= MAX_IMAGES and 1 <= request.steps <= LIMITS.max_steps


@given(st.integers(1, 4096), st.integers(1, 4096))
def test_sizes_keep_the_native_area_in_multiples_of_8(w: int, h: int) -> None:
    if max(w, h) > MAX_ASPECT * min(w, h):
        return
    width, height = size_for_aspect(w, h)
    assert width % 8 == 0 and height % 8 == 0
    assert max(width, height) <= MAX_SIDE
    assert abs(width * height - NATIVE_SIDE**2) / NATIVE_SIDE**2 < 0.05
    assert abs(width / height - w / h) / (w / h) < 0.05


SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "prompt",
    [
        "\U0001f469\u200d\U0001f469\u200d\U0001f467 family picnic",  # ZWJ sequence 👩‍👩‍👧
        "\U0001f9d1\U0001f3fd\u200d\U0001f680 astronaut",  # skin tone inside a ZWJ sequence 🧑🏽‍🚀
        "\u2764\ufe0f heart and \U0001f44b\U0001f3fd wave",  # variation selector, skin tone
        f"{SCOTLAND} flag",  # emoji tag sequence
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 tiger",  # Persian word held by a ZWNJ
        "\u4e00\u53ea\u8d5b\u535a\u670b\u514b\u8001\u864e",  # 一只赛博朋克老虎
    ],
)
def test_emoji_and_joined_words_stay_whole(prompt: str) -> None:
    assert parse(f"{prompt} --seed 3", LIMITS).prompt == prompt


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("a\u202etiger\u202c cat", "a tiger cat"),  # bidi override and pop
        ("a\u2066tiger\u2069", "a tiger"),  # bidi isolates
        ("a\u200btiger\ufeff\u2060cat\u061c", "a tiger cat"),  # zero-width space, BOM, word joiner, ALM
        ("\u200dtiger\u200d \u200d cat", "tiger cat"),  # joiners that join nothing
        ("a\u200d\u202etiger", "a tiger"),  # a joiner next to an override joins nothing
        ("secret\U000e0069\U000e0067\U000e006e tiger", "secret tiger"),  # tags outside a flag
        ("\U0001f3f4\U000e0067\U000e0062 tiger", "\U0001f3f4 tiger"),  # a flag never closed
    ],
)
def test_format_characters_that_hide_or_reorder_text_become_spaces(text: str, prompt: str) -> None:
    assert parse(text, LIMITS).prompt == prompt


@given(st.text(max_size=300))
def test_only_joiners_and_flag_tags_survive_among_format_characters(text: str) -> None:
    try:
        prompt = parse(text, LIMITS).prompt
    except UsageNeeded:
        return
    without_flags = prompt.replace(SCOTLAND, "")
    for i, ch in enumerate(without_flags):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and not 0xE0020 <= ord(ch) <= 0xE007F:
            assert ch in ("\u200d", "\u200c"), repr(prompt)
            assert without_flags[i - 1].strip() and without_flags[i + 1].strip(), repr(prompt)
    tags = [ch for ch in prompt if 0xE0020 <= ord(ch) <= 0xE007F]
    assert len(tags) == sum(len(m) - 1 for m in re.findall("\U0001f3f4[\U000e0020-\U000e007f]+", prompt))


# ---- a form's fields (the /imagine modal) -----------------------------------------------------


def test_fields_make_the_request_the_same_options_make() -> None:
    fields = {
        "prompt": "a lighthouse\nat dusk",
        "negative_prompt": "people, boats",
        "aspect": "16:9",
        "count": "2",
        "steps": "20",
        "guidance": "9.5",
        "seed": "42",
    }
    typed = "a lighthouse at dusk --ar 16:9 --n 2 --steps 20 --cfg 9.5 --seed 42 --no people, boats"
    assert from_fields(fields, LIMITS) == parse(typed, LIMITS)


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_empty_option_fields_keep_the_defaults(empty: str | None) -> None:
    fields = {name: empty for name in ("negative_prompt", "aspect", "count", "steps", "guidance", "seed")}
    assert from_fields({"prompt": "a fox", **fields}, LIMITS) == parse("a fox", LIMITS)


def test_text_fields_are_taken_as_written() -> None:
    """No options in a field: a dash stays a dash, and --ar is words of the prompt."""
    request = from_fields({"prompt": "sunset — oil painting --ar 16:9", "negative_prompt": "a – b"}, LIMITS)
    assert (request.prompt, request.aspect, request.negative_prompt) == (
        "sunset — oil painting --ar 16:9",
        "1:1",
        "a – b",
    )


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"steps": "51"}, {"steps": "Steps must be a whole number from 1 to 50."}),
        ({"steps": "2.5"}, {"steps": "Steps must be a whole number from 1 to 50."}),
        ({"guidance": "20.5"}, {"guidance": "Guidance must be a number from 1 to 20."}),
        ({"guidance": "NaN"}, {"guidance": "Guidance must be a number from 1 to 20."}),
        ({"seed": str(MAX_SEED + 1)}, {"seed": f"The seed must be a whole number from 0 to {MAX_SEED}."}),
        ({"count": "5"}, {"count": f"The number of images must be a whole number from 1 to {MAX_IMAGES}."}),
        ({"aspect": "9:1"}, {"aspect": "The aspect ratio must look like 16:9, between 1:4 and 4:1."}),
        ({"prompt": " \n "}, {"prompt": "Say what you want to see."}),
        ({"prompt": "x" * 201}, {"prompt": "The prompt is 201 characters; the limit is 200."}),
        (
            {"negative_prompt": "y" * 201},
            {"negative_prompt": "The text is 201 characters; the limit is 200."},
        ),
        (
            {"prompt": "", "steps": "0"},
            {"prompt": "Say what you want to see.", "steps": "Steps must be a whole number from 1 to 50."},
        ),
    ],
)
def test_each_bad_field_is_named_with_the_options_bound(
    fields: dict[str, str], problems: dict[str, str]
) -> None:
    with pytest.raises(InvalidFields) as raised:
        from_fields({"prompt": "a fox", **fields}, LIMITS)
    assert raised.value.problems == problems
