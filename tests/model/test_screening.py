"""The pure parts of the image check and the translation: which labels flag an image, the
settings that name them, and what of a prompt is sent to be translated."""

from __future__ import annotations

import pytest

from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.local.rekognition import chain
from bot.model.moderation import DEFAULT_BLOCKED_LABELS, blocked, label_names
from bot.model.translation import fitted, for_translate, needs_translation

GORE = chain(("Blood & Gore", "Graphic Violence", "Violence"), 97.4)
SWIMWEAR = chain(("Female Swimwear or Underwear", "Swimwear or Underwear"), 88.0)


def test_a_blocked_name_flags_its_chain_down_to_the_most_specific_label_and_nothing_else() -> None:
    answer = {"ModerationLabels": [*SWIMWEAR, *GORE]}
    assert [(label.name, label.confidence) for label in blocked(answer, DEFAULT_BLOCKED_LABELS, 60)] == [
        ("Blood & Gore", 97.4), ("Graphic Violence", 97.4), ("Violence", 97.4),
    ]  # fmt: skip
    assert blocked(answer, DEFAULT_BLOCKED_LABELS, 98) == []  # under the confidence asked
    assert [label.name for label in blocked(answer, ("Graphic Violence",), 60)] == [
        "Blood & Gore",
        "Graphic Violence",
    ]
    assert blocked({"ModerationLabels": SWIMWEAR}, DEFAULT_BLOCKED_LABELS, 60) == []  # not blocked by default


def test_label_settings_are_spelt_as_the_taxonomy_spells_them() -> None:
    assert label_names("violence, hate symbols") == ("Violence", "Hate Symbols")
    with pytest.raises(ValueError, match="Violent"):
        label_names("Violent")
    with pytest.raises(SettingsError, match=r"MODERATION_BLOCKED_LABELS names labels .* Nudity"):
        Settings.from_env(env(MODERATION_BLOCKED_LABELS="Nudity"))
    screening = Settings.from_env(env(IMAGE_MODERATION="rekognition", TRANSLATE_PROMPTS="auto")).screening
    assert (screening.image_moderation, screening.translate_prompts, screening.min_confidence) == (
        "rekognition",
        "auto",
        60.0,
    )
    assert Settings.from_env(env()).screening.image_moderation == "off"  # off unless set


def env(**more: str) -> dict[str, str]:
    needed = {"JOBS_QUEUE_URL": "q", "TASKS_QUEUE_URL": "t", "JOBS_TABLE": "j", "IMAGES_BUCKET": "b"}
    return needed | {
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "LINK_SECRET": "l" * 32,
        **more,
    }


@pytest.mark.parametrize(
    ("text", "needed"),
    [("a paper crane", False), ("a crane 🕊️ at dawn", False), ("一只猫", True), ("a cat 在雨中", True),
     ("café au lait", True), ("<@U0ABC|josé> a cat", False)],
)  # fmt: skip
def test_only_a_prompt_with_letters_outside_ascii_is_sent_markup_left_out(text: str, needed: bool) -> None:
    assert needs_translation(text) is needed


def test_what_is_sent_has_no_markup_and_slacks_entities_decoded() -> None:
    sent = for_translate(
        "猫 &amp; 狗 <@U0ABC|someone> <#C0ABC|general> <https://x.example|链接> <!here> &lt;3"
    )
    assert sent == "猫 & 狗 <3"


def test_the_english_is_cut_at_a_word_to_the_prompt_limit() -> None:
    assert fitted("a tiger in cyberpunk style", 1000) == "a tiger in cyberpunk style"
    assert fitted("a tiger in cyberpunk style", 12) == "a tiger in"
    assert fitted("supercalifragilistic", 5) == "super"
