"""The image operations on Amazon Bedrock: Stability's image services (Fast, Conservative and
Creative Upscale, Outpaint, Search and Replace) and SD3.5 Large's image-to-image mode.

Each takes the image as base64 in ``image`` and answers ``{"seeds", "finish_reasons", "images"}``
like Stability's text-to-image models, so the answer, its filter reasons and InvokeModel's errors
are read as bot/backends/bedrock.py reads them. The bodies, with the pages they come from, are in
tests/fixtures/bedrock_stable_*.json and bedrock_sd35_large.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.backends.bedrock import BedrockCalls
from bot.backends.sources import Read, b64, source
from bot.model.operation import CHANGE, STRENGTH, UPSCALE, ZOOM_OUT, Operation
from bot.model.operation_models import (
    CONSERVATIVE_UPSCALE,
    CREATIVE_UPSCALE,
    FAST_UPSCALE,
    SD35_IMAGE_TO_IMAGE,
    OperationModel,
)
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

# Stability's seeds: 0 asks for a random one, so a repeatable seed is 1 to 4,294,967,294.
_SEEDS = 4_294_967_294
# How far the upscalers and Outpaint may stray from the image: each page's default.
_CREATIVITY = {CONSERVATIVE_UPSCALE.key: 0.35, CREATIVE_UPSCALE.key: 0.3}
_OUTPAINT_CREATIVITY = 0.5


def _seed(seed: int) -> int:
    """``seed`` as Stability takes it (1 to 4,294,967,294): the seed shown, but for its two ends."""
    return seed if 1 <= seed <= _SEEDS else 1 + seed % _SEEDS


class BedrockEditor(BedrockCalls):
    """One operation's model on Bedrock; ``generate`` does the request's operation to its image."""

    name = "bedrock"

    def __init__(
        self,
        client: BedrockRuntimeClient,
        model: OperationModel,
        read: Read,
        *,
        setting: str,
        budget_seconds: float,
    ) -> None:
        super().__init__(client, model.key, model, setting=setting, budget_seconds=budget_seconds)
        self.operation_model = model
        self.read = read

    def generate(self, request: ImageRequest) -> list[bytes]:
        chosen = source(self.read, request, self.operation_model)
        image = b64(chosen.fitted_jpeg())
        bodies = [
            self._body(request, chosen.operation, image, chosen.plan.margins, n) for n in range(request.count)
        ]
        return self.draw(bodies, 1)

    def _body(
        self, request: ImageRequest, operation: Operation, image: str, margins: tuple[int, ...], index: int
    ) -> dict[str, Any]:
        model = self.operation_model
        if model is FAST_UPSCALE:  # the image alone: no prompt, no seed
            return {"image": image, "output_format": "jpeg"}
        body: dict[str, Any] = {
            "prompt": operation.replacement if operation.kind == CHANGE else request.prompt,
            "image": image,
            "seed": _seed((request.seed or 0) + index),
            "output_format": "jpeg",
        }
        if request.negative_prompt and operation.kind != ZOOM_OUT:  # Outpaint takes no negative prompt
            body["negative_prompt"] = request.negative_prompt
        if operation.kind == UPSCALE:
            body["creativity"] = _CREATIVITY[model.key]
        elif operation.kind == ZOOM_OUT:
            left, up, right, down = margins
            body |= {"left": left, "up": up, "right": right, "down": down, "creativity": _OUTPAINT_CREATIVITY}
        elif operation.kind == CHANGE:
            body["search_prompt"] = operation.search
        elif model is SD35_IMAGE_TO_IMAGE:
            body |= {"mode": "image-to-image", "strength": STRENGTH[operation.kind]}
        return body
