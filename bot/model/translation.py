"""A prompt's English, for a model trained on English captions (pure).

Stable Diffusion 2 was trained on English captions (its model card), and the Stability models on
Bedrock are English-first: a prompt in another language is drawn from its translation, while
people keep seeing what they typed. A prompt whose letters are all ASCII is taken as English and
never sent to be translated; Slack's markup (mentions, channels, links: ``<@U…>``, ``<#C…|name>``,
``<https://…|label>``, ``<!here>``) is left out of what is sent, so it can neither be translated
nor come back as a live mention (docs.slack.dev/messaging/formatting-message-text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MARKUP = re.compile(r"<[^<>]*>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))  # Slack escapes these three in what people type
NAMES = {
    "ar": "Arabic", "de": "German", "es": "Spanish", "fr": "French", "hi": "Hindi", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "ru": "Russian", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
    "zh-TW": "Chinese (Traditional)",
}  # fmt: skip


@dataclass(frozen=True)
class Translation:
    """What the model is given for a request's texts, and what it was made from (``source``), so
    that a request with the same texts (a Re-roll, a Variation, an operation) reuses it."""

    source: str  # the prompt and the --no text it translates, as one string (:func:`source_of`)
    language: str = "en"  # the language detected; "en": nothing was translated
    english: str = ""
    english_negative: str = ""
    failed: bool = False  # Translate could not: the model got the texts as typed

    @property
    def translated(self) -> bool:
        return not self.failed and self.language != "en"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("source", "language", "english", "english_negative", "failed")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Translation:
        return cls(
            **{
                k: data[k]
                for k in ("source", "language", "english", "english_negative", "failed")
                if k in data
            }
        )


def source_of(prompt: str, negative: str) -> str:
    return f"{prompt}\x00{negative}"


def needs_translation(text: str) -> bool:
    """Whether ``text`` has a letter outside ASCII once its markup is left out."""
    return any(ch.isalpha() and not ch.isascii() for ch in MARKUP.sub(" ", text))


def for_translate(text: str) -> str:
    """What is sent to be translated: the text without Slack's markup, its entities decoded."""
    plain = MARKUP.sub(" ", text)
    for entity, char in _ENTITIES:
        plain = plain.replace(entity, char)
    return " ".join(plain.split())


def fitted(english: str, limit: int) -> str:
    """The English within the prompt's length limit, cut at a word where it must be cut."""
    if len(english) <= limit:
        return english
    cut = english[:limit].rsplit(" ", 1)[0]
    return cut or english[:limit]


def language_name(code: str) -> str:
    return NAMES.get(code, NAMES.get(code.split("-")[0], code))
