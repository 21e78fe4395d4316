"""A prompt not in English translated for the model with Amazon Translate's TranslateText
(TRANSLATE_PROMPTS=auto), in the worker, never on the acknowledgement's path.

``SourceLanguageCode=auto`` lets Translate detect the language with Amazon Comprehend (so the
region must be one Comprehend serves; the call then also needs ``comprehend:DetectDominantLanguage``:
"Automatic language detection", docs.aws.amazon.com/translate/latest/dg/how-it-works.html). A text
whose letters are all ASCII is taken as English and not sent; one Translate finds already English
comes back as it was, unbilled. Markup is left out of what is sent (bot/model/translation.py).
A translation never stops an image: if Translate fails, the model gets the texts as typed and the
result says they were not translated. A request whose texts were translated before (a Re-roll,
a Variation, an operation on its image) reuses that translation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from bot.model.prompt import ImageRequest
from bot.model.translation import Translation, fitted, for_translate, needs_translation, source_of

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


class Translator:
    def __init__(self, client: Any, max_chars: int) -> None:
        self.client = client
        self.max_chars = max_chars

    def translated(self, request: ImageRequest) -> ImageRequest:
        """``request`` with its texts' English (``translation``), or as it is when they are English."""
        source = source_of(request.prompt, request.negative_prompt)
        if request.translation is not None and request.translation.source == source:
            return request  # translated already, from these very texts
        if not (needs_translation(request.prompt) or needs_translation(request.negative_prompt)):
            return replace(request, translation=None)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            language, english = self._english(request.prompt)
            negative_language, english_negative = self._english(request.negative_prompt)
        except (ClientError, BotoCoreError, KeyError) as error:  # whatever it is, the image is still drawn
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            logger.warning(
                "could not translate the prompt; drawing it as typed", error=code or type(error).__name__
            )
            metrics.add_metric(name="TranslationsFailed", unit=MetricUnit.Count, value=1)
            return replace(request, translation=Translation(source, failed=True))
        metrics.add_metric(name="PromptsTranslated", unit=MetricUnit.Count, value=1)
        language = language if language != "en" else negative_language
        translation = Translation(source, language, english, english_negative)
        return replace(request, translation=translation)

    def _english(self, text: str) -> tuple[str, str]:
        """The language of ``text`` and its English; ("en", text) for a text with nothing to translate."""
        sent = for_translate(text)
        if not needs_translation(sent):
            return "en", sent
        answer = self.client.translate_text(Text=sent, SourceLanguageCode="auto", TargetLanguageCode="en")
        return str(answer["SourceLanguageCode"]), fitted(str(answer["TranslatedText"]), self.max_chars)
