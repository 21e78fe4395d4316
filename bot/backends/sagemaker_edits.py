"""The image operations on SageMaker JumpStart endpoints: the Stable Diffusion x4 upscaler
(Upscale) and the SD 2 inpainting model (Zoom Out, as the image in the middle of a canvas twice
its size with a mask: white where it paints, black where the image stays).

Both take ``application/json;jpeg`` and answer ``{"generated_images": [base64 JPEG, ...]}`` like
the text-to-image endpoint, within the same 60 seconds and 6 MB (tests/fixtures/
jumpstart_upscaling.json and jumpstart_inpainting.json hold the shapes and their sources).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bot.backends import BackendError, with_retries
from bot.backends.sagemaker import client_error, decode_response
from bot.backends.sources import Read, b64, jpeg, padded, source
from bot.model.operation import UPSCALE
from bot.model.operation_models import OperationModel
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

CONTENT_TYPE = ACCEPT = "application/json;jpeg"
# How much noise the upscaler adds to its input before it upscales: its pipeline's default.
NOISE_LEVEL = 20


class SageMakerEditor:
    """One operation's endpoint; ``generate`` does the request's operation to its image."""

    name = "sagemaker"

    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint_name: str,
        model: OperationModel,
        read: Read,
        *,
        budget_seconds: float = 40.0,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
    ) -> None:
        self.client = client
        self.endpoint_name = endpoint_name
        self.model = model
        self.read = read
        self.budget_seconds = budget_seconds  # no new attempt starts after this
        self.base_delay = base_delay
        self.max_delay = max_delay

    def generate(self, request: ImageRequest) -> list[bytes]:
        chosen = source(self.read, request, self.model)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "seed": request.seed,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if chosen.operation.kind == UPSCALE:
            body |= {"image": b64(jpeg(chosen.fitted())), "noise_level": NOISE_LEVEL}
        else:
            canvas, mask = padded(chosen.fitted(), chosen.plan.margins)
            body |= {"image": b64(jpeg(canvas)), "mask_image": b64(jpeg(mask.convert("RGB")))}
        encoded = json.dumps(body).encode()
        deadline = time.monotonic() + self.budget_seconds
        drawn = [
            with_retries(lambda: self._invoke(encoded), deadline, self.base_delay, self.max_delay)
            for _ in range(request.count)
        ]
        return [image for images in drawn for image in images]

    def _invoke(self, body: bytes) -> list[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType=CONTENT_TYPE, Accept=ACCEPT, Body=body
            )
            raw = response["Body"].read()
        except ClientError as error:
            raise client_error(error) from None
        except BotoCoreError as error:
            raise BackendError(
                f"the image service could not be reached ({type(error).__name__})", retryable=True
            ) from None
        return decode_response(raw, 1)
