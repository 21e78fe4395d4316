"""Turn the text after ``/imagine`` into a validated :class:`ImageRequest` (pure, no I/O).

Syntax: ``<prompt> [--ar W:H] [--seed N] [--no TEXT] [--steps N] [--cfg X] [--n K]``.
An option's value runs to the next option, so ``--no blurry, text`` is one negative prompt.
Phones often turn ``--`` into an em or en dash; those are read as ``--`` too.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bot.model.operation import Operation
from bot.model.translation import Translation

NATIVE_SIDE = 512  # Stable Diffusion 2.1 base renders 512x512; other shapes keep about that area
MAX_SIDE = 1024
SIDE_STEP = 8  # the model wants both sides in multiples of 8
MAX_ASPECT = 4  # 4:1 at the native area is 1024x256, the widest shape MAX_SIDE allows
MAX_SEED = 2**32 - 1
MAX_IMAGES = 4
MIN_GUIDANCE, MAX_GUIDANCE = 1.0, 20.0
_DASHES = ("\u2014", "\u2013")  # em dash, en dash


@dataclass(frozen=True)
class PromptLimits:
    """The bounds that come from configuration rather than from the model."""

    default_steps: int = 30
    max_steps: int = 50
    default_guidance: float = 7.5
    max_prompt_chars: int = 1000


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = ""
    aspect: str = "1:1"
    width: int = NATIVE_SIDE
    height: int = NATIVE_SIDE
    seed: int | None = None
    steps: int = 30
    guidance: float = 7.5
    count: int = 1
    # Settings the backend that draws it does not take ("steps", "cfg"): not shown as if used.
    unused: tuple[str, ...] = ()
    # Work on a stored image (Upscale, Vary, Zoom Out, Change…) rather than a drawing from the prompt.
    operation: Operation | None = None
    # The texts in English for the model, once the worker has translated them (TRANSLATE_PROMPTS).
    translation: Translation | None = None

    def with_seed(self, seed: int) -> ImageRequest:
        return replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRequest:
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if "unused" in fields:  # a JSON list
            fields["unused"] = tuple(fields["unused"])
        if fields.get("operation") is not None:
            fields["operation"] = Operation.from_dict(fields["operation"])
        if fields.get("translation") is not None:
            fields["translation"] = Translation.from_dict(fields["translation"])
        return cls(**fields)

    def as_drawn(self) -> ImageRequest:
        """The request as the model gets it: in English when its texts were translated."""
        translation = self.translation
        if translation is None or not translation.translated:
            return self
        return replace(self, prompt=translation.english, negative_prompt=translation.english_negative)

    def drawn_from_prompt(self) -> ImageRequest:
        """The request as a drawing from its prompt: Variations and a mention's refinement of an
        operation's result start from the prompt again, at its shape's own size."""
        if self.operation is None:
            return self
        width, height = size_for_aspect(*_aspect(self.aspect))
        return replace(self, operation=None, width=width, height=height, unused=())


class UsageNeeded(ValueError):
    """The text is not a request. ``problem`` says why; ``None`` means help was asked for."""

    def __init__(self, problem: str | None) -> None:
        super().__init__(problem or "help")
        self.problem = problem


def _words(text: str) -> list[str]:
    """The cleaned words of a request; :class:`UsageNeeded` (help) when there are none or
    only a call for help."""
    words = _clean(text).split()
    if not words or (len(words) == 1 and words[0].lower() in ("help", "--help", "-h")):
        raise UsageNeeded(None)
    return words


def parse(text: str, limits: PromptLimits | None = None) -> ImageRequest:
    limits = limits or PromptLimits()
    prompt_words, options = _split_options(_words(text))
    prompt = " ".join(prompt_words)
    if not prompt:
        raise UsageNeeded("Start with what you want to see, then any options.")
    _check_length("The prompt", prompt, limits.max_prompt_chars)

    request = ImageRequest(prompt=prompt, steps=limits.default_steps, guidance=limits.default_guidance)
    for name, values in options:
        request = _apply(request, name, values, limits)
    return request


# Each option's own name, for the ones that have a second spelling.
_CANONICAL = {"aspect": "ar", "guidance": "cfg"}


def named_options(text: str) -> frozenset[str]:
    """The options ``text`` names, by their short names (``ar``, ``seed``, ``no``, ``steps``,
    ``cfg``, ``n``): what a person chose, as opposed to a default. Empty for help or no text."""
    try:
        _, options = _split_options(_words(text))
    except UsageNeeded:
        return frozenset()
    return frozenset(_CANONICAL.get(name, name) for name, _ in options)


def refine(base: ImageRequest, text: str, limits: PromptLimits | None = None) -> ImageRequest:
    """A follow-up to ``base`` in its thread: options change only what they name, text replaces
    the prompt, and text starting with ``+`` is added to it (``+ at sunset, oil painting``)."""
    limits = limits or PromptLimits()
    prompt_words, options = _split_options(_words(text))
    prompt = " ".join(prompt_words)
    if prompt.startswith("+"):
        addition = prompt[1:].strip()
        prompt = f"{base.prompt}, {addition}" if addition else base.prompt
    prompt = prompt or base.prompt
    _check_length("The prompt", prompt, limits.max_prompt_chars)
    request = replace(base, prompt=prompt)
    if any(name == "no" for name, _ in options):
        request = replace(request, negative_prompt="")  # a new --no says all that is left out
    for name, values in options:
        request = _apply(request, name, values, limits)
    return request


# A form's fields (the /imagine modal), each with the option that checks it and how it is named
# in a problem shown under the field.
FIELD_OPTIONS = {
    "aspect": ("ar", "The aspect ratio"),
    "count": ("n", "The number of images"),
    "steps": ("steps", "Steps"),
    "guidance": ("cfg", "Guidance"),
    "seed": ("seed", "The seed"),
}


class InvalidFields(ValueError):
    """Fields that do not make a request: field name -> what is wrong with it, for each one."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        self.problems = problems


def from_fields(fields: Mapping[str, str | None], limits: PromptLimits | None = None) -> ImageRequest:
    """A request from a form's fields (``prompt``, ``negative_prompt`` and :data:`FIELD_OPTIONS`),
    under the same checks as the options. An empty option field keeps its default (a random seed);
    the text fields are taken as written, options and all. Raises :class:`InvalidFields`."""
    limits = limits or PromptLimits()
    problems: dict[str, str] = {}

    def text(name: str) -> str:
        return " ".join(_clean(fields.get(name) or "", dashes=False).split())

    prompt, negative = text("prompt"), text("negative_prompt")
    for name, what, written in (("prompt", "The prompt", prompt), ("negative_prompt", "The text", negative)):
        try:
            _check_length(what, written, limits.max_prompt_chars)
        except UsageNeeded as needed:
            problems[name] = str(needed.problem)
    if not prompt:
        problems["prompt"] = "Say what you want to see."
    request = ImageRequest(
        prompt=prompt, negative_prompt=negative, steps=limits.default_steps, guidance=limits.default_guidance
    )
    for name, (option, label) in FIELD_OPTIONS.items():
        raw = (fields.get(name) or "").strip()
        if not raw:
            continue
        try:
            request = _apply(request, option, [raw], limits)
        except UsageNeeded as needed:
            problems[name] = str(needed.problem).replace(f"`--{option}`", label).replace("`", "")
    if problems:
        raise InvalidFields(problems)
    return request


def size_for_aspect(aspect_w: int, aspect_h: int) -> tuple[int, int]:
    """Width and height with about the native area, both multiples of 8, for W:H."""
    area = NATIVE_SIDE * NATIVE_SIDE
    width = math.sqrt(area * aspect_w / aspect_h)
    height = math.sqrt(area * aspect_h / aspect_w)
    return _round_side(width), _round_side(height)


def _round_side(side: float) -> int:
    return min(MAX_SIDE, max(SIDE_STEP, round(side / SIDE_STEP) * SIDE_STEP))


_INVISIBLE = ("Cc", "Cf", "Zl", "Zp")
# Joiners keep a sequence whole: ZWJ in emoji like 👩‍👩‍👧, ZWNJ in Persian and Indic words.
_JOINERS = ("\u200d", "\u200c")
# Emoji tag sequences (the flags of England, Scotland, Wales): U+1F3F4, tags, then CANCEL TAG.
_BLACK_FLAG, _TAGS, _CANCEL_TAG = "\U0001f3f4", range(0xE0020, 0xE007F), "\U000e007f"


def _clean(text: str, *, dashes: bool = True) -> str:
    # Control and format characters (newlines, bidi overrides, zero-width spaces) become spaces,
    # except the joiners and tags that hold an emoji or a word together; dashes become "--"
    # where options may follow (not in a form's fields, which hold no options).
    kept: list[str] = []
    i = 0
    while i < len(text):
        flag = _tag_sequence(text, i)
        if flag:
            kept.append(flag)
            i += len(flag)
            continue
        ch = text[i]
        invisible = unicodedata.category(ch) in _INVISIBLE and not _joins(text, i)
        kept.append(" " if invisible else ch)
        i += 1
    cleaned = "".join(kept)
    for dash in _DASHES if dashes else ():
        cleaned = cleaned.replace(dash, "--")
    return cleaned


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE


def _joins(text: str, i: int) -> bool:
    """A joiner between two visible characters holds a sequence together (Unicode TS #51);
    anywhere else it only hides something."""
    return text[i] in _JOINERS and 0 < i < len(text) - 1 and _visible(text[i - 1]) and _visible(text[i + 1])


def _tag_sequence(text: str, i: int) -> str:
    """The whole emoji tag sequence starting at ``i`` (Unicode TS #51), or "" when there is none."""
    if text[i] != _BLACK_FLAG:
        return ""
    end = i + 1
    while end < len(text) and ord(text[end]) in _TAGS:
        end += 1
    return text[i : end + 1] if end > i + 1 and text[end : end + 1] == _CANCEL_TAG else ""


def _is_option(word: str) -> bool:
    return len(word) > 2 and word.startswith("--") and word[2] != "-"


def _split_options(words: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    prompt: list[str] = []
    options: list[tuple[str, list[str]]] = []
    for word in words:
        if _is_option(word):
            options.append((word[2:].lower(), []))
        elif options:
            options[-1][1].append(word)
        else:
            prompt.append(word)
    return prompt, options


def _apply(request: ImageRequest, name: str, values: list[str], limits: PromptLimits) -> ImageRequest:
    if name in ("ar", "aspect"):
        w, h = _aspect(_single("ar", values, "16:9"))
        width, height = size_for_aspect(w, h)
        return replace(request, aspect=f"{w}:{h}", width=width, height=height)
    if name == "seed":
        return replace(request, seed=_integer("seed", _single("seed", values, "7"), 0, MAX_SEED))
    if name == "no":
        if not values:
            raise UsageNeeded("`--no` needs the things to leave out, like `--no text, blurry`.")
        negative = " ".join(values)
        if request.negative_prompt:
            negative = f"{request.negative_prompt}, {negative}"
        _check_length("The `--no` text", negative, limits.max_prompt_chars)
        return replace(request, negative_prompt=negative)
    if name == "steps":
        steps = _integer("steps", _single("steps", values, "30"), 1, limits.max_steps)
        return replace(request, steps=steps)
    if name in ("cfg", "guidance"):
        return replace(request, guidance=_guidance(_single("cfg", values, "7.5")))
    if name == "n":
        return replace(request, count=_integer("n", _single("n", values, "2"), 1, MAX_IMAGES))
    raise UsageNeeded(f"`--{_shown(name)}` is not an option I know.")


def _single(name: str, values: list[str], example: str) -> str:
    if len(values) != 1:
        raise UsageNeeded(f"`--{name}` takes one value, like `--{name} {example}`.")
    return values[0]


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or not low <= int(raw) <= high:
        raise UsageNeeded(f"`--{name}` must be a whole number from {low} to {high}.")
    return int(raw)


def _guidance(raw: str) -> float:
    try:
        value = float(raw) if raw.isascii() and len(raw) <= 12 else math.nan
    except ValueError:
        value = math.nan
    if not MIN_GUIDANCE <= value <= MAX_GUIDANCE:  # NaN fails this too
        raise UsageNeeded(f"`--cfg` must be a number from {MIN_GUIDANCE:g} to {MAX_GUIDANCE:g}.")
    return round(value, 2)


def _aspect(raw: str) -> tuple[int, int]:
    problem = f"`--ar` must look like `16:9`, between 1:{MAX_ASPECT} and {MAX_ASPECT}:1."
    parts = raw.split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and 0 < len(p) <= 4 for p in parts):
        raise UsageNeeded(problem)
    w, h = int(parts[0]), int(parts[1])
    if w == 0 or h == 0 or max(w, h) > MAX_ASPECT * min(w, h):
        raise UsageNeeded(problem)
    divisor = math.gcd(w, h)
    return w // divisor, h // divisor


def _check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise UsageNeeded(f"{what} is {len(text)} characters; the limit is {limit}.")


def _shown(name: str) -> str:
    return name[:20]
