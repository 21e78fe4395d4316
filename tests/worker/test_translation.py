"""Prompts in any language drawn as meant (TRANSLATE_PROMPTS=auto), through the real entry points:
a signed /imagine into http_handler, the worker on its queues, Translate's stand-in
(bot/local/translate.py) answering TranslateText as the API does. What the model got is read from
the placeholder's JPEG, whose comment holds the prompt it drew (bot/backends/placeholder.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from bot.local.translate import TranslateStandIn
from bot.services import reset_process_services
from tests.conftest import Stack
from tests.fakes.sagemaker_runtime import SageMakerStandIn
from tests.slack_users import click, imagine, job_id_on, latest_result

TIGER = "一只赛博朋克风格的老虎"


def drawn_from(env: Stack) -> list[str]:
    """The prompt each stored image was drawn from, as the model got it."""
    return sorted(
        Image.open(io.BytesIO(jpeg)).info.get("comment", b"").decode()
        for jpeg in env.stored("images/").values()
    )


def context(message: dict[str, Any]) -> str:
    return " ".join(e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"])


def test_a_chinese_prompt_is_drawn_from_its_english_and_shown_as_typed(
    env: Stack, translate: TranslateStandIn
) -> None:
    _, _, message = imagine(env, f"{TIGER} --seed 7")

    assert drawn_from(env) == ["a tiger in cyberpunk style"]  # what the model got
    assert f"imagined *{TIGER}*" in json.dumps(message, ensure_ascii=False)  # what people see
    assert "translated from Chinese: a tiger in cyberpunk style" in context(message)
    [sent] = translate.calls("TranslateText")
    assert sent == {"Text": TIGER, "SourceLanguageCode": "auto", "TargetLanguageCode": "en"}
    found = env.services.store.find(
        job_id_on({"blocks": [b for b in message["blocks"] if b["type"] == "actions"][:1]})
    )
    assert found is not None and found[0] is not None
    request = found[0].request
    assert request.prompt == TIGER and request.translation is not None
    assert (request.translation.language, request.translation.english) == ("zh", "a tiger in cyberpunk style")


def test_a_re_roll_reuses_the_translation(env: Stack, translate: TranslateStandIn) -> None:
    where = imagine(env, f"{TIGER} --seed 7")

    click(env, where, "imagine_reroll")
    env.settle()

    rerolled = latest_result(env)
    assert rerolled[1] != where[1] and "translated from Chinese" in context(rerolled[2])
    assert drawn_from(env) == ["a tiger in cyberpunk style"] * 2
    assert len(translate.calls("TranslateText")) == 1  # not asked again


def test_an_english_prompt_makes_no_translate_call(env: Stack, translate: TranslateStandIn) -> None:
    _, _, message = imagine(env, "a paper crane 🕊️ --seed 5 --no text")

    assert translate.requests == [] and "translated" not in context(message)
    assert drawn_from(env) == ["a paper crane 🕊️"]


def test_when_translate_fails_the_prompt_is_drawn_as_typed_and_the_result_says_so(
    env: Stack, translate: TranslateStandIn
) -> None:
    translate.down("TranslateText", code="ServiceUnavailableException", status=503)

    _, _, message = imagine(env, f"{TIGER} --seed 7")

    assert drawn_from(env) == [TIGER]
    assert "not translated (the translation service failed): drawn as typed" in context(message)
    assert env.dead_letters() == []


def test_a_blocked_term_in_the_translation_refuses_the_job(
    env: Stack, translate: TranslateStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOCKED_TERMS", "tiger")  # the Chinese prompt has no such word; its English has
    reset_process_services()

    imagine(env, f"{TIGER} --seed 7")

    assert env.stored("images/") == {}
    replies = [
        str(c.args.get("text")) for c in env.slack.calls_to("chat.postMessage") if c.args.get("thread_ts")
    ]
    assert any("its English translation contains a term that is not allowed here" in text for text in replies)
    assert env.dead_letters() == []  # a refusal: nothing to redrive, no alarm
    assert env.services.quotas.used_by_user("T0LOCAL", "U0LOCAL", datetime.now(UTC)) == 0  # given back


def test_mentions_and_links_are_left_out_of_what_is_translated_and_never_come_back_live(
    env: Stack, translate: TranslateStandIn
) -> None:
    _, _, message = imagine(env, "一只猫 <@U0OTHER|other> <https://example.com|链接> <!here> 在雨中 --seed 2")

    [sent] = translate.calls("TranslateText")
    assert sent["Text"] == "一只猫 在雨中"
    shown = context(message)
    assert "translated from Chinese: a cat in the rain" in shown and "<@" not in shown and "<!" not in shown
    assert drawn_from(env) == ["a cat in the rain"]


def test_the_sagemaker_endpoint_is_sent_the_english_and_its_no_text(
    env: Stack, translate: TranslateStandIn, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JumpStart text-to-image contract's ``prompt`` and ``negative_prompt``, in English
    (tests/fixtures/jumpstart_text_to_image.json)."""
    for name, value in {"IMAGE_BACKEND": "sagemaker", "SAGEMAKER_ENDPOINT_NAME": "sd-21-base",
                        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    reset_process_services()

    _, _, message = imagine(env, f"{TIGER} --no 猫 --seed 7")

    [call] = sagemaker.invocations
    assert (call.body["prompt"], call.body["negative_prompt"]) == ("a tiger in cyberpunk style", "cat")
    assert "translated from Chinese: a tiger in cyberpunk style (no: cat)" in context(message)
    assert "no: 猫" in context(message)  # what was typed, shown as typed
