"""Which model can do which image operation, what image it takes, and how a chosen image is
fitted to it (pure: the http function checks a click with it before anything is queued, and the
worker fits the image it read with it before the call).

The request and answer shapes, with their sources, are in tests/fixtures/bedrock_stable_*.json,
bedrock_sd35_large.json and jumpstart_{upscaling,inpainting}.json. Stability's image services
on Bedrock are served through the ``us.`` cross-Region inference profiles only (us-east-1,
us-east-2, us-west-2; https://docs.aws.amazon.com/bedrock/latest/userguide/stable-image-services.html).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from bot.model.operation import CHANGE, UPSCALE, VARY_STRONG, VARY_SUBTLE, ZOOM_OUT, ModelChoice, Operation
from bot.model.prompt import MAX_IMAGES, ImageRequest, UsageNeeded

# The largest side the bot makes: a 4x upscale of the largest image it draws (1024 px).
MAX_RESULT_SIDE = 4096
_US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-2")


@dataclass(frozen=True)
class Fits:
    """The images a model takes: each side, the pixel count, and the longer side against the shorter."""

    min_side: int = 64
    max_side: int = 10_000
    min_pixels: int = 0
    max_pixels: int = 9_437_184
    max_aspect: float = 0.0  # 0: any
    side_step: int = 1  # both sides a multiple of this


@dataclass(frozen=True)
class OperationModel:
    key: str  # what its setting says after the provider: a model id, or the kind of endpoint
    name: str
    provider: str  # bedrock, sagemaker or placeholder
    operations: tuple[str, ...]
    fits: Fits
    factor: int = 1  # how many times each side an upscale grows
    padded: bool = False  # Zoom Out: the model takes the whole padded canvas with a mask (inpainting)
    max_margin: int | None = None  # Zoom Out by outpainting: the most it adds on one side
    regions: tuple[str, ...] = ()  # Bedrock: where the model (or its profile) is served
    # What of a request the model is not sent, so a result does not show it as used.
    unused: tuple[str, ...] = ("steps", "cfg")

    @property
    def model_id(self) -> str:
        return self.key

    @property
    def marketplace(self) -> bool:
        """Stability's models on Bedrock are sold through AWS Marketplace, subscribed on first use."""
        return self.provider == "bedrock"


# Bedrock user guide, Stability's image services (Stable Fast Upscale, Conservative and Creative
# Upscale, Outpaint, Search and Replace) and SD3.5 Large image-to-image; the fixtures hold each page.
# The upscalers take more than is sent them: nothing over 1024 px a side is, so that 4x stays
# within the 4096 px the bot makes.
_STABILITY_EDITS = Fits(min_side=64, max_pixels=9_437_184, max_aspect=2.5)
FAST_UPSCALE = OperationModel(
    "us.stability.stable-fast-upscale-v1:0", "Stable Fast Upscale", "bedrock", (UPSCALE,),
    Fits(min_side=32, max_side=1536, min_pixels=1024, max_pixels=1_048_576), factor=4,
    regions=_US_PROFILE_REGIONS, unused=("steps", "cfg", "seed", "no"),  # the image alone is sent
)  # fmt: skip
CONSERVATIVE_UPSCALE = OperationModel(
    "us.stability.stable-conservative-upscale-v1:0", "Stable Conservative Upscale", "bedrock", (UPSCALE,),
    _STABILITY_EDITS, factor=4,
    regions=_US_PROFILE_REGIONS,
)  # fmt: skip
CREATIVE_UPSCALE = OperationModel(
    "us.stability.stable-creative-upscale-v1:0", "Stable Creative Upscale", "bedrock", (UPSCALE,),
    Fits(min_side=64, min_pixels=4096, max_pixels=1_048_576), factor=4,
    regions=_US_PROFILE_REGIONS,
)  # fmt: skip
OUTPAINT = OperationModel(
    "us.stability.stable-outpaint-v1:0", "Stable Outpaint", "bedrock", (ZOOM_OUT,), _STABILITY_EDITS,
    max_margin=2000, regions=_US_PROFILE_REGIONS, unused=("steps", "cfg", "no"),  # no negative prompt
)  # fmt: skip
SEARCH_REPLACE = OperationModel(
    "us.stability.stable-image-search-replace-v1:0", "Stable Search and Replace", "bedrock", (CHANGE,),
    _STABILITY_EDITS, regions=_US_PROFILE_REGIONS,
)  # fmt: skip
SD35_IMAGE_TO_IMAGE = OperationModel(
    "stability.sd3-5-large-v1:0", "Stable Diffusion 3.5 Large", "bedrock", (VARY_SUBTLE, VARY_STRONG),
    Fits(min_side=64, max_pixels=1_048_576), regions=("us-west-2",),  # it draws about a megapixel
)  # fmt: skip
BEDROCK = {m.key: m for m in (FAST_UPSCALE, CONSERVATIVE_UPSCALE, CREATIVE_UPSCALE, OUTPAINT, SEARCH_REPLACE,
                              SD35_IMAGE_TO_IMAGE)}  # fmt: skip

# SageMaker JumpStart endpoints, named by the operation their setting is for. The x4 upscaler
# takes at most 512x512 (Stable Diffusion 2's own size): its answer, 16 times the pixels as a
# JPEG of about half a byte a pixel, base64'd (4/3), is then about 2.8 MB, well inside the 6 MB a
# real-time endpoint may return; 768x768 would come to the 6 MB itself. The notebook warns only
# that "a very large input image may result in CUDA memory issue". The SD 2 inpainting model
# takes the padded canvas, both sides multiples of 8, up to 1024 (its 512x512 training size doubled).
SAGEMAKER_UPSCALER = OperationModel(
    "x4-upscaler", "the x4 upscaler endpoint", "sagemaker", (UPSCALE,),
    Fits(min_side=64, max_side=512, max_pixels=262_144, side_step=8), factor=4, unused=(),
)  # fmt: skip
SAGEMAKER_INPAINTING = OperationModel(
    "inpainting", "the inpainting endpoint", "sagemaker", (ZOOM_OUT,),
    Fits(min_side=64, max_side=1024, max_pixels=1_048_576, side_step=8), padded=True, unused=(),
)  # fmt: skip
PLACEHOLDER = OperationModel(
    "placeholder", "the placeholder", "placeholder", (UPSCALE, VARY_SUBTLE, VARY_STRONG, ZOOM_OUT, CHANGE),
    Fits(min_side=8, max_side=MAX_RESULT_SIDE, max_pixels=MAX_RESULT_SIDE**2), factor=4,
    unused=("steps", "cfg", "no"),
)  # fmt: skip


def model_for(kind: str, choice: ModelChoice) -> OperationModel:
    """The model ``choice`` names for operation ``kind``; ValueError saying what it may be."""
    if choice.provider == "placeholder":
        return PLACEHOLDER
    if choice.provider == "sagemaker":
        for model in (SAGEMAKER_UPSCALER, SAGEMAKER_INPAINTING):
            if kind in model.operations:
                return model
        raise ValueError(
            "must not be sagemaker: no JumpStart model here does it (use bedrock:<model id> or placeholder)"
        )
    named = BEDROCK.get(choice.name)
    if named is None or kind not in named.operations:
        able = [key for key, m in BEDROCK.items() if kind in m.operations]
        raise ValueError(f"must name a Bedrock model that does it: {', '.join(able)}")
    return named


@dataclass(frozen=True)
class Plan:
    """How an image of ``source`` size is sent: fitted to ``sent`` (the whole canvas, for a model
    that is ``padded``), with ``margins`` (left, up, right, down) to add, drawn as ``result``."""

    sent: tuple[int, int]
    result: tuple[int, int]
    margins: tuple[int, int, int, int] = (0, 0, 0, 0)


def plan(model: OperationModel, kind: str, width: int, height: int) -> Plan:
    """How ``model`` does ``kind`` to a ``width`` x ``height`` image; :class:`UsageNeeded`
    naming the limit when it cannot. An image larger than the model takes is scaled down to fit;
    one whose shape it does not take, or that would come out too large, is refused."""
    fits = model.fits
    if fits.max_aspect and max(width, height) > fits.max_aspect * min(width, height):
        raise UsageNeeded(
            f"{model.name} takes images from 1:{fits.max_aspect:g} to {fits.max_aspect:g}:1; "
            f"this one is {width}×{height}."
        )
    if kind == UPSCALE:
        sent = _fitted(fits, width, height, most_side=MAX_RESULT_SIDE // model.factor)
        result = (sent[0] * model.factor, sent[1] * model.factor)
        if max(result) < 2 * max(width, height):
            raise UsageNeeded(
                f"this image is already {width}×{height}: {model.name} makes images up to "
                f"{MAX_RESULT_SIDE} px a side from at most {_limit(fits)}, "
                "so it cannot make it twice as large."
            )
        return Plan(sent, result)
    if kind == ZOOM_OUT:
        if 2 * max(width, height) > MAX_RESULT_SIDE:
            raise UsageNeeded(
                f"Zoom Out doubles each side, and this image is already {width}×{height} "
                f"(the bot makes images up to {MAX_RESULT_SIDE} px a side)."
            )
        if model.padded:  # the canvas is what is sent, with the image unchanged in its middle
            canvas = _fitted(fits, 2 * width, 2 * height)
            if canvas != (2 * width, 2 * height):
                raise UsageNeeded(
                    f"{model.name} paints a canvas of at most {_limit(fits)}, so it zooms out images "
                    f"up to half that; this one is {width}×{height}."
                )
            return Plan(canvas, canvas, _centred(canvas, (width, height)))
        most = (
            MAX_RESULT_SIDE // 2
            if model.max_margin is None
            else min(MAX_RESULT_SIDE // 2, 2 * model.max_margin)
        )
        sent = _fitted(fits, width, height, most_side=most)
        result = (2 * sent[0], 2 * sent[1])
        return Plan(sent, result, _centred(result, sent))
    sent = _fitted(fits, width, height)
    return Plan(sent, sent)


def _fitted(fits: Fits, width: int, height: int, *, most_side: int | None = None) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) into ``fits``, shape kept."""
    most = fits.max_side if most_side is None else min(fits.max_side, most_side)
    scale = min(1.0, most / max(width, height), math.sqrt(fits.max_pixels / (width * height)))
    step = fits.side_step
    sides = tuple(max(step, int(side * scale) // step * step) for side in (width, height))
    fitted = (sides[0], sides[1])
    if min(fitted) < fits.min_side or fitted[0] * fitted[1] < fits.min_pixels:
        raise UsageNeeded(f"this image is too small for it (at least {fits.min_side} px a side).")
    return fitted


def _centred(outer: tuple[int, int], inner: tuple[int, int]) -> tuple[int, int, int, int]:
    left, up = (outer[0] - inner[0]) // 2, (outer[1] - inner[1]) // 2
    return left, up, outer[0] - inner[0] - left, outer[1] - inner[1] - up


def _limit(fits: Fits) -> str:
    side = math.isqrt(fits.max_pixels)
    return (
        f"{fits.max_pixels:,} pixels ({side}×{side})"
        if side <= fits.max_side
        else f"{fits.max_side} px a side"
    )


def operation_request(
    base: ImageRequest,
    keys: list[str],
    index: int,
    kind: str,
    choice: ModelChoice,
    *,
    search: str = "",
    replacement: str = "",
) -> ImageRequest:
    """What operation ``kind`` on image ``index`` of a result drawn from ``base`` (its images
    stored under ``keys``) asks of ``choice``'s model: the prompt and options kept, a new seed,
    as many images as the result had for Vary (one otherwise), at the size the model makes.
    :class:`UsageNeeded` when the model cannot take the image (with the limit), ValueError for a
    Change… without its words."""
    source = base.operation.source_prompt if base.operation else base.prompt
    operation = Operation(
        kind, keys[index], index, len(keys), source, base.width, base.height, search, replacement
    )
    model = model_for(kind, choice)
    width, height = plan(model, kind, base.width, base.height).result
    return replace(
        base,
        seed=None,
        count=min(base.count, MAX_IMAGES) if kind in (VARY_SUBTLE, VARY_STRONG) else 1,
        width=width,
        height=height,
        operation=operation,
        unused=model.unused,
    )
