"""The image operations on Amazon Bedrock and on SageMaker JumpStart endpoints, driven through
http_handler with clicks built from the buttons the bot really posted, against the stand-ins
(tests/fakes/bedrock_runtime.py, SigV4 included, and tests/fakes/sagemaker_runtime.py), which hold
every request body to the fixtures taken from AWS's pages and notebooks (tests/fixtures/
bedrock_stable_*.json, bedrock_sd35_large.json, jumpstart_upscaling.json, jumpstart_inpainting.json).

Each test checks that the image sent is the clicked one (decoded, same pixels), that the
parameters are the operation's, and that the result lands in the thread with its buttons and what
was done. The text-to-image drawing stays on the placeholder, so only the operation reaches a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from bot.services import reset_process_services
from tests.conftest import Stack
from tests.fakes.bedrock_http import error
from tests.fakes.bedrock_runtime import BedrockStandIn
from tests.fakes.sagemaker_runtime import SageMakerStandIn
from tests.listeners.test_operations import (
    EDITS,
    change_form,
    headline,
    images_of,
    operate,
    said_to_clicker,
    submit_change,
)
from tests.slack_users import buttons, click, imagine, latest_result, queued_jobs

FAST = "us.stability.stable-fast-upscale-v1:0"
CONSERVATIVE = "us.stability.stable-conservative-upscale-v1:0"
CREATIVE = "us.stability.stable-creative-upscale-v1:0"
OUTPAINT = "us.stability.stable-outpaint-v1:0"
SEARCH_REPLACE = "us.stability.stable-image-search-replace-v1:0"
SD35 = "stability.sd3-5-large-v1:0"
UPSCALER, INPAINTING = "sd2-x4-upscaler", "sd2-inpainting"


def difference(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB").resize(a.size, Image.Resampling.BILINEAR))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.fixture
def endpoints(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SageMakerStandIn]:
    stand_in = SageMakerStandIn(
        endpoints=(UPSCALER, INPAINTING), contracts={UPSCALER: "upscaling", INPAINTING: "inpainting"}
    ).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stand_in.url)
    yield stand_in
    stand_in.stop()


def use(monkeypatch: pytest.MonkeyPatch, **models: str) -> None:
    for name, value in models.items():
        monkeypatch.setenv(name, value)
    reset_process_services()


def said_in_thread(env: Stack, root_ts: str) -> list[str]:
    return [
        str(c.args.get("text", ""))
        for c in env.slack.calls_to("chat.postMessage")
        if c.ok and c.args.get("thread_ts") == root_ts
    ]


# ---- Bedrock ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", [FAST, CONSERVATIVE, CREATIVE])
def test_upscale_on_bedrock_sends_the_clicked_image_and_posts_it_four_times_larger(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch, model_id: str
) -> None:
    use(monkeypatch, UPSCALE_MODEL=f"bedrock:{model_id}")
    where = imagine(env, "a paper crane --seed 5 --no text")
    [source] = images_of(where[2])
    upscaled = operate(env, where, "imagine_upscale")

    [call] = bedrock.calls_to(model_id)
    assert call.image().size == source.size and difference(source, call.image()) < 2
    if model_id == FAST:  # the image alone
        assert set(call.body) == {"image", "output_format"}
    else:
        assert (call.body["prompt"], call.body["negative_prompt"]) == ("a paper crane", "text")
        assert 0.1 <= call.body["creativity"] <= 0.5 and 1 <= call.body["seed"] <= 4_294_967_294
    assert call.body["output_format"] == "jpeg"
    [image] = images_of(upscaled[2])
    assert image.size == (2048, 2048) and "Upscaled 4× from *a paper crane*" in headline(upscaled[2])
    # What the model was not sent is not shown as used: Fast Upscale gets neither seed nor prompt.
    shown = _context(upscaled[2])
    assert ("seed" in shown, "no: text" in shown) == ((False, False) if model_id == FAST else (True, True))
    if model_id != FAST:
        assert f"seed {call.body['seed']}" in shown
    assert upscaled[1] != where[1] and "imagine_upscale" in {a for _, a, _, _ in buttons(upscaled[2])}


@pytest.mark.parametrize(
    ("action", "strength"), [("imagine_vary_subtle", 0.35), ("imagine_vary_strong", 0.7)]
)
def test_vary_on_bedrock_is_sd35_image_to_image_at_its_strength_once_per_image(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch, action: str, strength: float
) -> None:
    use(monkeypatch, VARY_MODEL=f"bedrock:{SD35}")
    where = imagine(env, "a lighthouse --seed 41 --n 2")
    sources = images_of(where[2])
    varied = operate(env, where, action, block_id=f"{EDITS}_1")

    calls = bedrock.calls_to(SD35)
    assert len(calls) == 2  # one call an image, as many as the result had
    for call in calls:
        assert (call.body["mode"], call.body["strength"], call.body["prompt"]) == (
            "image-to-image",
            strength,
            "a lighthouse",
        )
        assert "aspect_ratio" not in call.body and difference(sources[1], call.image()) < 2
    assert len({call.body["seed"] for call in calls}) == 2
    assert len(images_of(varied[2])) == 2 and "from image 2 of *a lighthouse*" in headline(varied[2])


def test_zoom_out_on_bedrock_outpaints_half_each_side_around_the_unchanged_image(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ZOOM_MODEL=f"bedrock:{OUTPAINT}")
    where = imagine(env, "a paper crane --seed 5 --ar 3:2 --no text")
    [source] = images_of(where[2])
    zoomed = operate(env, where, "imagine_zoom_out")

    [call] = bedrock.calls_to(OUTPAINT)
    width, height = source.size
    assert (call.body["left"], call.body["right"], call.body["up"], call.body["down"]) == (
        width // 2, width - width // 2, height // 2, height - height // 2,
    )  # fmt: skip
    assert "negative_prompt" not in call.body and difference(source, call.image()) < 2
    [image] = images_of(zoomed[2])
    assert image.size == (2 * width, 2 * height)
    middle = image.crop((width // 2, height // 2, width // 2 + width, height // 2 + height))
    assert difference(source, middle) < 4


def test_change_on_bedrock_searches_for_what_to_change_and_draws_it_into_what(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, CHANGE_MODEL=f"bedrock:{SEARCH_REPLACE}")
    where = imagine(env, "a cat on a sofa --seed 5")
    [source] = images_of(where[2])
    assert submit_change(env, change_form(env, where), "the cat", "a corgi") == {}
    env.settle()

    [call] = bedrock.calls_to(SEARCH_REPLACE)
    assert (call.body["search_prompt"], call.body["prompt"]) == ("the cat", "a corgi")
    assert difference(source, call.image()) < 2
    changed = latest_result(env)
    assert "Changed “the cat” into “a corgi” from *a cat on a sofa*" in headline(changed[2])


def test_a_filter_refusal_is_said_in_the_thread_with_its_reason_and_never_retried(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, CHANGE_MODEL=f"bedrock:{SEARCH_REPLACE}")
    where = imagine(env, "a cat on a sofa --seed 5")
    submit_change(env, change_form(env, where), "the cat", "a forbidden-subject")
    env.settle()

    assert len(bedrock.calls_to(SEARCH_REPLACE)) == 1
    [told] = [text for text in said_in_thread(env, where[1]) if text.startswith(":x:")]
    assert "filtered it (Filter reason: prompt)" in told
    [reason] = env.dead_letter_reasons()
    assert "Filter reason: prompt" in reason


def test_a_throttled_operation_comes_back_and_is_drawn_on_the_next_delivery(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no room to retry inside the delivery (a budget of 0), the job is handed back to SQS
    and drawn when it comes again: no real wait in the test."""
    use(monkeypatch, UPSCALE_MODEL=f"bedrock:{FAST}", RENDER_BUDGET_SECONDS="0", RETRY_BACKOFF_SECONDS="0")
    where = imagine(env, "a paper crane --seed 5")
    bedrock.scripted.append(error("ThrottlingException"))
    click(env, where, "imagine_upscale", block_id=EDITS)
    env.settle()

    assert len(bedrock.calls_to(FAST)) == 2
    assert env.dead_letter_reasons() == []
    assert images_of(latest_result(env)[2])[0].size == (2048, 2048)


def test_an_image_whose_shape_the_model_does_not_take_is_refused_before_any_call(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ZOOM_MODEL=f"bedrock:{OUTPAINT}")
    where = imagine(env, "a long train --seed 5 --ar 4:1")
    click(env, where, "imagine_zoom_out", block_id=EDITS)
    assert queued_jobs(env) == [] and bedrock.invocations == []
    [said] = said_to_clicker(env, "takes images from 1:2.5 to 2.5:1")
    assert "1024×256" in said["text"] and "Nothing was queued" in said["text"]


def test_an_image_gone_before_the_worker_reads_it_is_said_in_the_thread_without_a_model_call(
    env: Stack, bedrock: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket's lifecycle can expire an image between the click and the render."""
    use(monkeypatch, UPSCALE_MODEL=f"bedrock:{FAST}")
    where = imagine(env, "a paper crane --seed 5")
    click(env, where, "imagine_upscale", block_id=EDITS)
    [job] = queued_jobs(env)
    assert job.request.operation is not None
    env.services.images.delete(job.request.operation.source_key)
    env.settle()

    assert bedrock.invocations == []
    [told] = [text for text in said_in_thread(env, where[1]) if text.startswith(":x:")]
    assert "the image it starts from is gone" in told
    assert "the image it starts from is gone" in env.dead_letter_reasons()[0]


# ---- SageMaker JumpStart -------------------------------------------------------------------------


def test_upscale_on_the_x4_upscaler_endpoint_sends_the_image_as_jpeg_json(
    env: Stack, endpoints: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, UPSCALE_MODEL=f"sagemaker:{UPSCALER}")
    where = imagine(env, "a paper crane --seed 5 --steps 20 --cfg 9")
    [source] = images_of(where[2])
    upscaled = operate(env, where, "imagine_upscale")

    [call] = endpoints.invocations
    assert call.endpoint == UPSCALER
    assert (call.headers["content-type"], call.headers["accept"]) == (
        "application/json;jpeg",
        "application/json;jpeg",
    )
    assert (call.body["prompt"], call.body["num_inference_steps"], call.body["guidance_scale"]) == (
        "a paper crane",
        20,
        9.0,
    )
    assert isinstance(call.body["noise_level"], int) and difference(source, call.image()) < 2
    [image] = images_of(upscaled[2])
    assert image.size == (2048, 2048)
    assert "20 steps" in _context(upscaled[2])  # the endpoint uses them, so they are shown


def test_zoom_out_on_the_inpainting_endpoint_sends_the_padded_image_and_its_mask(
    env: Stack, endpoints: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ZOOM_MODEL=f"sagemaker:{INPAINTING}")
    where = imagine(env, "a paper crane --seed 5")
    [source] = images_of(where[2])
    zoomed = operate(env, where, "imagine_zoom_out")

    [call] = endpoints.invocations
    canvas, mask = call.image(), call.image("mask_image").convert("L")
    assert canvas.size == mask.size == (1024, 1024)
    middle = (256, 256, 768, 768)
    assert difference(source, canvas.crop(middle)) < 2
    assert ImageStat.Stat(mask.crop(middle)).mean[0] < 8  # black: kept
    assert ImageStat.Stat(mask.crop((0, 0, 1024, 200))).mean[0] > 247  # white: painted
    [image] = images_of(zoomed[2])
    assert image.size == (1024, 1024) and difference(source, image.crop(middle)) < 4


def test_no_button_for_an_operation_no_model_does_and_the_other_buttons_stay(
    env: Stack, endpoints: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, UPSCALE_MODEL=f"sagemaker:{UPSCALER}")
    where = imagine(env, "a paper crane --seed 5")
    assert [a for b, a, _, _ in buttons(where[2]) if b == EDITS] == ["imagine_upscale"]


def _context(message: dict[str, Any]) -> str:
    return " ".join(e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"])


def test_the_inpainting_endpoint_zooms_out_only_images_its_canvas_holds_unchanged(
    env: Stack, endpoints: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ZOOM_MODEL=f"sagemaker:{INPAINTING}")
    where = imagine(env, "a long train --seed 5 --ar 16:9")  # 680x384: a 1360x768 canvas
    click(env, where, "imagine_zoom_out", block_id=EDITS)
    assert queued_jobs(env) == [] and endpoints.invocations == []
    [said] = said_to_clicker(env, "paints a canvas of at most 1,048,576 pixels (1024×1024)")
    assert "this one is 680×384" in said["text"]
