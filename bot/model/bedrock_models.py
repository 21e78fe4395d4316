"""Amazon Bedrock's image models as the bot knows them: what each takes, where AWS serves it,
and where it is in its lifecycle. Pure data and pure functions: the settings, the backend
(bot/backends/bedrock.py), the cost report and ``imagine-bot doctor`` read the same list.

:func:`foundation_model` maps a BEDROCK_MODEL_ID to the model it draws with, :func:`unavailable`
says why an id cannot be drawn with at all, and :func:`retirement_warning` what an operator
should know about a known model past its end of life (Bedrock itself refuses it at run time,
and the backend says so in the job's thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

# Bedrock's lifecycle states, as GetFoundationModel's modelLifecycle.status spells them.
ACTIVE, LEGACY = "ACTIVE", "LEGACY"


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str
    family: str  # "amazon" (the TEXT_IMAGE body, up to 5 images a call) or "stability" (1 a call)
    seeds: tuple[int, int]  # the seeds it takes, both ends included
    prompt_chars: int  # the longest text or negative text it takes
    cfg: tuple[float, float] | None  # its cfgScale range; None: no such option
    # The sizes it takes, each with the ratio it is named by; () for any within its bounds (Nova).
    sizes: tuple[tuple[str, int, int], ...] = ()
    lifecycle: str = ACTIVE  # ACTIVE or LEGACY, as AWS's lifecycle page and model card say
    eol: date | None = None  # its end-of-life date on Bedrock; from that day it is not served
    regions: tuple[str, ...] = ()  # where Bedrock serves it on demand (In-Region)
    # Sold through AWS Marketplace: the account subscribes on its first invocation, which needs
    # aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions on the caller.
    marketplace: bool = False
    # Its cross-Region inference profiles: profile id -> the Regions the profile routes to.
    profiles: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)


# Nova Canvas: each side 320 to 4,096 and a multiple of 16, 1:4 to 4:1, fewer than 4,194,304
# pixels (awslabs/mcp nova_canvas_mcp_server/models.py). The bot keeps to about a megapixel,
# Nova's default 1024x1024 and the cheaper of its two price tiers.
NOVA_AREA = 1024 * 1024
NOVA_SIDE_STEP, NOVA_MIN_SIDE, NOVA_MAX_SIDE = 16, 320, 4096
# Titan takes a fixed list of sizes (Bedrock user guide, "Amazon Titan Image Generator G1
# models", image sizes); these are its 1024x1024-priced ones, each with the ratio AWS names it by.
TITAN_SIZES = (
    ("1:1", 1024, 1024), ("2:3", 768, 1152), ("3:2", 1152, 768), ("3:5", 768, 1280), ("5:3", 1280, 768),
    ("7:9", 896, 1152), ("9:7", 1152, 896), ("6:11", 768, 1408), ("11:6", 1408, 768), ("5:11", 640, 1408),
    ("11:5", 1408, 640), ("9:5", 1152, 640), ("16:9", 1173, 640),
)  # fmt: skip
# Stability's aspect_ratio enumeration (Bedrock user guide), each at the megapixel it draws
# (SD3.5 Large "supports 1 megapixel resolution output").
STABILITY_SHAPES = (
    ("1:1", 1024, 1024), ("16:9", 1344, 768), ("21:9", 1536, 640), ("2:3", 832, 1216), ("3:2", 1216, 832),
    ("4:5", 896, 1088), ("5:4", 1088, 896), ("9:16", 768, 1344), ("9:21", 640, 1536),
)  # fmt: skip

# Nova Canvas: seeds 0 to 858,993,459, as AWS's own examples draw them (aws-doc-sdk-examples'
# amazon_nova_canvas/invoke_model.py) and AWS Labs' Nova Canvas server validates them
# (awslabs/mcp, nova_canvas_mcp_server/models.py: cfgScale 1.1 to 10, 1 to 5 images, text 1 to
# 1,024 characters). Titan v2: seeds 0 to 2,147,483,646, text up to 512 characters, cfgScale
# 1.1 to 10 (Bedrock user guide, "Amazon Titan Image Generator G1 models"). Stability: seeds
# 0 to 4,294,967,294, where 0 asks for a random one, so a repeatable seed starts at 1; prompts
# up to 10,000 characters (Bedrock user guide, Stable Image Ultra, SD3.5 Large and Stable Image
# Core pages).
#
# Lifecycle, as read on 2026-12-02 from Bedrock's "Model lifecycle (Legacy)" page (for models
# launched before 2026-09-07: https://docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html)
# and the model cards (https://docs.aws.amazon.com/bedrock/latest/userguide/model-cards.html):
# Nova Canvas is Legacy with its end of life on 2026-09-30 (us-east-1, where the bot used it);
# Titan Image Generator v2 reached its end of life on 2026-06-30. Stable Image Ultra 1.1,
# Stable Image Core 1.1 and SD3.5 Large are Active, with no end-of-life date, served on demand
# in us-west-2 only. After its end of life a model answers ResourceNotFoundException "This model
# version has reached the end of its life"; a Legacy model an account has not used lately
# answers "Access denied. This Model is marked by provider as Legacy..." (both in
# tests/fixtures/bedrock_errors.json, with where they were seen).
#
# Cross-Region inference profiles: none of Stability's system-defined profiles is a
# text-to-image model. Observed with ListInferenceProfiles in us-west-2 (2026-08: thirteen
# Stability profiles, every one an image service such as us.stability.stable-image-remove-
# background-v1:0, routing among us-east-1, us-east-2 and us-west-2), and InvokeModel with
# "us.stability.stable-image-core-v1:1" answers ValidationException "The provided model
# identifier is invalid". So the profiles below are empty and a profile id for these models is
# refused with that reason; when AWS adds one, it goes in ``profiles`` with the Regions it
# routes to (its model card lists them), and infra/template.yaml grants it.
NOVA_CANVAS = Model(
    "amazon.nova-canvas-v1:0", "Nova Canvas", "amazon", (0, 858_993_459), 1024, (1.1, 10.0),
    lifecycle=LEGACY, eol=date(2026, 9, 30), regions=("us-east-1",),
)  # fmt: skip
TITAN_V2 = Model(
    "amazon.titan-image-generator-v2:0", "Titan Image Generator v2", "amazon", (0, 2_147_483_646), 512,
    (1.1, 10.0), sizes=TITAN_SIZES, lifecycle=LEGACY, eol=date(2026, 6, 30),
    regions=("us-east-1", "us-west-2"),
)  # fmt: skip
STABLE_IMAGE_ULTRA = Model(
    "stability.stable-image-ultra-v1:1", "Stable Image Ultra", "stability", (1, 4_294_967_294), 10_000, None,
    sizes=STABILITY_SHAPES, regions=("us-west-2",), marketplace=True,
)  # fmt: skip
STABLE_IMAGE_CORE = Model(
    "stability.stable-image-core-v1:1", "Stable Image Core", "stability", (1, 4_294_967_294), 10_000, None,
    sizes=STABILITY_SHAPES, regions=("us-west-2",), marketplace=True,
)  # fmt: skip
SD35_LARGE = Model(
    "stability.sd3-5-large-v1:0", "Stable Diffusion 3.5 Large", "stability", (1, 4_294_967_294), 10_000,
    None, sizes=STABILITY_SHAPES, regions=("us-west-2",), marketplace=True,
)  # fmt: skip
# Every model the bot knows, retired ones included (to say so by name); the first is the default.
# Stable Image Core is the default: Active, the cheapest of the three per image ($0.04, against
# $0.08 for SD3.5 Large and $0.14 for Ultra: bot/ops/prices.json), quick enough for a chat,
# and it takes the negative prompt `--no` sends.
MODELS = {m.model_id: m for m in (STABLE_IMAGE_CORE, STABLE_IMAGE_ULTRA, SD35_LARGE, NOVA_CANVAS, TITAN_V2)}
DEFAULT_MODEL_ID = STABLE_IMAGE_CORE.model_id
# A cross-Region inference profile id is a geography's prefix before the model id.
PROFILE_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")


def today() -> date:
    return datetime.now(UTC).date()


def retired(model: Model, on: date) -> bool:
    """Past its end of life on ``on``: Bedrock serves it no more."""
    return model.eol is not None and on >= model.eol


def active_ids(on: date, *, besides: str = "") -> list[str]:
    """The ids of the models that are Active on ``on`` (the default first), ``besides`` left out."""
    return [
        m.model_id for m in MODELS.values()
        if m.lifecycle == ACTIVE and not retired(m, on) and m.model_id != besides
    ]  # fmt: skip


def selectable_ids(on: date, catalogue: Mapping[str, Model] = MODELS) -> list[str]:
    """What a deploy may choose on ``on`` (the template's BedrockModelId, the priced models):
    every model of ``catalogue`` not past its end of life, and each inference profile of one."""
    served = [m for m in catalogue.values() if not retired(m, on)]
    return [m.model_id for m in served] + [p for m in served for p in m.profiles]


@dataclass(frozen=True)
class Resolved:
    """A BEDROCK_MODEL_ID: the foundation model it draws with, and the profile it goes through."""

    model_id: str  # as configured: what InvokeModel is called with
    foundation_model_id: str
    model: Model
    profile_regions: tuple[str, ...] = ()  # where the profile routes; () for the model itself


def foundation_model(model_id: str, catalogue: Mapping[str, Model] = MODELS) -> Resolved:
    """What ``model_id`` (a model id or a cross-Region inference profile id) draws with among
    ``catalogue``; pure, for the settings, the backend and any check that asks Bedrock about the
    model (GetFoundationModel takes :attr:`Resolved.foundation_model_id`). Raises KeyError for an
    id that names no model the bot knows, or a profile AWS does not offer for it."""
    if model_id in catalogue:
        return Resolved(model_id, model_id, catalogue[model_id])
    for model in catalogue.values():
        if model_id in model.profiles:
            return Resolved(model_id, model.model_id, model, model.profiles[model_id])
    raise KeyError(model_id)


def unavailable(model_id: str, on: date) -> str | None:
    """Why BEDROCK_MODEL_ID cannot be ``model_id`` at all (a sentence naming what it may be), or
    None when the bot knows the model. Never repeats an id the bot does not know.

    A known model past its end of life is not refused here: Bedrock's own refusal decides, at
    run time, and is said in the job's thread (bot/backends/bedrock.py, ``client_error``), so
    the bot keeps answering Slack and serving image links meanwhile
    (:func:`retirement_warning` says it once at start)."""
    try:
        foundation_model(model_id)
    except KeyError:
        base = model_id.split(".", 1)[1] if model_id.startswith(PROFILE_PREFIXES) else ""
        if base in MODELS:
            where = ", ".join(MODELS[base].regions)
            return (
                f"BEDROCK_MODEL_ID names a cross-Region inference profile AWS does not offer for "
                f"{MODELS[base].name}: use the model id {base} with BEDROCK_REGION set to {where}"
            )
        return f"BEDROCK_MODEL_ID must name a model the bot draws with: {_choices(on)}"
    return None


def retirement_warning(model_id: str, on: date) -> str | None:
    """What an operator should hear when BEDROCK_MODEL_ID names a known model that is past its
    end of life on ``on``, naming the Active ones; None otherwise."""
    try:
        model = foundation_model(model_id).model
    except KeyError:
        return None
    if not retired(model, on):
        return None
    assert model.eol is not None
    instead = _choices(on, besides=model.model_id)
    return (
        f"BEDROCK_MODEL_ID names {model.name}, which reached its end of life on Bedrock on "
        f"{model.eol.isoformat()}: Bedrock will refuse every job until you {instead}"
    )


def _choices(on: date, *, besides: str = "") -> str:
    return f"set BEDROCK_MODEL_ID to one of {', '.join(active_ids(on, besides=besides))}"
