"""IMAGE_BACKEND=bedrock: signed commands into http_handler, SQS events into worker_handler, and
Amazon Bedrock played by a runtime stand-in (tests/fakes/bedrock_runtime.py) that boto3 reaches
through AWS_ENDPOINT_URL_BEDROCK_RUNTIME and that refuses what Bedrock refuses, with the
request and answer shapes of AWS's own examples (tests/fixtures/bedrock_*.json)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from bot import handlers
from bot.backends import bedrock
from bot.jobs import Job
from bot.local.poller import Poller
from bot.prompt import MAX_ASPECT, MAX_IMAGES, ImageRequest
from bot.settings import Settings, SettingsError
from tests.conftest import STAGE, Stack, ack_json, call_http, call_worker, command_event, http_event
from tests.fakes.bedrock_runtime import MODELS, BedrockStandIn, error, schema_violations
from tests.fakes.bedrock_runtime import _size_refusal as size_refusal

NOVA, TITAN = "amazon.nova-canvas-v1:0", "amazon.titan-image-generator-v2:0"
SD35, CORE = "stability.sd3-5-large-v1:0", "stability.stable-image-core-v1:1"
FILTERED = "a forbidden-subject in the rain"  # a prompt the stand-in's content filters refuse


@pytest.fixture
def bedrock_runtime() -> Iterator[BedrockStandIn]:
    stand_in = BedrockStandIn().start()
    yield stand_in
    stand_in.stop()


def _use(monkeypatch: pytest.MonkeyPatch, stand_in: BedrockStandIn, model_id: str, **settings: str) -> None:
    monkeypatch.setenv("IMAGE_BACKEND", "bedrock")
    monkeypatch.setenv("BEDROCK_MODEL_ID", model_id)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stand_in.url)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    handlers.reset()


def _ack(text: str) -> dict[str, Any]:
    return ack_json(call_http(command_event(text)))


def _queued_job(env: Stack) -> Job:
    [body] = env.peek()
    return Job.from_json(body)


def _settle(deliveries: int = 6) -> None:
    """Deliver queued jobs to worker_handler as Lambda's event source would, a failed one again
    at once, until none is left."""
    services = handlers.services()
    poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0)
    for _ in range(deliveries):
        if not poller.poll_once():
            return
    raise AssertionError("the job never settled")


# ---- the contract: every body the bot can send is one the model takes --------------------------


def _aspects() -> list[str]:
    """Every reduced W:H the prompt parser accepts with sides up to 12, extremes included."""
    import math

    found = {f"{w // math.gcd(w, h)}:{h // math.gcd(w, h)}" for w in range(1, 13) for h in range(1, 13)
             if max(w, h) <= MAX_ASPECT * min(w, h)}  # fmt: skip
    return sorted(found)


@pytest.mark.parametrize("model_id", [NOVA, TITAN, SD35, CORE])
def test_the_fixtures_examples_keep_their_own_schemas(model_id: str) -> None:
    """AWS's example request for each model passes the schema the stand-in holds it to, so the
    stand-in is no stricter than Bedrock is with AWS's own examples."""
    spec = MODELS[model_id]
    assert schema_violations(spec["request"]["schema"], spec["request"]["example"]) == []
    assert size_refusal(spec, spec["request"]["example"]) is None


@pytest.mark.parametrize("model_id", [NOVA, TITAN, SD35, CORE])
def test_every_request_the_bot_can_make_keeps_the_models_contract(model_id: str) -> None:
    model = bedrock.MODELS[model_id]
    spec = MODELS[model_id]
    low, high = model.seeds
    longest = "x" * model.prompt_chars
    for aspect in _aspects():
        for count in range(1, MAX_IMAGES + 1):
            for seed in (low, high):
                request = ImageRequest(
                    prompt=longest, negative_prompt=longest, aspect=aspect, seed=seed, count=count
                )
                fitted = bedrock.fit(model, request).request
                bodies = bedrock.request_bodies(model, fitted)
                assert len(bodies) == (1 if model.family == "amazon" else count)
                for body in bodies:
                    where = (aspect, count, seed)
                    assert schema_violations(spec["request"]["schema"], body) == [], where
                    assert size_refusal(spec, body) is None, where
                    if model.family == "stability":  # drawn at the size the bot says it is
                        assert spec["response"]["image_sizes"][body["aspect_ratio"]] == [
                            fitted.width,
                            fitted.height,
                        ]


def test_stability_images_get_their_own_seeds_within_the_models_range() -> None:
    request = ImageRequest(prompt="a fox", seed=4_294_967_293, count=3)
    bodies = bedrock.request_bodies(
        bedrock.STABLE_IMAGE_CORE, bedrock.fit(bedrock.STABLE_IMAGE_CORE, request).request
    )
    assert [b["seed"] for b in bodies] == [4_294_967_293, 4_294_967_294, 1]  # 0 would be "random"


def test_nova_sizes_keep_to_a_megapixel_in_multiples_of_16() -> None:
    for aspect in _aspects():
        _, width, height = bedrock.shape(bedrock.NOVA_CANVAS, aspect)
        assert width % 16 == 0 and height % 16 == 0, aspect
        assert width * height <= 1024 * 1024, aspect
        assert min(width, height) >= 320, aspect
    assert bedrock.shape(bedrock.NOVA_CANVAS, "16:9") == ("16:9", 1360, 768)
    assert bedrock.shape(bedrock.NOVA_CANVAS, "1:1") == ("1:1", 1024, 1024)


def test_a_filtered_or_broken_answer_is_a_clear_backend_error() -> None:
    from bot.backends import BackendError

    filtered = json.dumps(MODELS[CORE]["response"]["filtered_example"]).encode()
    with pytest.raises(BackendError) as caught:
        bedrock.decode_response(bedrock.STABLE_IMAGE_CORE, filtered, 1)
    assert (caught.value.retryable, caught.value.reason) == (
        False,
        "Stable Image Core filtered it (Filter reason: prompt)",
    )
    inference = json.dumps({"seeds": [3], "finish_reasons": ["Inference error"], "images": []}).encode()
    with pytest.raises(BackendError) as caught:
        bedrock.decode_response(bedrock.SD35_LARGE, inference, 1)
    assert caught.value.retryable
    for raw in (b"<html>", b'{"images": ["bm90IGFuIGltYWdl"]}', b'{"images": []}'):
        with pytest.raises(BackendError) as caught:
            bedrock.decode_response(bedrock.NOVA_CANVAS, raw, 1)
        assert not caught.value.retryable


# ---- settings ----------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {
        "JOBS_QUEUE_URL": "https://sqs.example/jobs",
        "TASKS_QUEUE_URL": "https://sqs.example/tasks",
        "JOBS_TABLE": "jobs",
        "IMAGES_BUCKET": "images",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "LINK_SECRET": "k" * 32,
        **extra,
    }


def test_bedrock_needs_a_model_it_supports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_SECRET_ID", "LINK_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="BEDROCK_MODEL_ID is required"):
        Settings.from_env(_env(IMAGE_BACKEND="bedrock"))
    with pytest.raises(SettingsError, match="BEDROCK_MODEL_ID must be one of") as caught:
        Settings.from_env(_env(IMAGE_BACKEND="bedrock", BEDROCK_MODEL_ID="amazon.titan-image-generator-v1"))
    assert "titan-image-generator-v1" not in str(caught.value).replace(TITAN, "")  # never echoes the value
    settings = Settings.from_env(_env(IMAGE_BACKEND="Bedrock", BEDROCK_MODEL_ID=CORE))
    assert (settings.image_backend, settings.bedrock_model_id) == ("bedrock", CORE)
    assert (
        Settings.from_env(_env(BEDROCK_MODEL_ID="anything")).bedrock_model_id == ""
    )  # other backends ignore it


# ---- the acknowledgement: what the model does not use, and what it cannot take -------------------


def test_the_acknowledgement_names_the_options_the_model_does_not_use(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, CORE)
    ack = _ack("a fox in the snow --steps 40 --cfg 9 --ar 4:3")

    shown = json.dumps(ack, ensure_ascii=False)
    assert "`--steps` is not used by Stable Image Core." in shown
    assert "`--cfg` is not used by Stable Image Core." in shown
    assert "`--ar 4:3` is drawn at 5:4 (1088×896), the closest Stable Image Core makes." in shown
    assert ack["text"].startswith("Queued") and "is not used by" in ack["text"]
    job = _queued_job(env)
    assert (job.request.aspect, job.request.width, job.request.height) == ("5:4", 1088, 896)
    assert job.request.seed is not None and 1 <= job.request.seed <= 4_294_967_294
    assert bedrock_runtime.invocations == []  # the http function calls no model


def test_an_option_written_at_its_default_is_still_said_to_be_unused(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, NOVA)
    assert "`--steps` is not used by Nova Canvas." in json.dumps(_ack("a fox --steps 30"))
    env.receive()
    plain = _ack("a fox --ar 16:9")
    assert "not used" not in json.dumps(plain) and "drawn at" not in json.dumps(plain)  # nothing to say
    job = _queued_job(env)
    assert (job.request.width, job.request.height, job.request.guidance) == (1360, 768, 7.5)


@pytest.mark.parametrize(
    ("model_id", "text", "said"),
    [
        (NOVA, "a fox --cfg 15", "`--cfg` must be a number from 1.1 to 10 with Nova Canvas."),
        (
            NOVA,
            "a fox --seed 858993460",
            "`--seed` must be a whole number from 0 to 858993459 with Nova Canvas.",
        ),
        (
            CORE,
            "a fox --seed 0",
            "from 1 to 4294967294 with Stable Image Core (0 asks it for a random seed).",
        ),
        (
            TITAN,
            "a fox " + "x" * 600,
            "The prompt is 606 characters; Titan Image Generator v2 takes 512 at most.",
        ),
    ],
    ids=["cfg out of Nova's range", "seed past Nova's", "Stability's random seed", "prompt past Titan's"],
)
def test_a_value_the_model_cannot_take_is_refused_and_nothing_queued(
    env: Stack,
    bedrock_runtime: BedrockStandIn,
    monkeypatch: pytest.MonkeyPatch,
    model_id: str,
    text: str,
    said: str,
) -> None:
    _use(monkeypatch, bedrock_runtime, model_id)
    ack = _ack(text)
    assert said in ack["text"] and ack["text"].endswith("Nothing was queued.")
    assert ack["response_type"] == "ephemeral"
    assert env.peek() == []


# ---- the worker: a job through Bedrock into S3 and Slack -----------------------------------------


@pytest.mark.parametrize(
    ("model_id", "size", "calls"),
    [(NOVA, (1360, 768), 1), (TITAN, (1173, 640), 1), (SD35, (1344, 768), 2), (CORE, (1344, 768), 2)],
)
def test_a_job_renders_on_bedrock_into_s3_and_slack(
    env: Stack,
    bedrock_runtime: BedrockStandIn,
    monkeypatch: pytest.MonkeyPatch,
    model_id: str,
    size: tuple[int, int],
    calls: int,
) -> None:
    _use(monkeypatch, bedrock_runtime, model_id)
    _ack("a cyborg tiger --ar 16:9 --seed 42 --n 2 --no text, blurry")

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    invocations = bedrock_runtime.calls_to(model_id)
    assert len(invocations) == calls
    assert all(i.path == f"/model/{model_id.replace(':', '%3A')}/invoke" for i in invocations)
    assert all(
        i.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/") for i in invocations
    )
    if model_id.startswith("amazon."):
        [invocation] = invocations
        assert invocation.body == {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": "a cyborg tiger", "negativeText": "text, blurry"},
            "imageGenerationConfig": {"numberOfImages": 2, "quality": "standard", "width": size[0],
                                      "height": size[1], "cfgScale": 7.5, "seed": 42},
        }  # fmt: skip
    else:
        # One call an image, made at once: they arrive in either order.
        assert sorted((i.body for i in invocations), key=lambda body: body["seed"]) == [
            {"prompt": "a cyborg tiger", "aspect_ratio": "16:9", "seed": seed, "output_format": "jpeg",
             "negative_prompt": "text, blurry"}
            for seed in (42, 43)
        ]  # fmt: skip

    stored = env.stored()
    assert len(stored) == 2
    for jpeg in stored.values():
        assert jpeg.startswith(b"\xff\xd8\xff")  # JPEG, whatever the model sent (Nova and Titan: PNG)
        with Image.open(io.BytesIO(jpeg)) as image:
            assert (image.format, image.size) == ("JPEG", size)
    head = env.services.s3.head_object(Bucket=env.resources.bucket, Key=sorted(stored)[0])
    assert head["Metadata"]["backend"] == "bedrock"
    assert head["Metadata"]["size"] == f"{size[0]}x{size[1]}"

    [updated] = env.slack.calls_to("chat.update")
    images = [b for b in updated.args["blocks"] if b["type"] == "image"]
    assert len(images) == 2
    shown = json.dumps(updated.args["blocks"], ensure_ascii=False)
    assert f"{size[0]}×{size[1]}" in shown
    # The result names only settings the model takes: steps never, cfg only for Nova and Titan.
    assert "steps" not in shown
    assert ("cfg 7.5" in shown) == model_id.startswith("amazon.")
    for block in images:
        path = urlsplit(block["image_url"]).path.removeprefix(STAGE)
        assert call_http(http_event("http", "GET", path))["statusCode"] == 302


@pytest.mark.parametrize(
    ("model_id", "reason"),
    [
        (NOVA, "Nova Canvas refused it: This request has been blocked by our content filters."),
        (TITAN, "Titan Image Generator v2 refused it: This request has been blocked by our content filters."),
        (CORE, "Stable Image Core filtered it (Filter reason: prompt)"),
    ],
    ids=["Nova Canvas", "Titan", "Stable Image Core"],
)
def test_a_content_filter_refusal_is_told_with_its_reason_and_never_retried(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch, model_id: str, reason: str
) -> None:
    _use(monkeypatch, bedrock_runtime, model_id)
    _ack(FILTERED)

    _settle()

    assert len(bedrock_runtime.invocations) == 1  # deliveries were left; none was used
    [painting, told] = env.slack.calls_to("chat.postMessage")
    assert not painting.args.get("thread_ts")  # the job's one channel message; the reason in its thread
    assert told.args["thread_ts"] == env.slack.calls_to("chat.update")[0].args["ts"]
    assert "could not be rendered" in told.args["text"]
    assert reason in told.args["text"]
    [dead] = env.dead_letter_reasons()
    assert dead.startswith(reason)
    assert env.stored() == {}


def test_throttling_is_retried_until_the_image_comes(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, NOVA)
    bedrock_runtime.scripted.extend([error("ThrottlingException"), error("ThrottlingException")])
    _ack("a lighthouse at dusk")

    _settle()

    assert len(bedrock_runtime.invocations) == 3
    assert env.dead_letter_reasons() == []
    assert len([c for c in env.slack.calls_to("chat.postMessage") if c.ok]) == 1  # one message, updated
    [result] = [c for c in env.slack.calls_to("chat.update") if '"type": "image"' in json.dumps(c.args)]
    assert result.ok and len(env.stored()) == 1


def test_throttling_past_the_render_budget_comes_back_saying_retrying(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No retry inside the delivery (a budget of 0): the job is handed back, the message says
    "retrying" with the service's reason, and the next delivery draws it."""
    _use(monkeypatch, bedrock_runtime, CORE, RENDER_BUDGET_SECONDS="0")
    bedrock_runtime.scripted.append(error("ServiceUnavailableException"))
    _ack("a lighthouse at dusk --n 2")

    _settle()

    # Two images a delivery, one call each: the first delivery's second call was drawn too, but
    # its image is not kept without the other, so both are drawn again.
    assert len(bedrock_runtime.invocations) == 4
    updates = env.slack.calls_to("chat.update")
    assert "ServiceUnavailableException" in json.dumps(updates[0].args) and "retrying" in json.dumps(
        updates[0].args
    )
    assert '"type": "image"' in json.dumps(updates[-1].args)
    assert env.dead_letter_reasons() == []
    assert len(env.stored()) == 2


def test_a_model_the_account_may_not_use_is_told_and_not_retried(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, TITAN)
    bedrock_runtime.enabled = {NOVA}  # model access granted for another model only
    _ack("a lighthouse at dusk")

    _settle()

    [reason] = env.dead_letter_reasons()
    assert "Model access in the Bedrock console" in reason
    assert "could not be rendered" in env.slack.calls_to("chat.postMessage")[-1].args["text"]


def test_a_request_signed_with_the_wrong_key_is_refused_as_bedrock_refuses_it(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, NOVA)
    bedrock_runtime.keys = {"testing": "another-secret"}
    _ack("a lighthouse at dusk")

    _settle()

    assert bedrock_runtime.invocations == []  # refused before any model ran
    [reason] = env.dead_letter_reasons()
    assert "InvalidSignatureException" in reason
