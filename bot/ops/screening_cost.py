"""What the image check and the prompts' translation add to any backend's cost (pure), from the
bundled table's ``screening`` prices (prices.json, which names their sources)."""

from __future__ import annotations

import textwrap
from typing import Any

PROMPT_CHARACTERS = 100  # a prompt's length for the per-prompt figure: the bot's prompts run shorter


def screening_lines(table: dict[str, Any], images_per_month: float) -> list[str]:
    prices = table["screening"]
    check, translate = prices["rekognition"], prices["translate"]
    per_million, per_prompt = (
        translate["per_character"] * 1_000_000,
        translate["per_character"] * PROMPT_CHARACTERS,
    )
    said = [
        f"image check, Rekognition DetectModerationLabels: ${check['per_image']:g} per image checked, "
        f"${check['per_image'] * images_per_month:,.2f} a month at this volume",
        f"translation, Amazon Translate: ${per_million:g} per million characters, for prompts not in "
        f"English only: ${per_prompt:.4f} per {PROMPT_CHARACTERS}-character prompt (detecting the "
        "language may add Amazon Comprehend's price)",
        f"from the bundled table ({check['source']}, {translate['source']}, read {prices['read']})",
    ]
    wrapped = [
        line
        for text in said
        for line in textwrap.wrap(text, 96, initial_indent="  ", subsequent_indent="    ")
    ]
    return ["", "on top of any backend, both on by default (ImageModeration, TranslatePrompts):", *wrapped]
