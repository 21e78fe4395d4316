"""The SageMaker JumpStart text-to-image endpoint (Stable Diffusion 2.1 base by default).

Contract: ``ContentType: application/json``, ``Accept: application/json;jpeg``; the request
carries prompt, negative_prompt, width, height, num_inference_steps, guidance_scale, seed and
num_images_per_prompt; the answer is ``{"generated_images": [base64 JPEG, ...], ...}``.
A real-time endpoint answers within 60 seconds and with at most 6 MB, or with a ModelError.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import astuple
from typing import TYPE_CHECKING, Any

from bot.backends import AwsError, BackendError, with_retries
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

CONTENT_TYPE = "application/json"
ACCEPT = "application/json;jpeg"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Error codes the SDK reports that a later attempt may get past.
_RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError"}
# How SageMaker words a ModelError for a container that did not answer within 60 s, and for an
# answer it could not take whole (over the 6 MB a response may carry).
_TIMED_OUT = "Your invocation timed out while waiting for a response from container"
_UNREADABLE = "could not load the entire response body"


def request_body(request: ImageRequest) -> dict[str, Any]:
    return drawing(request) | {
        "width": request.width, "height": request.height, "num_images_per_prompt": request.count,
    }  # fmt: skip


def drawing(request: ImageRequest) -> dict[str, Any]:
    """What every JumpStart Stable Diffusion model takes of a request: its prompt and negative
    prompt, steps, guidance and seed (the text-to-image, upscaling and inpainting notebooks alike)."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance,
        "seed": request.seed,
    }
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    return body


def decode_response(raw: bytes, expected: int) -> list[bytes]:
    """The JPEGs in an endpoint answer; :class:`BackendError` for anything else."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BackendError(
            "the image service answered with something that is not JSON", retryable=False
        ) from None
    images = answer.get("generated_images") if isinstance(answer, dict) else None
    if not isinstance(images, list) or not images:
        raise BackendError("the image service's answer held no images", retryable=False)
    if len(images) != expected:
        raise BackendError(
            f"the image service returned {len(images)} images, not {expected}", retryable=False
        )
    decoded = []
    for image in images:
        try:
            jpeg = base64.b64decode(image, validate=True) if isinstance(image, str) else b""
        except (binascii.Error, ValueError):
            jpeg = b""
        if not jpeg.startswith(_JPEG_MAGIC):
            raise BackendError("the image service returned an image that is not a JPEG", retryable=False)
        decoded.append(jpeg)
    return decoded


class EndpointCalls:
    """InvokeEndpoint calls to one endpoint, each retried on throttling and server errors with
    exponential backoff and jitter while the time budget lasts; then the last error is raised
    (retryable). The text-to-image backend and the image operations share them."""

    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint_name: str,
        *,
        budget_seconds: float = 40.0,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
    ) -> None:
        self.client = client
        self.endpoint_name = endpoint_name
        self.budget_seconds = budget_seconds  # no new attempt starts after this
        self.base_delay = base_delay
        self.max_delay = max_delay

    def call(self, body: dict[str, Any], expected: int, *, content_type: str = CONTENT_TYPE) -> list[bytes]:
        """The ``expected`` JPEGs the endpoint answers ``body`` with."""
        encoded = json.dumps(body).encode()
        deadline = time.monotonic() + self.budget_seconds
        return with_retries(
            lambda: self._invoke(encoded, expected, content_type), deadline, self.base_delay, self.max_delay
        )

    def _invoke(self, body: bytes, expected: int, content_type: str) -> list[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType=content_type, Accept=ACCEPT, Body=body
            )
            raw = response["Body"].read()
        except ClientError as error:
            raise client_error(error) from None
        except BotoCoreError as error:
            # Timeouts and connection failures: the endpoint may answer next time.
            raise BackendError(
                f"the image service could not be reached ({type(error).__name__})", retryable=True
            ) from None
        return decode_response(raw, expected)


class SageMakerBackend(EndpointCalls):
    name = "sagemaker"

    def generate(self, request: ImageRequest) -> list[bytes]:
        return self.call(request_body(request), request.count)


def client_error(error: Any) -> BackendError:
    code, message, status = astuple(AwsError.of(error))
    if code in _RETRYABLE_CODES or status == 429 or status >= 500:
        return BackendError(f"the image service is busy or failing ({code or status})", retryable=True)
    if code == "ModelError" and _TIMED_OUT in message:
        # The endpoint gave up after its 60 s. That time includes waiting behind the renders the
        # instance is already busy with, so a later try can finish; the queue's receive limit
        # bounds the GPU time spent on retries.
        return BackendError("the image service did not answer within its 60-second limit", retryable=True)
    if code == "ModelError" and _UNREADABLE in message:
        # SageMaker could not take the container's answer whole, as when it is over the 6 MB an
        # endpoint may return: the same request would be again.
        return BackendError(
            "the image service could not return the images (an answer may carry 6 MB at most); "
            "ask for fewer or smaller images",
            retryable=False,
        )
    if code == "ModelError":
        return BackendError("the model could not render this request", retryable=False)
    if code == "ValidationError" and message.endswith("not found."):
        # Endpoint names are matched with their case, as they were created.
        return BackendError(
            "the image endpoint does not exist (check SAGEMAKER_ENDPOINT_NAME, with its case)",
            retryable=False,
        )
    return BackendError(f"the image service refused the request ({code or status})", retryable=False)
