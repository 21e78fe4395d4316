"""Amazon Translate's TranslateText, as a local stand-in (moto has no Translate).

The protocol is AWS JSON 1.1 (bot/local/aws_json.py): ``X-Amz-Target:
AWSShineFrontendService_20170701.TranslateText``, signed for ``translate``; boto3 reaches it through
``AWS_ENDPOINT_URL_TRANSLATE``. Input and output as the API reference gives them
(docs.aws.amazon.com/translate/latest/APIReference/API_TranslateText.html): ``Text``,
``SourceLanguageCode`` (a code, or ``auto``: the language detected, as Amazon Comprehend would),
``TargetLanguageCode``; answered with ``TranslatedText``, ``SourceLanguageCode`` (the detected one
with ``auto``) and ``TargetLanguageCode``. A text already in the target language is answered as it
is: Translate accepts the same language on both sides and does not charge for it ("Supported
languages", docs.aws.amazon.com/translate/latest/dg/what-is-languages.html).

Refused as Translate refuses (the errors its service model lists, with their HTTP statuses):
- ``Text`` over 10,000 bytes (UTF-8): ``TextSizeLimitExceededException``; empty or missing
  fields: ``ValidationException``;
- a language it does not have: ``UnsupportedLanguagePairException`` (with both codes);
- ``auto`` on a text with nothing to detect a language by (digits, emoji):
  ``DetectedLanguageLowConfidenceException`` with ``DetectedLanguageCode``;
- ``fail("TranslateText", times=N, code="TooManyRequestsException", status=429)`` throttles
  (Translate's throttling error is TooManyRequestsException, HTTP 429, not ThrottlingException),
  ``ServiceUnavailableException`` (503) is an outage; ``down(...)`` until ``up()``.

It is no translator: it detects a language by its script (Han: Chinese, kana: Japanese, Hangul:
Korean, Cyrillic: Russian, Latin with a French, Spanish or German word: that language, else
English) and translates with ``PHRASES``, a small table of the prompts the local stack shows
(``一只赛博朋克风格的老虎``: "a tiger in cyberpunk style"), longest phrase first, leaving what it
does not know as it was.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.local.aws_json import Answer, JsonService, Refusal

MAX_TEXT_BYTES = 10_000
LANGUAGES = frozenset({"en", "zh", "zh-TW", "ja", "ko", "ru", "fr", "es", "de", "it", "pt", "ar", "hi"})
PHRASES: dict[str, dict[str, str]] = {
    "zh": {
        "一只赛博朋克风格的老虎": "a tiger in cyberpunk style",
        "赛博朋克": "cyberpunk", "风格": "style", "老虎": "tiger", "一只": "a", "的": " ", "猫": "cat",
        "狗": "dog", "在": "in", "雨中": "the rain", "日落": "sunset", "灯塔": "lighthouse", "链接": "link",
        "山": "mountain", "水墨画": "ink painting", "森林": "forest", "城市": "city", "夜晚": "night",
    },
    "ja": {"猫": "cat", "桜": "cherry blossoms", "の": " ", "富士山": "Mount Fuji"},
    "fr": {"un chat sur un toit": "a cat on a roof", "un chat": "a cat", "le phare": "the lighthouse"},
    "es": {"un gato": "a cat", "el faro": "the lighthouse"},
    "de": {"eine katze": "a cat", "der leuchtturm": "the lighthouse"},
    "ru": {"кошка": "cat", "маяк": "lighthouse"},
}  # fmt: skip
_LATIN_WORDS = {
    "fr": {"le", "la", "les", "un", "une", "sur", "chat", "dans", "avec", "et"},
    "es": {"el", "los", "las", "una", "gato", "sobre", "con", "en", "y"},
    "de": {"der", "die", "das", "ein", "eine", "katze", "mit", "und", "auf"},
}


def detect(text: str) -> str:
    """The language of ``text`` by its script, as a code; "" when nothing tells."""
    scripts = [unicodedata.name(ch, "").split(" ")[0] for ch in text if ch.isalpha()]
    if not scripts:
        return ""
    for script, code in (("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CJK", "zh"),
                         ("CYRILLIC", "ru"), ("ARABIC", "ar"), ("DEVANAGARI", "hi")):  # fmt: skip
        if script in scripts:
            return code
    words = set(re.findall(r"\w+", text.lower()))
    guessed = max(_LATIN_WORDS, key=lambda code: len(words & _LATIN_WORDS[code]))
    return guessed if words & _LATIN_WORDS[guessed] else "en"


def translate(text: str, source: str) -> str:
    """``text`` with each phrase of ``source``'s table in English, longest first."""
    table = PHRASES.get(source, {})
    out, at, lowered = [], 0, text.lower()
    while at < len(text):
        found = next((p for p in sorted(table, key=len, reverse=True) if lowered.startswith(p, at)), None)
        if found is None:
            out.append(text[at])
            at += 1
        else:
            out.append(f" {table[found]} ")
            at += len(found)
    return " ".join("".join(out).split())


@dataclass
class TranslateStandIn(JsonService):
    service: str = "translate"
    target_prefix: str = "AWSShineFrontendService_20170701"

    def operations(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        return {"TranslateText": self.translate_text}

    def translate_text(self, request: dict[str, Any]) -> Answer:
        text, source, target = (request.get(k) for k in ("Text", "SourceLanguageCode", "TargetLanguageCode"))
        if not (isinstance(text, str) and text and isinstance(source, str) and isinstance(target, str)):
            return Refusal("ValidationException", "1 validation error detected: Text, SourceLanguageCode "
                           "and TargetLanguageCode must not be null").answer()  # fmt: skip
        size = len(text.encode())
        if size > MAX_TEXT_BYTES:
            return Refusal("TextSizeLimitExceededException", "Input text size exceeds limit. Max length of "
                           f"request text allowed is {MAX_TEXT_BYTES} bytes while in this request the text "
                           f"size is {size} bytes").answer()  # fmt: skip
        if source == "auto":
            source = detect(text)
            if not source:
                return Refusal("DetectedLanguageLowConfidenceException",
                               "Could not detect the language of the text with high confidence",
                               fields=(("DetectedLanguageCode", "en"),)).answer()  # fmt: skip
        pair = (("SourceLanguageCode", source), ("TargetLanguageCode", target))
        if source not in LANGUAGES or target not in LANGUAGES:
            unsupported = f"Unsupported language pair: {source} to {target}"
            return Refusal("UnsupportedLanguagePairException", unsupported, fields=pair).answer()
        if target != "en":
            modelled = f"stand-in: only translations into English are modelled ({target})"
            return Refusal("UnsupportedLanguagePairException", modelled, fields=pair).answer()
        translated = text if source == target else translate(text, source)
        return 200, {"TranslatedText": translated, "SourceLanguageCode": source, "TargetLanguageCode": target}
