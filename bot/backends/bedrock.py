"""Amazon Bedrock's image models: paid per image, with no endpoint to keep up.

Two request bodies, each model's own (the shapes are kept, with their sources, in
tests/fixtures/bedrock_*.json):

- Amazon Nova Canvas and Titan Image Generator v2 take ``taskType: TEXT_IMAGE`` with
  ``textToImageParams`` (text, negativeText) and ``imageGenerationConfig`` (width, height,
  cfgScale, seed, numberOfImages, quality), and answer ``{"images": [base64 PNG, ...]}``
  (awsdocs/aws-doc-sdk-examples, python/example_code/bedrock-runtime/models/amazon_nova/
  amazon_nova_canvas/invoke_model.py and amazon_titan_image_generator/invoke_model.py). A prompt
  their filters refuse is a ValidationException "This request has been blocked by our content
  filters...". Both have reached their end of life (bot/model/bedrock_models.py): the bot
  keeps them to say so when Bedrock refuses them.
- Stability's Stable Image Ultra, Stable Image Core and SD3.5 Large take ``prompt``,
  ``negative_prompt``, ``aspect_ratio`` (an enumerated list), ``seed`` and ``output_format``,
  draw one image a call, and answer ``{"seeds", "finish_reasons", "images"}``; a filtered
  request answers 200 with a finish reason that starts "Filter reason" (Bedrock user guide,
  "Stable Image Ultra request and response", "Stability.ai Stable Diffusion 3.5 Large" and
  "Stable Image Core request and response").

:func:`fit` is pure: the http function uses it to refuse what a model cannot take and to say
which options it does not use, before anything is queued; the worker uses it again to build the
body, so a job queued before a change of model is still drawn at a size the model takes. The
models themselves, their ranges and their lifecycle are in bot/model/bedrock_models.py.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.backends import JPEG_QUALITY, AwsError, BackendError, Invoked, with_retries
from bot.model.bedrock_models import (
    NOVA_AREA,
    NOVA_MAX_SIDE,
    NOVA_MIN_SIDE,
    NOVA_SIDE_STEP,
    Model,
    active_ids,
    foundation_model,
    today,
)
from bot.model.prompt import ImageRequest, UsageNeeded

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

CONTENT_TYPE = "application/json"
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONTENT_FILTERED = "blocked by our content filters"  # in Nova's and Titan's ValidationException
# How Bedrock's ResourceNotFoundException says a model is retired: past its end of life, or
# Legacy and not used by this account lately (tests/fixtures/bedrock_errors.json has both).
END_OF_LIFE = "reached the end of its life"
LEGACY_REFUSAL = "marked by provider as Legacy"
FILTER_REASON = "Filter reason"  # how Stability's filtered finish_reasons start
# Error codes from the bedrock-runtime service model that a later attempt may get past.
_RETRYABLE_CODES = {
    "ThrottlingException", "ServiceUnavailableException", "ModelTimeoutException",
    "InternalServerException", "ModelNotReadyException",
}  # fmt: skip
# A shape the model draws counts as the one asked for when its ratio is this close (2 %).
_SAME_SHAPE = math.log(1.02)


@dataclass(frozen=True)
class Fitted:
    """A request as the model will draw it, and what the asker should know about that."""

    request: ImageRequest
    notes: tuple[str, ...] = ()


def fit(model: Model, request: ImageRequest, *, chose_steps: bool = False, chose_cfg: bool = False) -> Fitted:
    """``request`` in the model's own sizes and ranges: its shape, a seed it takes (chosen now
    when there is none), its guidance. Raises :class:`UsageNeeded` for a value the model cannot
    take; ``chose_*`` say the asker set that option, so a model without it is said to ignore it,
    and a model whose range it is outside refuses it rather than moving a default into range."""
    notes: list[str] = []
    _check_text(model, "The prompt", request.prompt)
    if request.negative_prompt:
        _check_text(model, "The `--no` text", request.negative_prompt)

    low, high = model.seeds
    seed = request.seed
    if seed is None:
        seed = low + secrets.randbelow(high - low + 1)
    elif not low <= seed <= high:
        why = " (0 asks it for a random seed)" if low == 1 and seed == 0 else ""
        raise UsageNeeded(f"`--seed` must be a whole number from {low} to {high} with {model.name}{why}.")

    guidance = request.guidance
    if model.cfg is None:
        if chose_cfg:
            notes.append(f"`--cfg` is not used by {model.name}.")
    elif not model.cfg[0] <= guidance <= model.cfg[1]:
        if chose_cfg:
            raise UsageNeeded(
                f"`--cfg` must be a number from {model.cfg[0]:g} to {model.cfg[1]:g} with {model.name}."
            )
        guidance = min(max(guidance, model.cfg[0]), model.cfg[1])  # the configured default, moved into range
    if chose_steps:
        notes.append(f"`--steps` is not used by {model.name}.")

    label, width, height = shape(model, request.aspect)
    if label != request.aspect:
        notes.append(
            f"`--ar {request.aspect}` is drawn at {label} ({width}×{height}), the closest {model.name} makes."
        )
    unused = ("steps",) if model.cfg is not None else ("steps", "cfg")  # no model here takes steps
    fitted = replace(
        request, aspect=label, width=width, height=height, seed=seed, guidance=guidance, unused=unused
    )
    return Fitted(fitted, tuple(notes))


def _check_text(model: Model, what: str, text: str) -> None:
    if len(text) > model.prompt_chars:
        raise UsageNeeded(
            f"{what} is {len(text)} characters; {model.name} takes {model.prompt_chars} at most."
        )


def shape(model: Model, aspect: str) -> tuple[str, int, int]:
    """The shape the model draws for ``aspect`` (``W:H``): its label, width and height."""
    ratio = _ratio(aspect)
    if not model.sizes:
        width, height = _nova_size(ratio)
        label = aspect if abs(math.log(width / height / ratio)) <= _SAME_SHAPE else _reduced(width, height)
        return label, width, height
    exact = [entry for entry in model.sizes if entry[0] == aspect]
    if exact:
        return exact[0]
    return min(model.sizes, key=lambda entry: abs(math.log(_ratio(entry[0]) / ratio)))  # by the ratio named


def _ratio(aspect: str) -> float:
    w, h = (int(part) for part in aspect.split(":"))
    return w / h


def _nova_size(ratio: float) -> tuple[int, int]:
    """About a megapixel at ``ratio``, both sides multiples of 16 within Nova's bounds."""
    width = math.sqrt(NOVA_AREA * ratio)
    height = NOVA_AREA / width

    def side(value: float) -> int:
        stepped = int(value // NOVA_SIDE_STEP) * NOVA_SIDE_STEP  # down: the area stays in its price tier
        return min(NOVA_MAX_SIDE, max(NOVA_MIN_SIDE, stepped))

    return side(width), side(height)


def _reduced(width: int, height: int) -> str:
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def request_bodies(model: Model, request: ImageRequest) -> list[dict[str, Any]]:
    """The InvokeModel bodies that draw ``request`` (already fitted): one for Nova and Titan,
    which draw up to five images a call, one per image for Stability, each with its own seed
    (the next ones after the request's, so that the images differ)."""
    assert request.seed is not None, "a fitted request has its seed"
    if model.family == "amazon":
        params: dict[str, Any] = {"text": request.prompt}
        if request.negative_prompt:
            params["negativeText"] = request.negative_prompt
        config = {
            "numberOfImages": request.count,
            "quality": "standard",
            "width": request.width,
            "height": request.height,
            "cfgScale": request.guidance,
            "seed": request.seed,
        }
        return [{"taskType": "TEXT_IMAGE", "textToImageParams": params, "imageGenerationConfig": config}]
    low, high = model.seeds
    bodies = []
    for index in range(request.count):
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect,
            "seed": low + (request.seed - low + index) % (high - low + 1),
            "output_format": "jpeg",
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        bodies.append(body)
    return bodies


def decode_response(model: Invoked, raw: bytes, expected: int) -> list[bytes]:
    """The images in an answer, as JPEGs; :class:`BackendError` for a filtered or broken one."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BackendError(
            "the image service answered with something that is not JSON", retryable=False
        ) from None
    if not isinstance(answer, dict):
        raise BackendError("the image service's answer held no images", retryable=False)
    reasons = [r for r in answer.get("finish_reasons") or [] if r]
    for reason in reasons:
        if str(reason).startswith(FILTER_REASON):
            raise BackendError(f"{model.name} filtered it ({reason})", retryable=False)
    if reasons:  # "Inference error": the model failed this once
        raise BackendError(f"{model.name} could not finish the image ({reasons[0]})", retryable=True)
    images = answer.get("images")
    if not isinstance(images, list) or not images:
        error = answer.get("error")
        if isinstance(error, str) and error:
            raise BackendError(f"{model.name} refused it: {error}", retryable=False)
        raise BackendError("the image service's answer held no images", retryable=False)
    if len(images) != expected:
        raise BackendError(
            f"the image service returned {len(images)} images, not {expected}", retryable=False
        )
    return [to_jpeg(_decoded(image)) for image in images]


def _decoded(image: object) -> bytes:
    try:
        return base64.b64decode(image, validate=True) if isinstance(image, str) else b""
    except (binascii.Error, ValueError):
        return b""


def to_jpeg(data: bytes) -> bytes:
    """A JPEG as it is; a PNG (Nova's and Titan's only format) drawn again as a JPEG."""
    if data.startswith(_JPEG_MAGIC):
        return data
    if not data.startswith(_PNG_MAGIC):
        raise BackendError(
            "the image service returned an image that is neither PNG nor JPEG", retryable=False
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    except (UnidentifiedImageError, OSError, ValueError):
        raise BackendError(
            "the image service returned a PNG that could not be read", retryable=False
        ) from None
    return out.getvalue()


class BedrockCalls:
    """InvokeModel calls to one model, each retried on throttling and server errors with backoff
    and jitter while the budget lasts; the model backend and the image operations share them."""

    def __init__(
        self,
        client: BedrockRuntimeClient,
        model_id: str,
        model: Invoked,
        *,
        setting: str = "BEDROCK_MODEL_ID",
        budget_seconds: float = 40.0,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
    ) -> None:
        self.client = client
        self.setting = setting  # the setting that names the model, for a refusal to name
        self.model_id = model_id  # a profile id goes to Bedrock as it is
        self.model = model
        self.budget_seconds = budget_seconds  # no new attempt starts after this
        self.base_delay = base_delay
        self.max_delay = max_delay

    def draw(self, bodies: list[dict[str, Any]], per_call: int) -> list[bytes]:
        """The JPEGs ``bodies`` draw, ``per_call`` each. Separate calls are made at once, so that
        four take about as long as one; the first failure left is raised."""
        deadline = time.monotonic() + self.budget_seconds
        if len(bodies) == 1:
            return self._with_retries(bodies[0], per_call, deadline)
        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            drawn = [pool.submit(self._with_retries, body, per_call, deadline) for body in bodies]
            return [jpeg for future in drawn for jpeg in future.result()]

    def _with_retries(self, body: dict[str, Any], expected: int, deadline: float) -> list[bytes]:
        return with_retries(lambda: self._invoke(body, expected), deadline, self.base_delay, self.max_delay)

    def _invoke(self, body: dict[str, Any], expected: int) -> list[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_model(
                modelId=self.model_id,
                contentType=CONTENT_TYPE,
                accept=CONTENT_TYPE,
                body=json.dumps(body).encode(),
            )
            raw = response["body"].read()
        except ClientError as error:
            raise client_error(self.model, error, setting=self.setting) from None
        except BotoCoreError as error:
            raise BackendError(
                f"the image service could not be reached ({type(error).__name__})", retryable=True
            ) from None
        return decode_response(self.model, raw, expected)


class BedrockBackend(BedrockCalls):
    name = "bedrock"

    def __init__(self, client: BedrockRuntimeClient, model_id: str, *, budget_seconds: float = 40.0) -> None:
        resolved = foundation_model(model_id)
        super().__init__(client, resolved.model_id, resolved.model, budget_seconds=budget_seconds)
        self.model: Model = resolved.model

    def generate(self, request: ImageRequest) -> list[bytes]:
        """Draw ``request.count`` JPEGs: Nova and Titan in one call, Stability one call an image."""
        try:
            fitted = fit(self.model, request).request
        except UsageNeeded as needed:  # queued before the model changed, or by hand
            raise BackendError(str(needed.problem).replace("`", ""), retryable=False) from None
        per_call = fitted.count if self.model.family == "amazon" else 1
        return self.draw(request_bodies(self.model, fitted), per_call)


def client_error(
    model: Invoked, error: Any, on: date | None = None, *, setting: str = "BEDROCK_MODEL_ID"
) -> BackendError:
    """What an InvokeModel error means for the job, in words for the requester."""
    code, message, status = astuple(AwsError.of(error))
    if code == "ValidationException" and CONTENT_FILTERED in message:
        # The model's own reason, and never again: the same prompt is refused the same way.
        return BackendError(f"{model.name} refused it: {message}", retryable=False)
    if code in _RETRYABLE_CODES or status in (408, 429) or status >= 500:
        return BackendError(f"the image service is busy or failing ({code or status})", retryable=True)
    if code == "ResourceNotFoundException" and (END_OF_LIFE in message or LEGACY_REFUSAL in message):
        # Retired, for everyone (end of life) or for this account (Legacy, not used lately):
        # no later attempt gets past it, only another model does.
        why = (
            "it has reached its end of life on Bedrock"
            if END_OF_LIFE in message
            else "its provider has retired it for accounts that have not used it lately"
        )
        instead = (
            f"one of {', '.join(active_ids(on or today(), besides=model.model_id))}"
            if setting == "BEDROCK_MODEL_ID"
            else "another model that does it (docs/usage.md#working-on-the-picture)"
        )
        return BackendError(
            f"this model ({model.name}) has been retired by its provider: {why}; set {setting} to {instead}",
            retryable=False,
        )
    if code == "AccessDeniedException" and model.marketplace and "bedrock:InvokeModel" not in message:
        # The "Model access" page is gone: a third-party model is subscribed through AWS
        # Marketplace on its first invocation, with the caller's permissions, and "after granting
        # the necessary permissions, it may take up to 2 minutes for the subscription to complete.
        # During this time, API calls may continue to return AccessDeniedException" (setup: up to
        # 15 minutes; https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html,
        # "Understanding automatic model access"). So a team's first jobs are retried: the
        # worker's backoff across deliveries (RETRY_BACKOFF_SECONDS, 10/30/90 s) outlasts it.
        # The same words are the reason given up with when it never settles, so they name the
        # permissions the worker's role must have.
        return BackendError(
            f"the image service is still being set up for this account (its first use of "
            f"{model.name} subscribes it through AWS Marketplace, which can take a few minutes); "
            "if this lasts, the worker's role needs aws-marketplace:Subscribe and "
            "aws-marketplace:ViewSubscriptions",
            retryable=True,
        )
    if code == "AccessDeniedException":
        return BackendError(
            f"this AWS account may not use {model.name} here (check the worker's bedrock:InvokeModel "
            "grant on the model in BEDROCK_REGION)",
            retryable=False,
        )
    if code == "ResourceNotFoundException":
        served = f"; it is served in {', '.join(model.regions)}" if model.regions else ""
        return BackendError(
            f"{model.name} is not offered in this region (BEDROCK_REGION{served})", retryable=False
        )
    if code == "ModelErrorException":
        return BackendError("the model could not render this request", retryable=False)
    return BackendError(f"{model.name} refused the request ({code or status}: {message})", retryable=False)
