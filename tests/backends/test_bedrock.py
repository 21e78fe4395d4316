"""IMAGE_BACKEND=bedrock: signed commands into http_handler, SQS events into worker_handler, and
Amazon Bedrock played by a runtime stand-in (tests/fakes/bedrock_runtime.py) that boto3 reaches
through AWS_ENDPOINT_URL_BEDROCK_RUNTIME and that refuses what Bedrock refuses, with the
request and answer shapes of AWS's own examples (tests/fixtures/bedrock_*.json)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from bot.backends import bedrock
from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.model import bedrock_models
from bot.model.job import Job
from bot.model.prompt import MAX_ASPECT, MAX_IMAGES, ImageRequest, UsageNeeded
from bot.services import process_services, reset_process_services
from bot.stores.images import image_key, image_link
from tests.conftest import (
    LINK_SECRET,
    STAGE,
    Stack,
    ack_json,
    call_http,
    call_worker,
    command_event,
    http_event,
    open_link,
)
from tests.fakes.bedrock_http import ERRORS, error
from tests.fakes.bedrock_runtime import MODELS, BedrockStandIn, schema_violations
from tests.fakes.bedrock_runtime import _size_refusal as size_refusal

NOVA, TITAN = "amazon.nova-canvas-v1:0", "amazon.titan-image-generator-v2:0"
SD35, CORE = "stability.sd3-5-large-v1:0", "stability.stable-image-core-v1:1"
ULTRA = "stability.stable-image-ultra-v1:1"
ALL = [NOVA, TITAN, SD35, CORE, ULTRA]
FILTERED = "a forbidden-subject in the rain"  # a prompt the stand-in's content filters refuse


@pytest.fixture
def bedrock_runtime() -> Iterator[BedrockStandIn]:
    stand_in = BedrockStandIn().start()
    yield stand_in
    stand_in.stop()


def _use(monkeypatch: pytest.MonkeyPatch, stand_in: BedrockStandIn, model_id: str, **settings: str) -> None:
    """Draw with ``model_id`` in the stand-in's region (us-west-2, where Bedrock serves Stability's
    models), from a stack whose own region is us-east-1 (the env fixture's)."""
    monkeypatch.setenv("IMAGE_BACKEND", "bedrock")
    monkeypatch.setenv("BEDROCK_MODEL_ID", model_id)
    monkeypatch.setenv("BEDROCK_REGION", stand_in.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stand_in.url)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_services()


def _ack(text: str) -> dict[str, Any]:
    return ack_json(call_http(command_event(text)))


def _queued_job(env: Stack) -> Job:
    [body] = env.peek()
    return Job.from_json(body)


# ---- the contract: every body the bot can send is one the model takes --------------------------


def _aspects() -> list[str]:
    """Every reduced W:H the prompt parser accepts with sides up to 12, extremes included."""
    import math

    found = {f"{w // math.gcd(w, h)}:{h // math.gcd(w, h)}" for w in range(1, 13) for h in range(1, 13)
             if max(w, h) <= MAX_ASPECT * min(w, h)}  # fmt: skip
    return sorted(found)


@pytest.mark.parametrize("model_id", ALL)
def test_the_fixtures_examples_keep_their_own_schemas(model_id: str) -> None:
    """AWS's example request for each model passes the schema the stand-in holds it to, so the
    stand-in is no stricter than Bedrock is with AWS's own examples."""
    spec = MODELS[model_id]
    assert schema_violations(spec["request"]["schema"], spec["request"]["example"]) == []
    assert size_refusal(spec, spec["request"]["example"]) is None


@pytest.mark.parametrize("model_id", ALL)
def test_every_request_the_bot_can_make_keeps_the_models_contract(model_id: str) -> None:
    model = bedrock_models.MODELS[model_id]
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
        bedrock_models.STABLE_IMAGE_CORE, bedrock.fit(bedrock_models.STABLE_IMAGE_CORE, request).request
    )
    assert [b["seed"] for b in bodies] == [4_294_967_293, 4_294_967_294, 1]  # 0 would be "random"


def test_nova_sizes_keep_to_a_megapixel_in_multiples_of_16() -> None:
    for aspect in _aspects():
        _, width, height = bedrock.shape(bedrock_models.NOVA_CANVAS, aspect)
        assert width % 16 == 0 and height % 16 == 0, aspect
        assert width * height <= 1024 * 1024, aspect
        assert min(width, height) >= 320, aspect
    assert bedrock.shape(bedrock_models.NOVA_CANVAS, "16:9") == ("16:9", 1360, 768)
    assert bedrock.shape(bedrock_models.NOVA_CANVAS, "1:1") == ("1:1", 1024, 1024)


def test_a_filtered_or_broken_answer_is_a_clear_backend_error() -> None:
    from bot.backends import BackendError

    filtered = json.dumps(MODELS[CORE]["response"]["filtered_example"]).encode()
    with pytest.raises(BackendError) as caught:
        bedrock.decode_response(bedrock_models.STABLE_IMAGE_CORE, filtered, 1)
    assert (caught.value.retryable, caught.value.reason) == (
        False,
        "Stable Image Core filtered it (Filter reason: prompt)",
    )
    inference = json.dumps({"seeds": [3], "finish_reasons": ["Inference error"], "images": []}).encode()
    with pytest.raises(BackendError) as caught:
        bedrock.decode_response(bedrock_models.SD35_LARGE, inference, 1)
    assert caught.value.retryable
    for raw in (b"<html>", b'{"images": ["bm90IGFuIGltYWdl"]}', b'{"images": []}'):
        with pytest.raises(BackendError) as caught:
            bedrock.decode_response(bedrock_models.NOVA_CANVAS, raw, 1)
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
    with pytest.raises(
        SettingsError, match="BEDROCK_MODEL_ID must name a model the bot draws with"
    ) as caught:
        Settings.from_env(_env(IMAGE_BACKEND="bedrock", BEDROCK_MODEL_ID="amazon.titan-image-generator-v1"))
    assert "titan" not in str(caught.value)  # never echoes the value
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
    _use(monkeypatch, bedrock_runtime, ULTRA)
    assert "`--steps` is not used by Stable Image Ultra." in json.dumps(_ack("a fox --steps 30"))
    env.receive()
    plain = _ack("a fox --ar 16:9")
    assert "not used" not in json.dumps(plain) and "drawn at" not in json.dumps(plain)  # nothing to say
    job = _queued_job(env)
    assert (job.request.width, job.request.height, job.request.guidance) == (1344, 768, 7.5)


def test_a_value_the_model_cannot_take_is_refused_and_nothing_queued(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, CORE)
    ack = _ack("a fox --seed 0")
    said = "from 1 to 4294967294 with Stable Image Core (0 asks it for a random seed)."
    assert said in ack["text"] and ack["text"].endswith("Nothing was queued.")
    assert ack["response_type"] == "ephemeral"
    assert env.peek() == []


@pytest.mark.parametrize(
    ("model", "asked", "said"),
    [
        (
            bedrock_models.NOVA_CANVAS,
            ImageRequest(prompt="a fox", guidance=15),
            "`--cfg` must be a number from 1.1 to 10",
        ),
        (
            bedrock_models.NOVA_CANVAS,
            ImageRequest(prompt="a fox", seed=858_993_460),
            "from 0 to 858993459 with Nova Canvas.",
        ),
        (
            bedrock_models.TITAN_V2,
            ImageRequest(prompt="x" * 600),
            "is 600 characters; Titan Image Generator v2 takes 512",
        ),
    ],
    ids=["cfg out of Nova's range", "seed past Nova's", "prompt past Titan's"],
)
def test_the_amazon_models_ranges_are_kept_until_their_end_of_life(
    model: bedrock_models.Model, asked: ImageRequest, said: str
) -> None:
    """Nova Canvas and Titan v2 are drawn with only before their end of life; until then their
    ranges hold as they did."""
    with pytest.raises(UsageNeeded) as caught:
        bedrock.fit(model, asked, chose_cfg=asked.guidance != 7.5)
    assert said in str(caught.value.problem)


# ---- the worker: a job through Bedrock into S3 and Slack -----------------------------------------


@pytest.mark.parametrize(
    ("model_id", "size", "calls"),
    [(SD35, (1344, 768), 2), (CORE, (1344, 768), 2), (ULTRA, (1344, 768), 2)],
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
    # One call an image, made at once: they arrive in either order.
    assert sorted((i.body for i in invocations), key=lambda body: body["seed"]) == [
        {"prompt": "a cyborg tiger", "aspect_ratio": "16:9", "seed": seed, "output_format": "jpeg",
         "negative_prompt": "text, blurry"}
        for seed in (42, 43)
    ]  # fmt: skip

    stored = env.stored()
    assert len(stored) == 2
    for jpeg in stored.values():
        assert jpeg.startswith(b"\xff\xd8\xff")
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
    # The result names only settings the model takes: neither steps nor cfg.
    assert "steps" not in shown and "cfg" not in shown
    for block in images:
        path = urlsplit(block["image_url"]).path.removeprefix(STAGE)
        assert call_http(http_event("http", "GET", path))["statusCode"] == 302


@pytest.mark.parametrize(
    ("model_id", "reason"),
    [
        (CORE, "Stable Image Core filtered it (Filter reason: prompt)"),
        (ULTRA, "Stable Image Ultra filtered it (Filter reason: prompt)"),
    ],
    ids=["Stable Image Core", "Stable Image Ultra"],
)
def test_a_content_filter_refusal_is_told_with_its_reason_and_never_retried(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch, model_id: str, reason: str
) -> None:
    _use(monkeypatch, bedrock_runtime, model_id)
    _ack(FILTERED)

    env.deliver_jobs(6)

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
    _use(monkeypatch, bedrock_runtime, SD35)
    bedrock_runtime.scripted.extend([error("ThrottlingException"), error("ThrottlingException")])
    _ack("a lighthouse at dusk")

    env.deliver_jobs(6)

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

    env.deliver_jobs(6)

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


def test_a_request_signed_with_the_wrong_key_is_refused_as_bedrock_refuses_it(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, CORE)
    bedrock_runtime.keys = {"testing": "another-secret"}
    _ack("a lighthouse at dusk")

    env.deliver_jobs(6)

    assert bedrock_runtime.invocations == []  # refused before any model ran
    [reason] = env.dead_letter_reasons()
    assert "InvalidSignatureException" in reason


# ---- today's models, and models that retire ------------------------------------------------------


class _Records(logging.Handler):
    """The log records of the bot's own logger (Powertools' "imagine", which does not propagate
    to the root logger pytest watches)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def bot_log() -> Iterator[_Records]:
    records = _Records()
    logger = logging.getLogger("imagine")
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


def test_a_model_past_its_end_of_life_still_lets_the_bot_serve_and_says_so_in_the_thread(
    env: Stack, monkeypatch: pytest.MonkeyPatch, bot_log: _Records
) -> None:
    """Nova Canvas is past its end of life (2026-09-30 in us-east-1: Bedrock's "Model lifecycle
    (Legacy)" page, https://docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html,
    read 2026-12-02), and Bedrock answers ResourceNotFoundException "This model version has
    reached the end of its life" (tests/fixtures/bedrock_errors.json). A stack still set to it
    must not stop: the http function acknowledges commands and opens the image links already
    posted, and each job says in its thread that the model was retired and what to set instead,
    is not tried again, and is dead-lettered with that reason. The start says it once, as a
    warning naming the Active models."""
    nova_region = BedrockStandIn(region="us-east-1").start()  # where Bedrock served Nova Canvas
    try:
        assert NOVA in nova_region.retired  # by its fixture's end of life, as Bedrock refuses it
        _use(monkeypatch, nova_region, NOVA)
        # An image delivered before the model was changed, and its stable link.
        key = image_key("T0001", "a" * 32, datetime(2026, 9, 1, tzinfo=UTC), 0)
        earlier = b"\xff\xd8\xff an earlier image"
        process_services().images.put(key, earlier, {"backend": "bedrock"})
        link = image_link(env.public_base_url, LINK_SECRET, key)

        ack = _ack("a lighthouse at dusk")
        assert ack["text"].startswith("Queued")
        assert open_link(link) == earlier

        env.deliver_jobs(6)

        assert nova_region.refused == [NOVA]  # once: deliveries were left, none was used
    finally:
        nova_region.stop()
    active = f"set BEDROCK_MODEL_ID to one of {CORE}, {ULTRA}, {SD35}"
    said = (
        "this model (Nova Canvas) has been retired by its provider: it has reached its end of life "
        f"on Bedrock; {active}"
    )
    told = env.slack.calls_to("chat.postMessage")[-1]
    assert told.args["thread_ts"] == env.slack.calls_to("chat.update")[0].args["ts"]
    assert "could not be rendered" in told.args["text"] and said in told.args["text"]
    [dead] = env.dead_letter_reasons()
    assert dead.startswith(said)
    warnings = [
        r.getMessage() for r in bot_log.records if r.levelno == logging.WARNING and "Nova" in r.getMessage()
    ]
    assert warnings == [
        "BEDROCK_MODEL_ID names Nova Canvas, which reached its end of life on Bedrock on 2026-09-30: "
        f"Bedrock will refuse every job until you {active}"
    ]
    assert open_link(link) == earlier  # and after the job failed, the link still opens


def test_the_lifecycle_helpers_follow_the_end_of_life_dates() -> None:
    """Before its end of life a Legacy model is known and drawn with, never offered as Active;
    after it, the template and the price list leave it out, and the start warns of it."""
    before, after = date(2026, 9, 29), date(2026, 9, 30)
    assert bedrock_models.unavailable(NOVA, before) is None
    assert bedrock_models.unavailable(NOVA, after) is None  # known: Bedrock's answer decides
    assert bedrock_models.retirement_warning(NOVA, before) is None
    assert "reached its end of life on Bedrock on 2026-09-30" in str(
        bedrock_models.retirement_warning(NOVA, after)
    )
    assert bedrock_models.retirement_warning(CORE, after) is None
    assert NOVA not in bedrock_models.active_ids(before)
    assert NOVA in bedrock_models.selectable_ids(before)
    assert bedrock_models.selectable_ids(bedrock_models.today()) == [CORE, ULTRA, SD35]


def test_the_default_model_is_active_today() -> None:
    model = bedrock_models.MODELS[bedrock_models.DEFAULT_MODEL_ID]
    assert model.model_id == CORE and model.lifecycle == bedrock_models.ACTIVE
    assert not bedrock_models.retired(model, bedrock_models.today())
    assert {m.model_id: m.regions for m in bedrock_models.MODELS.values() if m.marketplace} == {
        CORE: ("us-west-2",),
        ULTRA: ("us-west-2",),
        SD35: ("us-west-2",),
    }


def test_a_profile_id_aws_does_not_offer_is_refused_with_what_to_use_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No cross-Region inference profile is a Stability text-to-image model (ListInferenceProfiles
    in us-west-2 lists only Stability's image services; InvokeModel with
    us.stability.stable-image-core-v1:1 answers "The provided model identifier is invalid"), so a
    profile id for one is refused at start, saying which id and region work."""
    for name in ("SLACK_SECRET_ID", "LINK_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(_env(IMAGE_BACKEND="bedrock", BEDROCK_MODEL_ID="us." + CORE))
    assert str(caught.value) == (
        "BEDROCK_MODEL_ID names a cross-Region inference profile AWS does not offer for Stable Image "
        f"Core: use the model id {CORE} with BEDROCK_REGION set to us-west-2"
    )
    with pytest.raises(KeyError):
        bedrock_models.foundation_model("us." + CORE)


def test_foundation_model_maps_an_id_or_a_profile_to_its_model() -> None:
    resolved = bedrock_models.foundation_model(ULTRA)
    assert (resolved.model_id, resolved.foundation_model_id, resolved.model) == (
        ULTRA,
        ULTRA,
        bedrock_models.STABLE_IMAGE_ULTRA,
    )
    assert resolved.profile_regions == ()
    # A profile, once AWS offers one, goes to Bedrock as it is and draws with its model.
    profiled = replace(bedrock_models.SD35_LARGE, profiles={"us." + SD35: ("us-east-1", "us-west-2")})
    catalogue = {**bedrock_models.MODELS, SD35: profiled}
    via = bedrock_models.foundation_model("us." + SD35, catalogue)
    assert bedrock_models.selectable_ids(bedrock_models.today(), catalogue)[-1] == "us." + SD35
    assert (via.model_id, via.foundation_model_id, via.model) == ("us." + SD35, SD35, profiled)
    assert via.profile_regions == ("us-east-1", "us-west-2")
    with pytest.raises(KeyError):
        bedrock_models.foundation_model("stability.stable-diffusion-xl-v1")


def test_bedrock_region_must_be_a_region_code(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_SECRET_ID", "LINK_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="BEDROCK_REGION must be an AWS region code such as us-west-2"):
        Settings.from_env(_env(IMAGE_BACKEND="bedrock", BEDROCK_MODEL_ID=CORE, BEDROCK_REGION="Oregon"))
    settings = Settings.from_env(
        _env(IMAGE_BACKEND="bedrock", BEDROCK_MODEL_ID=CORE, BEDROCK_REGION="us-west-2")
    )
    assert settings.bedrock_region == "us-west-2"


def test_the_worker_calls_bedrock_in_bedrock_region_not_its_own(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack runs in us-east-1 (the env fixture's region); Stability's models are served in
    us-west-2 only. With BEDROCK_REGION the worker's client is built for us-west-2 and signs for
    it; without it, the process's own region is used, and Bedrock there refuses the scope."""
    _use(monkeypatch, bedrock_runtime, CORE)
    _ack("a lighthouse at dusk")
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [invocation] = bedrock_runtime.invocations
    assert "/us-west-2/bedrock/aws4_request" in invocation.headers["authorization"]
    assert len(env.stored()) == 1

    monkeypatch.delenv("BEDROCK_REGION")
    reset_process_services()
    _ack("a lighthouse at dawn")
    env.deliver_jobs(6)
    [reason] = env.dead_letter_reasons()
    assert "InvalidSignatureException" in reason  # "Credential should be scoped to a valid region"
    assert len(bedrock_runtime.invocations) == 1


@pytest.mark.parametrize(
    ("refusal", "why"),
    [
        ("end_of_life", "it has reached its end of life on Bedrock"),
        ("legacy_inactive", "its provider has retired it for accounts that have not used it lately"),
    ],
    ids=["end of life", "Legacy, not used lately"],
)
def test_a_retired_model_is_said_as_retired_never_retried_and_dead_lettered_so(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch, refusal: str, why: str
) -> None:
    """Bedrock retires a model the bot still lists (an end of life announced after this release,
    or a Legacy model this account stopped using): ResourceNotFoundException with Bedrock's own
    words (tests/fixtures/bedrock_errors.json, "refusals"). The thread says what happened and what
    to set instead, the job is not tried again, and the dead-letter reason says the same."""
    assert ERRORS["refusals"][refusal]["code"] == "ResourceNotFoundException"
    _use(monkeypatch, bedrock_runtime, CORE)
    if refusal == "end_of_life":
        bedrock_runtime.retired = {CORE}
    else:
        bedrock_runtime.legacy_inactive = {CORE}
    _ack("a lighthouse at dusk")

    env.deliver_jobs(6)

    assert bedrock_runtime.refused == [CORE]  # once: deliveries were left, none was used
    said = (
        f"this model (Stable Image Core) has been retired by its provider: {why}; "
        f"set BEDROCK_MODEL_ID to one of {ULTRA}, {SD35}"
    )
    told = env.slack.calls_to("chat.postMessage")[-1]
    assert told.args["thread_ts"] == env.slack.calls_to("chat.update")[0].args["ts"]
    assert "could not be rendered" in told.args["text"] and said in told.args["text"]
    [dead] = env.dead_letter_reasons()
    assert dead.startswith(said)
    assert env.stored() == {}


SETTING_UP = (
    "the image service is still being set up for this account (its first use of {name} subscribes it "
    "through AWS Marketplace, which can take a few minutes); if this lasts, the worker's role needs "
    "aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions"
)


def test_a_first_invocation_refused_while_the_subscription_settles_is_retried_until_it_draws(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bedrock's "Model access" page was retired: a Marketplace model is subscribed on its first
    invocation, and "it may take up to 2 minutes for the subscription to complete. During this
    time, API calls may continue to return AccessDeniedException"
    (https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html). So a team's first
    job is handed back (no retry within a delivery here: a budget of 0), the message says it is
    retrying and why in plain words, and a later delivery posts the image."""
    _use(monkeypatch, bedrock_runtime, ULTRA, RENDER_BUDGET_SECONDS="0")
    bedrock_runtime.subscribed, bedrock_runtime.may_subscribe = set(), True
    bedrock_runtime.subscription_refusals = 2
    _ack("a lighthouse at dusk")

    env.deliver_jobs(6)

    assert bedrock_runtime.refused == [ULTRA, ULTRA]  # two deliveries refused, the third drew
    assert bedrock_runtime.subscribed == {ULTRA}
    assert env.dead_letter_reasons() == []
    updates = [json.dumps(c.args, ensure_ascii=False) for c in env.slack.calls_to("chat.update")]
    retrying = [u for u in updates if "retrying" in u]
    assert len(retrying) == 2
    assert all(SETTING_UP.format(name="Stable Image Ultra") in u for u in retrying)
    assert "Model access" not in " ".join(updates)
    assert '"type": "image"' in updates[-1]
    assert len(env.stored()) == 1


def test_a_subscription_that_never_settles_is_told_and_dead_lettered_naming_the_permissions(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller without aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions: the
    subscription fails, and every call answers AccessDeniedException (the fixture's words, which
    name both actions). Each delivery is retried, and the last one tells the requester and files
    the job with a reason that names the permissions the worker's role needs."""
    _use(monkeypatch, bedrock_runtime, ULTRA, RENDER_BUDGET_SECONDS="0")
    bedrock_runtime.subscribed = set()
    _ack("a lighthouse at dusk")

    env.deliver_jobs(6)

    max_receive_count = process_services().settings.max_receive_count
    assert bedrock_runtime.refused == [ULTRA] * max_receive_count  # every delivery was tried
    told = env.slack.calls_to("chat.postMessage")[-1].args["text"]
    said = SETTING_UP.format(name="Stable Image Ultra")
    assert "could not be rendered" in told and said in told
    assert "Model access" not in told
    [dead] = env.dead_letter_reasons()
    assert dead.startswith(said)
    assert env.stored() == {}


def test_a_caller_that_may_subscribe_draws_on_the_first_invocation(
    env: Stack, bedrock_runtime: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, bedrock_runtime, SD35)
    bedrock_runtime.subscribed, bedrock_runtime.may_subscribe = set(), True
    _ack("a lighthouse at dusk")

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    assert bedrock_runtime.subscribed == {SD35} and bedrock_runtime.refused == []
    assert len(env.stored()) == 1


def test_a_content_filter_refusal_of_an_amazon_model_keeps_the_models_words() -> None:
    """Nova's and Titan's filters answer ValidationException (their fixtures' content_filter)."""
    from botocore.exceptions import ClientError

    words = MODELS[NOVA]["content_filter"]["prompt"]
    refused = ClientError({"Error": {"Code": "ValidationException", "Message": words}}, "InvokeModel")
    caught = bedrock.client_error(bedrock_models.NOVA_CANVAS, refused)
    assert (caught.reason, caught.retryable) == (f"Nova Canvas refused it: {words}", False)
