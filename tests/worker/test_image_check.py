"""Every image checked before anyone sees it (IMAGE_MODERATION=rekognition), through the real entry
points: a signed /imagine into http_handler, the worker on its queues, Rekognition's stand-in
(bot/local/rekognition.py) answering DetectModerationLabels as the API does. What a withheld image
must never be: in an image block, an uploaded file, a link, S3's ``images/``, the Home tab's list,
a Share; what the requester gets instead: a private note with the labels, and the images back."""

from __future__ import annotations

import base64
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from bot.local.rekognition import ModerationStandIn, chain
from tests.backends.test_operation_backends import CONSERVATIVE, use
from tests.conftest import Stack, ack_json, call_http, command_event
from tests.fakes.bedrock_http import Answer
from tests.fakes.bedrock_runtime import BedrockStandIn
from tests.fakes.image_ops import noisy_jpeg
from tests.listeners.test_operations import ALL_ON, operate
from tests.slack_users import USER, imagine, job_id_on, latest_result

VIOLENCE = chain(("Blood & Gore", "Graphic Violence", "Violence"), 97.4)


def posted_anywhere(env: Stack) -> str:
    """Everything the bot sent Slack, as one text: blocks, links, uploads."""
    return json.dumps([c.args for c in env.slack.snapshot()])


def job_record(env: Stack, job_id: str) -> Any:
    found = env.services.store.find(job_id)
    assert found is not None
    return found[1]


def said_privately(env: Stack) -> list[str]:
    return [
        str(c.args["text"])
        for c in env.slack.calls_to("chat.postEphemeral")
        if c.ok and c.args["user"] == USER
    ]


def used_today(env: Stack) -> int:
    return int(env.services.quotas.used_by_user("T0LOCAL", USER, datetime.now(UTC)))


def test_a_flagged_picture_is_withheld_everywhere_and_the_requester_told_why(
    env: Stack, image_check: ModerationStandIn
) -> None:
    """The placeholder writes the prompt into the JPEG's comment; the stand-in flags "zombie"
    as Visually Disturbing > Death and Emaciation > Corpses, 93.1%."""
    _, _, message = imagine(env, "a zombie in the rain --seed 3")

    shown = json.dumps(message)
    assert "withheld by the image check" in shown and '"image"' not in shown
    assert not any(b["type"] == "actions" for b in message["blocks"])  # no Share, no operations
    sent = posted_anywhere(env)
    assert "/images/" not in sent and not env.slack.calls_to("files.getUploadURLExternal")
    assert env.stored("images/") == {}  # never kept
    [note] = said_privately(env)
    # The blocked top-level label and what was found under it, most specific first.
    assert "The picture: Corpses (93.1%), Death and Emaciation (93.1%), Visually Disturbing (93.1%)" in note
    assert used_today(env) == 0  # given back
    assert env.dead_letters() == [] and len(image_check.checked) == 1  # checked once, not retried
    job_ids = env.services.store.recent("T0LOCAL", USER)
    assert job_ids == []  # not on the Home tab


def test_one_flagged_image_of_two_is_withheld_and_the_other_shown(
    env: Stack, image_check: ModerationStandIn
) -> None:
    seen: list[bytes] = []

    def second_is_violent(image: bytes) -> list[dict[str, Any]]:
        seen.append(image)
        return VIOLENCE if len(seen) == 2 else []

    image_check.decide = second_is_violent
    _, _, message = imagine(env, "a lighthouse at night --seed 4 --n 2")

    assert [b["type"] for b in message["blocks"]].count("image") == 1
    assert "1 of the 2 images was withheld by the image check" in json.dumps(message)
    job_id = job_id_on({"blocks": [b for b in message["blocks"] if b["type"] == "actions"][:1]})
    stored = env.stored("images/")
    assert len(stored) == 1 and next(iter(stored)).endswith("/0.jpg")  # image 1 kept, image 2 never
    assert job_record(env, job_id).withheld == [
        {"image": 2, "labels": [{"name": "Blood & Gore", "confidence": 97.4},
                                {"name": "Graphic Violence", "confidence": 97.4},
                                {"name": "Violence", "confidence": 97.4}]}
    ]  # fmt: skip
    [note] = said_privately(env)
    assert "Image 2: Blood &amp; Gore (97.4%), Graphic Violence (97.4%), Violence (97.4%)" in note
    assert used_today(env) == 1  # the withheld one given back
    assert job_id in env.services.store.recent("T0LOCAL", USER)


def test_an_operations_result_is_checked_too(
    env: Stack, image_check: ModerationStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, **ALL_ON)
    where = imagine(env, "a tiny robot --seed 6")
    image_check.decide = lambda image: VIOLENCE

    upscaled = operate(env, where, "imagine_upscale")

    assert "withheld by the image check" in json.dumps(upscaled[2]) and upscaled[1] != where[1]
    assert len(env.stored("images/")) == 1  # the original alone
    assert len(image_check.checked) == 2


def test_a_throttled_check_is_asked_again_and_the_picture_shown(
    env: Stack, image_check: ModerationStandIn
) -> None:
    """Rekognition's ThrottlingException is a server fault (HTTP 500) in its service model."""
    image_check.fail("DetectModerationLabels", times=2, code="ThrottlingException", status=500)

    _, _, message = imagine(env, "a paper crane --seed 5")

    assert any(b["type"] == "image" for b in message["blocks"])
    assert [status for op, status, _ in image_check.answers if op == "DetectModerationLabels"] == [
        500,
        500,
        200,
    ]


def test_a_check_that_stays_down_shows_nothing_says_so_and_dead_letters_the_job(
    env: Stack, image_check: ModerationStandIn
) -> None:
    image_check.down("DetectModerationLabels", code="ThrottlingException", status=500)

    imagine(env, "a paper crane --seed 5")

    assert env.stored("images/") == {}
    assert '"image_url"' not in posted_anywhere(env)
    replies = [
        str(c.args.get("text")) for c in env.slack.calls_to("chat.postMessage") if c.args.get("thread_ts")
    ]
    assert any("the image check could not be done" in text for text in replies)
    [reason] = env.dead_letter_reasons()
    assert "the image check could not be done (Amazon Rekognition: ThrottlingException)" in reason
    assert used_today(env) == 0


def test_an_upscale_past_five_megabytes_is_checked_on_a_smaller_copy_and_kept_whole(
    env: Stack, image_check: ModerationStandIn, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rekognition takes image bytes up to 5 MB ("Guidelines and quotas"); the stand-in refuses
    more with ImageTooLargeException. The upscale is stored as the model made it."""
    use(monkeypatch, UPSCALE_MODEL=f"bedrock:{CONSERVATIVE}", IMAGE_MODERATION="rekognition")
    where = imagine(env, "a paper crane --seed 5")
    large = noisy_jpeg(2048)
    assert len(large) > 5 * 1024 * 1024
    answer = {"images": [base64.b64encode(large).decode()], "finish_reasons": [None], "seeds": [1]}
    bedrock.scripted.append(Answer(body=json.dumps(answer).encode()))

    upscaled = operate(env, where, "imagine_upscale")

    assert any(b["type"] == "image" for b in upscaled[2]["blocks"])
    checked = image_check.checked[-1]
    assert len(checked) <= 5 * 1024 * 1024 and Image.open(io.BytesIO(checked)).width < 2048
    assert large in env.stored("images/").values()  # stored whole
    assert latest_result(env)[1] == upscaled[1]


def test_a_withheld_picture_behind_an_expired_response_url_ends_the_job_and_is_said_privately(
    env: Stack, image_check: ModerationStandIn
) -> None:
    """In a channel closed to the bot the job's message lives behind the command's response_url,
    good for 30 minutes (bot/local/slack/response_urls.py); expired by the time the picture is
    withheld (an asynchronous render can take that long), the requester still hears it, by direct
    message, and the job ends there instead of failing on the refused update."""
    env.slack.closed_channels.add("C0LOCAL")
    response_url = env.slack.response_url("closed")
    later = time.time() + 3600

    def an_hour_later_then_flagged(image: bytes) -> list[dict[str, Any]]:
        env.slack.clock = lambda: later
        return VIOLENCE

    image_check.decide = an_hour_later_then_flagged
    ack_json(call_http(command_event("a paper crane --seed 5", response_url=response_url)))
    env.settle()

    assert env.dead_letters() == []
    dm = env.slack.dm_channel("U0LOCAL")
    told = [
        str(c.args.get("text"))
        for c in env.slack.calls_to("chat.postMessage")
        if c.ok and c.args["channel"] == dm
    ]
    assert any("Graphic Violence (97.4%)" in text for text in told)
    assert env.stored("images/") == {} and used_today(env) == 0


def test_a_job_that_fails_after_withholding_an_image_gives_each_image_back_once(
    env: Stack, image_check: ModerationStandIn
) -> None:
    """One of two images withheld (given back at once), then the other can reach nobody: the
    response_url has expired and the direct message is refused for good. Giving up returns the
    image that was not withheld, and only that one (the day's earlier image stays counted)."""
    imagine(env, "a lighthouse --seed 9")  # one image, counted and kept
    env.slack.closed_channels.add("C0LOCAL")
    later, seen = time.time() + 3600, []

    def second_then_later(image: bytes) -> list[dict[str, Any]]:
        seen.append(image)
        env.slack.clock = lambda: later
        return VIOLENCE if len(seen) == 2 else []

    image_check.decide = second_then_later
    env.slack.fail("conversations.open", times=100, error="missing_scope")
    ack_json(
        call_http(
            command_event("a paper crane --seed 5 --n 2", response_url=env.slack.response_url("closed"))
        )
    )
    env.settle()

    assert len(env.dead_letters()) == 1
    assert used_today(env) == 1  # the earlier one; of the two, one given back withheld, one never shown
