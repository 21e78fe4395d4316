"""The stand-ins for the image operations, driven with real boto3 clients: Bedrock's image services
and SD3.5 image-to-image (tests/fakes/bedrock_runtime.py, bedrock_images.py) and the JumpStart
upscaling and inpainting endpoints (tests/fakes/sagemaker_runtime.py), each held to its fixture
(tests/fixtures/bedrock_stable_*.json, bedrock_sd35_large.json, jumpstart_upscaling.json,
jumpstart_inpainting.json): a request AWS's pages describe gets a real image of the documented
size, and what they rule out is refused, in Bedrock's or the container's words."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image, ImageChops, ImageDraw, ImageStat

from tests.fakes.bedrock_http import ERRORS, error
from tests.fakes.bedrock_runtime import MODELS, BedrockStandIn
from tests.fakes.image_ops import sent_image
from tests.fakes.jumpstart_contract import CONTRACTS, response_problems
from tests.fakes.sagemaker_runtime import SageMakerStandIn

FAST, CONSERVATIVE = "us.stability.stable-fast-upscale-v1:0", "us.stability.stable-conservative-upscale-v1:0"
CREATIVE, OUTPAINT = "us.stability.stable-creative-upscale-v1:0", "us.stability.stable-outpaint-v1:0"
SEARCH_REPLACE, SD35 = "us.stability.stable-image-search-replace-v1:0", "stability.sd3-5-large-v1:0"
SERVICES = [FAST, CONSERVATIVE, CREATIVE, OUTPAINT, SEARCH_REPLACE]
FILTERED = "a forbidden-subject in the rain"  # a prompt the stand-in's content filters refuse
UPSCALER, INPAINTER = "x4-upscaler", "sd2-inpainting"  # SageMaker endpoints
SPEAKING = {UPSCALER: "upscaling", INPAINTER: "inpainting"}  # each one's contract; others: text_to_image
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})
SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
JSON, JPEG_JSON = "application/json", "application/json;jpeg"


def picture(width: int, height: int, kind: str = "JPEG") -> bytes:
    """A deterministic picture: colour gradients with a dark disc, so regions can be compared."""
    ramp = Image.linear_gradient("L")
    image = Image.merge("RGB", (ramp.resize((width, height)), ramp.rotate(90).resize((width, height)),
                                Image.new("L", (width, height), 90)))  # fmt: skip
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, height // 2), fill=(20, 20, 20))
    return jpeg(image, kind)


def jpeg(image: Image.Image, kind: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decoded(value: str) -> Image.Image:
    return sent_image({"image": value}, "image")  # the stand-ins' own reader: base64 to a loaded image


def difference(a: Image.Image, b: Image.Image) -> float:
    """The mean absolute difference of two images of one size, 0 to 255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@contextlib.contextmanager
def started(**settings: Any) -> Iterator[BedrockStandIn]:
    stand_in = BedrockStandIn(**settings).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture
def bedrock() -> Iterator[BedrockStandIn]:
    with started() as stand_in:  # us-west-2: a source Region of the image services' profiles
        yield stand_in


def invoke(stand_in: BedrockStandIn, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """InvokeModel through a real bedrock-runtime client, signed for the stand-in's region."""
    client = SESSION.client("bedrock-runtime", region_name=stand_in.region, endpoint_url=stand_in.url,
                            config=ONE_ATTEMPT)  # fmt: skip
    answer = client.invoke_model(modelId=model_id, body=json.dumps(body), contentType=JSON, accept=JSON)
    reply: dict[str, Any] = json.loads(answer["body"].read())
    return reply


def refusal(stand_in: BedrockStandIn, model_id: str, body: dict[str, Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as refused:
        invoke(stand_in, model_id, body)
    found = refused.value.response
    return found["ResponseMetadata"]["HTTPStatusCode"], found["Error"]["Code"], found["Error"]["Message"]


def bot_body(model_id: str, image: bytes, **changes: Any) -> dict[str, Any]:
    """What the bot will send each model (its operations' bodies), with ``changes`` (None: left out)."""
    sent, common = b64(image), {"seed": 7, "output_format": "jpeg"}
    bodies: dict[str, dict[str, Any]] = {
        FAST: {"image": sent, "output_format": "jpeg"},
        CONSERVATIVE: {"prompt": "a lighthouse", "image": sent, "creativity": 0.35, "negative_prompt": "x"},
        CREATIVE: {"prompt": "a lighthouse", "image": sent, "creativity": 0.3},
        OUTPAINT: {"image": sent, "left": 10, "right": 20, "up": 5, "down": 15, "prompt": "sea",
                   "creativity": 0.5},
        SEARCH_REPLACE: {"prompt": "a boat", "search_prompt": "the disc", "image": sent,
                         "negative_prompt": "x"},
        SD35: {"prompt": "a lighthouse", "mode": "image-to-image", "image": sent, "strength": 0.6,
               "negative_prompt": "x"},
    }  # fmt: skip
    return given({} if model_id == FAST else common, bodies[model_id.replace("us." + SD35, SD35)], changes)


def given(*parts: dict[str, Any]) -> dict[str, Any]:
    """The parts merged, the later winning, and a field given as None left out."""
    merged = {name: value for part in parts for name, value in part.items()}
    return {name: value for name, value in merged.items() if value is not None}


@pytest.mark.parametrize(
    ("model_id", "size", "expected"),
    [
        (FAST, (64, 48), (256, 192)),  # "enhances image resolution by 4 times"
        (CONSERVATIVE, (96, 64), (384, 256)),  # 4x each side, up to 4K
        (CREATIVE, (96, 64), (384, 256)),
        (CONSERVATIVE, (1600, 800), (4096, 2048)),  # never past 4K: the longer side at 4,096
        (OUTPAINT, (96, 64), (126, 84)),  # grown by left + right, up + down
        (SEARCH_REPLACE, (96, 64), (96, 64)),
        (SD35, (96, 64), (96, 64)),
    ],
)
def test_each_model_answers_a_valid_request_with_a_jpeg_of_the_documented_size(
    bedrock: BedrockStandIn, model_id: str, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    sent = picture(*size)
    reply = invoke(bedrock, model_id, bot_body(model_id, sent))
    assert set(reply) == {"seeds", "finish_reasons", "images"} and reply["finish_reasons"] == [None]
    assert reply["seeds"] == [7] or model_id == FAST  # Fast Upscale takes no seed
    [image] = [decoded(value) for value in reply["images"]]
    assert (image.format, image.size) == ("JPEG", expected)
    [call] = bedrock.calls_to(model_id)
    assert call.path == f"/model/{model_id.replace(':', '%3A')}/invoke"
    assert call.image().format == "JPEG" and difference(call.image(), Image.open(io.BytesIO(sent))) == 0


def test_an_answer_differs_from_its_input_and_outpaint_keeps_the_input(bedrock: BedrockStandIn) -> None:
    sent, top_left = Image.open(io.BytesIO(picture(96, 64))), (0, 0, 60, 40)
    edited = decoded(invoke(bedrock, SEARCH_REPLACE, bot_body(SEARCH_REPLACE, picture(96, 64)))["images"][0])
    corner = (72, 40, 96, 64)  # the mark: a quarter of the shorter side, lower right
    assert difference(edited.crop(corner), sent.crop(corner)) > 60
    assert difference(edited.crop(top_left), sent.crop(top_left)) < 6

    upscaled = decoded(invoke(bedrock, FAST, bot_body(FAST, picture(96, 64)))["images"][0])
    assert difference(upscaled.resize((96, 64)).crop(top_left), sent.crop(top_left)) < 6

    grown = decoded(invoke(bedrock, OUTPAINT, bot_body(OUTPAINT, picture(96, 64)))["images"][0])
    assert difference(grown.crop((10, 5, 106, 69)), sent) < 6  # the input, at (left, up)
    margin = grown.crop((0, 0, 10, 84))
    assert difference(margin, Image.new("RGB", margin.size, grown.getpixel((1, 1)))) < 3  # new content


@pytest.mark.parametrize("model_id", [*SERVICES, SD35])
def test_the_pages_examples_are_answered_in_png(bedrock: BedrockStandIn, model_id: str) -> None:
    """AWS's example for each model (SD3.5's sends image and strength with no mode) is taken,
    here with a WebP image; none asks for an output_format, so the answer is a PNG."""
    request = MODELS[model_id.removeprefix("us.")]["request"]
    example = request.get("image_to_image_example", request["example"])
    reply = invoke(bedrock, model_id, {**example, "image": b64(picture(128, 96, "WEBP"))})
    assert reply["finish_reasons"] == [None] and decoded(reply["images"][0]).format == "PNG"


MALFORMED = "Malformed input request: {}, please reformat your input and try again."
NO_DIRECTION = MODELS["stability.stable-outpaint-v1:0"]["request"]["rules"][0]["says"]  # the page's words


@pytest.mark.parametrize(
    ("model_id", "changes", "said"),
    [
        (FAST, {"prompt": "x"}, "#: extraneous key [prompt] is not permitted"),
        (FAST, {"output_format": "gif"}, "#/output_format: gif is not a valid enum value"),
        (CONSERVATIVE, {"creativity": 0.6}, "#/creativity: 0.6 is not less or equal to 0.5"),
        (CREATIVE, {"seed": 4294967295}, "#/seed: 4294967295 is not less or equal to 4294967294"),
        (CREATIVE, {"prompt": None}, "#: required key [prompt] not found"),
        (OUTPAINT, {"left": 2001}, "#/left: 2001 is not less or equal to 2000"),
        (OUTPAINT, {"negative_prompt": "x"}, "#: extraneous key [negative_prompt] is not permitted"),
        (OUTPAINT, {"left": 0, "right": 0, "up": None, "down": None}, f"#: {NO_DIRECTION.rstrip('.')}"),
        (SEARCH_REPLACE, {"search_prompt": None}, "#: required key [search_prompt] not found"),
        (SD35, {"strength": 1.5}, "#/strength: 1.5 is not less or equal to 1"),
        (SD35, {"strength": None}, "#: required key [strength] not found"),
        (SD35, {"aspect_ratio": "16:9"}, "#: extraneous key [aspect_ratio] is not permitted"),
        (SD35, {"mode": "text-to-image"}, "2 schema violations found"),  # image and strength
    ],
)
def test_a_body_breaking_the_models_schema_is_refused_in_bedrocks_words(
    bedrock: BedrockStandIn, model_id: str, changes: dict[str, Any], said: str
) -> None:
    refused = refusal(bedrock, model_id, bot_body(model_id, picture(96, 64), **changes))
    assert refused == (400, "ValidationException", MALFORMED.format(said))


@pytest.mark.parametrize(
    ("model_id", "sent", "said"),
    [
        (FAST, picture(1600, 100), "Width must be between 32 and 1,536 pixels."),
        (FAST, picture(64, 20), "Height must be between 32 and 1,536 pixels."),
        (FAST, picture(1100, 1000), "Total pixel count must be between 1,024 and 1,048,576 pixels."),
        (FAST, picture(64, 64, "GIF"), "Supported formats: jpeg, png, webp."),
        (CONSERVATIVE, picture(300, 100), "Image aspect ratio must be between 1:2.5 and 2.5:1."),
        (CONSERVATIVE, picture(63, 100), "Every side of the image must be at least 64 pixels."),
        (CREATIVE, picture(1100, 1000), "Total pixel count must be between 4,096 and 1,048,576 pixels."),
        (OUTPAINT, picture(100, 63), "Every side of the image must be at least 64 pixels."),
        (SEARCH_REPLACE, picture(64, 200), "Image aspect ratio must be between 1:2.5 and 2.5:1."),
        (SEARCH_REPLACE, b"not an image", "Supported formats: jpeg, png, webp."),
        (SD35, picture(60, 80), "Minimum 64 pixels per side."),
        (SD35, picture(64, 64, "BMP"), "Supported formats: jpeg, png, webp."),
    ],
)
def test_an_image_the_model_does_not_take_is_refused_with_its_documented_limit(
    bedrock: BedrockStandIn, model_id: str, sent: bytes, said: str
) -> None:
    refused = refusal(bedrock, model_id, bot_body(model_id, sent))
    assert refused == (400, "ValidationException", MALFORMED.format(f"#/image: {said.rstrip('.')}"))


@pytest.mark.parametrize("model_id", SERVICES)
def test_the_own_id_of_a_profile_only_model_is_refused(bedrock: BedrockStandIn, model_id: str) -> None:
    bare = model_id.removeprefix("us.")
    said = (
        f"Invocation of model ID {bare} with on-demand throughput isn\u2019t supported. Retry your request "
        "with the ID or ARN of an inference profile that contains this model."
    )
    assert refusal(bedrock, bare, bot_body(model_id, picture(96, 64))) == (400, "ValidationException", said)
    assert bedrock.invocations == []


INVALID = ERRORS["errors"]["ValidationException"]["message"]  # "The provided model identifier is invalid."


@pytest.mark.parametrize(
    ("region", "model_id", "answered"),
    [
        ("us-east-1", FAST, True),  # the profile's source Regions: us-east-1, us-east-2, us-west-2
        ("us-east-2", OUTPAINT, True),
        ("us-west-2", SEARCH_REPLACE, True),
        ("eu-west-1", FAST, False),
        ("us-west-2", SD35, True),  # its own id, in the one Region that serves it
        ("us-east-1", SD35, False),
        ("us-west-2", "us." + SD35, False),  # no profile for it
    ],
)
def test_each_id_answers_from_its_regions_only(region: str, model_id: str, answered: bool) -> None:
    with started(region=region) as stand_in:
        body = bot_body(model_id, picture(96, 64))
        if answered:
            assert len(invoke(stand_in, model_id, body)["images"]) == 1
        else:
            assert refusal(stand_in, model_id, body) == (400, "ValidationException", INVALID)


@pytest.mark.parametrize(
    ("model_id", "field"),
    [(CONSERVATIVE, "prompt"), (CREATIVE, "prompt"), (OUTPAINT, "prompt"), (SEARCH_REPLACE, "prompt"),
     (SEARCH_REPLACE, "search_prompt"), (SD35, "prompt")],
)  # fmt: skip
def test_a_filtered_prompt_answers_200(bedrock: BedrockStandIn, model_id: str, field: str) -> None:
    reply = invoke(bedrock, model_id, bot_body(model_id, picture(96, 64), **{field: FILTERED}))
    assert reply == {"finish_reasons": ["Filter reason: prompt"]}


def test_one_subscription_enrols_the_account_in_every_image_service() -> None:
    """'Subscribing to any edit or control Stability AI Image Service automatically enrolls you in
    all thirteen available Stability AI Image Services' (the image services page); and scripted
    answers and retirement reach a model through its profile id as through a model id."""
    with started(subscribed=set()) as stand_in:
        assert refusal(stand_in, FAST, bot_body(FAST, picture(64, 64)))[1] == "AccessDeniedException"
        assert stand_in.refused == [FAST]
        stand_in.may_subscribe = True
        assert len(invoke(stand_in, FAST, bot_body(FAST, picture(64, 64)))["images"]) == 1
        assert {m.removeprefix("us.") for m in SERVICES} <= stand_in.subscribed
        assert SD35 not in stand_in.subscribed  # a model of its own
        stand_in.scripted.append(error("ThrottlingException"))
        body = bot_body(OUTPAINT, picture(96, 64))
        assert refusal(stand_in, OUTPAINT, body)[:2] == (429, "ThrottlingException")
        stand_in.retired = {"stability.stable-outpaint-v1:0"}
        assert refusal(stand_in, OUTPAINT, body)[:2] == (404, "ResourceNotFoundException")


@pytest.fixture
def sagemaker() -> Iterator[SageMakerStandIn]:
    stand_in = SageMakerStandIn(endpoints=("sd-21-base", *SPEAKING), contracts=SPEAKING).start()
    yield stand_in
    stand_in.stop()


def endpoint(stand_in: SageMakerStandIn, name: str, body: object, content_type: str = JPEG_JSON) -> bytes:
    client = SESSION.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=stand_in.url,
                            config=ONE_ATTEMPT)  # fmt: skip
    answer = client.invoke_endpoint(EndpointName=name, ContentType=content_type, Accept=JPEG_JSON,
                                    Body=json.dumps(body).encode())  # fmt: skip
    data: bytes = answer["Body"].read()
    return data


def model_error(stand_in: SageMakerStandIn, name: str, body: object, **headers: str) -> str:
    """The ModelError an endpoint answers, wrapping the container's 500, and its message."""
    with pytest.raises(ClientError) as refused:
        endpoint(stand_in, name, body, **headers)
    found = refused.value.response
    assert (found["Error"]["Code"], found["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert found.get("OriginalStatusCode") in (0, 500)  # 0: SageMaker's own (the 6 MB limit)
    return str(found["Error"]["Message"])


def upscale_body(sent: bytes, **changes: Any) -> dict[str, Any]:
    body = {"prompt": "a cat", "image": b64(sent), "noise_level": 20, "num_inference_steps": 30,
            "guidance_scale": 7.5, "seed": 3, "negative_prompt": "blurry"}  # fmt: skip
    return given(body, changes)


def inpaint_body(size: tuple[int, int], mask: tuple[int, int] = (0, 0), **changes: Any) -> dict[str, Any]:
    """The image, and a mask painting its right half white (repaint) and its left half black (keep)."""
    drawn = Image.new("RGB", mask if any(mask) else size, "black")
    ImageDraw.Draw(drawn).rectangle((drawn.width // 2, 0, drawn.width, drawn.height), fill="white")
    body = {"prompt": "a red boat", "image": b64(picture(*size)), "mask_image": b64(jpeg(drawn)),
            "num_inference_steps": 30, "guidance_scale": 7.5, "seed": 3, "negative_prompt": "x"}  # fmt: skip
    return given(body, changes)


def test_the_upscaler_answers_4x_each_side(sagemaker: SageMakerStandIn) -> None:
    raw = endpoint(sagemaker, UPSCALER, upscale_body(picture(64, 48)))
    assert response_problems(raw, CONTRACTS["upscaling"]) == []
    answer = json.loads(raw)
    [image] = [decoded(value) for value in answer["generated_images"]]
    assert (image.format, image.size, answer["prompt"]) == ("JPEG", (256, 192), "a cat")
    [call] = sagemaker.invocations
    assert call.image().size == (64, 48) and call.headers["content-type"] == JPEG_JSON
    corner = (192, 144, 256, 192)  # the mark, so an answer is never the input made larger
    assert difference(image.crop(corner), call.image().resize((256, 192)).crop(corner)) > 60
    text_to_image = {"prompt": "a cat", "width": 64, "height": 64, "num_inference_steps": 5, "seed": 1}
    raw = endpoint(sagemaker, "sd-21-base", text_to_image, content_type=JSON)  # an endpoint not in contracts
    assert response_problems(raw) == [] and len(json.loads(raw)["generated_images"]) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (upscale_body(picture(64, 48), image=None), JPEG_JSON, "image must be specified"),
        (upscale_body(picture(64, 48), image="bm90IGFuIGltYWdl"), JPEG_JSON, "image must be base64_jpeg"),
        (upscale_body(picture(64, 48, "PNG")), JPEG_JSON, "image must be base64_jpeg"),  # jpeg, as it says
        (upscale_body(picture(64, 48), noise_level=2.5), JPEG_JSON, "noise_level must be integer"),
        (upscale_body(picture(64, 48), strength=0.5), JPEG_JSON, "unknown parameter 'strength'"),
        ({"prompt": "a cat", "width": 64}, JPEG_JSON, "unknown parameter 'width'"),  # text-to-image's
        (upscale_body(picture(64, 48)), "application/json", "Content type application/json is not supported"),
    ],
)
def test_the_upscaler_refuses_what_breaks_its_contract(
    sagemaker: SageMakerStandIn, body: object, content_type: str, said: str
) -> None:
    assert said in model_error(sagemaker, UPSCALER, body, content_type=content_type)


def test_an_upscale_past_the_gpus_memory_fails_as_the_container_fails(sagemaker: SageMakerStandIn) -> None:
    sagemaker.upscale_max_input_pixels = 128 * 128  # the notebook names no number; a test sets one
    assert json.loads(endpoint(sagemaker, UPSCALER, upscale_body(picture(128, 128))))["generated_images"]
    said = model_error(sagemaker, UPSCALER, upscale_body(picture(160, 128)))
    assert "CUDA out of memory. Tried to allocate" in said


@pytest.mark.parametrize("name", [UPSCALER, INPAINTER])
def test_the_6_mb_answer_limit_holds_for_the_image_endpoints(sagemaker: SageMakerStandIn, name: str) -> None:
    sagemaker.max_response_bytes = 1000  # the real limit is 6 MB; the error is the same
    body = upscale_body(picture(64, 48)) if name == UPSCALER else inpaint_body((64, 48))
    assert "could not load the entire response body" in model_error(sagemaker, name, body)


def test_inpainting_keeps_black_masked_pixels_and_paints_white_ones(sagemaker: SageMakerStandIn) -> None:
    raw = endpoint(sagemaker, INPAINTER, inpaint_body((96, 64)))
    assert response_problems(raw, CONTRACTS["inpainting"]) == []
    [image] = [decoded(value) for value in json.loads(raw)["generated_images"]]
    [call] = sagemaker.invocations
    sent = call.image()
    assert (image.format, image.size, sent.size, call.image("mask_image").size) == ("JPEG", *[(96, 64)] * 3)
    kept, painted = (0, 0, 44, 64), (52, 0, 96, 64)  # clear of the mask's edge, softened by JPEG
    assert difference(image.crop(kept), sent.crop(kept)) < 6
    assert difference(image.crop(painted), sent.crop(painted)) > 60


def test_inpainting_refuses_a_mask_of_another_size(sagemaker: SageMakerStandIn) -> None:
    said = model_error(sagemaker, INPAINTER, inpaint_body((96, 64), mask=(48, 32)))
    assert "mask_image is 48x32, not the size of image (96x64)" in said
    assert "mask_image must be specified" in model_error(
        sagemaker, INPAINTER, inpaint_body((96, 64), mask_image=None)
    )
    two = json.loads(endpoint(sagemaker, INPAINTER, inpaint_body((96, 64), num_images_per_prompt=2)))
    assert len(two["generated_images"]) == 2
