"""The image operations on SageMaker JumpStart endpoints: the Stable Diffusion x4 upscaler
(Upscale) and the SD 2 inpainting model (Zoom Out, as the image in the middle of a canvas twice
its size with a mask: white where it paints, black where the image stays).

Both take ``application/json;jpeg`` and answer ``{"generated_images": [base64 JPEG, ...]}`` like
the text-to-image endpoint, within the same 60 seconds and 6 MB (tests/fixtures/
jumpstart_upscaling.json and jumpstart_inpainting.json hold the shapes and their sources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.backends.sagemaker import EndpointCalls, drawing
from bot.backends.sources import Read, b64, jpeg, padded, source
from bot.model.operation import UPSCALE
from bot.model.operation_models import OperationModel
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

CONTENT_TYPE = "application/json;jpeg"  # and the answer, as the text-to-image endpoint's
# How much noise the upscaler adds to its input before it upscales: its pipeline's default.
NOISE_LEVEL = 20


class SageMakerEditor(EndpointCalls):
    """One operation's endpoint; ``generate`` does the request's operation to its image."""

    name = "sagemaker"

    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint_name: str,
        model: OperationModel,
        read: Read,
        **retries: float,
    ) -> None:
        super().__init__(client, endpoint_name, **retries)
        self.model = model
        self.read = read

    def generate(self, request: ImageRequest) -> list[bytes]:
        chosen = source(self.read, request, self.model)
        body = drawing(request)
        if chosen.operation.kind == UPSCALE:
            body |= {"image": b64(chosen.fitted_jpeg()), "noise_level": NOISE_LEVEL}
        else:
            canvas, mask = padded(chosen.fitted(), chosen.plan.margins)
            body |= {"image": b64(jpeg(canvas)), "mask_image": b64(jpeg(mask.convert("RGB")))}
        return self.call(body, 1, content_type=CONTENT_TYPE)  # Upscale and Zoom Out make one image
