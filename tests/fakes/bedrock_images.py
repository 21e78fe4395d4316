"""What the Bedrock runtime stand-in (tests/fakes/bedrock_runtime.py) does for the models that take
an image: Stability AI Image Services (Fast, Conservative and Creative Upscale, Outpaint, Search
and Replace) and Stable Diffusion 3.5 Large in image-to-image mode, each as its fixture
(tests/fixtures/bedrock_*.json) and the pages it names describe them:

- which id reaches a model: a model Bedrock serves only through a cross-Region inference profile
  (``inference.on_demand`` false) answers its own id with ValidationException "Invocation of model
  ID ... with on-demand throughput isn't supported. Retry your request with the ID or ARN of an
  inference profile that contains this model." (tests/fixtures/bedrock_errors.json), and its
  profile id (``inference.profiles``) only from the profile's source Regions;
- the rules a JSON schema does not say: SD3.5's modes ("image-to-image requires the prompt, image,
  and strength parameters") and Outpaint's "at least one outpaint direction", in the schema
  wording Bedrock refuses a body with;
- the input image: base64 of a JPEG, PNG or WebP within the model's documented sides, pixel count
  and aspect ratio (``request.input_image``), refused in the schema wording with the documentation's
  own sentence (no wording of Bedrock's own for these was found);
- the answer: a real image in the ``output_format`` asked for, made from the input with PIL at the
  documented size (``response.output_size``): upscaled, grown by Outpaint's margins with the input
  kept at (left, up), or edited in place; each carries a mark so a test can tell it from the input
  (a square in its lower right corner in a colour far from the corner's own, or margins of one
  colour that follows from the prompt).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from PIL import Image

from tests.fakes.bedrock_http import Answer, error, malformed, model_refusal
from tests.fakes.image_ops import encoded, mark, opened, tint

FILTERED_FIELDS = ("prompt", "search_prompt")  # the words a content filter reads


def resolve(
    models: dict[str, dict[str, Any]], model_id: str, region: str
) -> tuple[dict[str, Any] | None, Answer | None]:
    """The model ``model_id`` reaches from ``region`` (a model id or a cross-Region inference
    profile id), or Bedrock's refusal of it."""
    spec = models.get(model_id)
    if spec is not None:
        if region not in spec["regions"]:
            return None, error("ValidationException")
        if not spec.get("inference", {}).get("on_demand", True):
            return None, model_refusal("needs_profile", model_id=model_id)
        return spec, None
    for spec in models.values():
        sources = spec.get("inference", {}).get("profiles", {}).get(model_id)
        if sources is not None:
            return (spec, None) if region in sources else (None, error("ValidationException"))
    return None, error("ValidationException")


def subscription_group(models: dict[str, dict[str, Any]], model_id: str) -> set[str]:
    """The models one Marketplace subscription to ``model_id`` enrols the account in."""
    group = models[model_id].get("subscription_group")
    if group is None:
        return {model_id}
    return {other for other, spec in models.items() if spec.get("subscription_group") == group}


def mode(spec: dict[str, Any], body: dict[str, Any]) -> str | None:
    """The generation mode of a body for a model with modes (SD3.5), else None."""
    modes = spec["request"].get("modes")
    if modes is None:
        return None
    if "mode" in body:
        return str(body["mode"])
    return str(modes["when_image_without_mode"] if "image" in body else modes["default"])


def takes_image(spec: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether this call draws from an input image (an image service, or SD3.5 image-to-image)."""
    return "input_image" in spec["request"] and mode(spec, body) in (None, "image-to-image")


def rule_violations(spec: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """What in a body breaks the model's rules beyond its JSON schema, in the schema wording."""
    found = []
    current = mode(spec, body)
    if current is not None:
        rule = spec["request"]["modes"][current]
        found += [f"#: required key [{name}] not found" for name in rule["required"] if name not in body]
        extra = [name for name in rule["not_permitted"] if name in body]
        found += [f"#: extraneous key [{name}] is not permitted" for name in extra]
    for rule in spec["request"].get("rules", []):
        if rule["check"] == "any_nonzero" and not any(body.get(name) for name in rule["fields"]):
            found.append(f"#: {rule['says'].rstrip('.')}")
    return found


def input_refusal(spec: dict[str, Any], body: dict[str, Any]) -> Answer | None:
    """Bedrock's refusal of an input image the model does not take, or None."""
    rules = spec["request"].get("input_image")
    if rules is None or rules["field"] not in body or not takes_image(spec, body):
        return None
    where = f"#/{rules['field']}"
    image = opened(body[rules["field"]], tuple(rules["formats"]))
    if image is None:
        return malformed([f"{where}: {rules['formats_say'].rstrip('.')}"])
    width, height = image.size
    broken = [
        f"{where}: {rule['says'].rstrip('.')}" for rule in rules["rules"] if _breaks(rule, width, height)
    ]
    return malformed(broken) if broken else None


def _breaks(rule: dict[str, Any], width: int, height: int) -> bool:
    if rule["check"] == "aspect":
        return max(width, height) > float(rule["max"]) * min(width, height)
    measured = {"width": width, "height": height, "side": min(width, height), "pixels": width * height}
    value = measured[rule["check"]]
    return not int(rule.get("min", 0)) <= value <= int(rule.get("max", value))


def answer(spec: dict[str, Any], body: dict[str, Any], filtered: Callable[[str], bool]) -> Answer:
    """The model's answer to a body that passed every check: one image drawn from the input."""
    if any(isinstance(body.get(name), str) and filtered(body[name]) for name in FILTERED_FIELDS):
        return Answer(body=json.dumps(spec["response"]["filtered_example"]).encode())
    rules = spec["request"]["input_image"]
    source = opened(body[rules["field"]], tuple(rules["formats"]))
    assert source is not None  # input_refusal let it through
    drawn = draw(source, spec["response"]["output_size"], body)
    output_format = body.get("output_format", spec["request"]["defaults"]["output_format"])
    seed = body.get("seed") or secrets.randbelow(4294967294) + 1  # 0 or none: a random one
    reply = {"seeds": [seed], "finish_reasons": [None], "images": [encoded(drawn, output_format)]}
    return Answer(body=json.dumps(reply).encode())


def output_size(rule: dict[str, Any], width: int, height: int, body: dict[str, Any]) -> tuple[int, int]:
    """The size the model answers an input of ``width`` x ``height`` with."""
    if rule["rule"] == "scale":
        factor = float(rule["factor"])
        if "max_side" in rule:  # "to 4K resolution": never past it
            factor = min(factor, rule["max_side"] / max(width, height))
        return max(1, round(width * factor)), max(1, round(height * factor))
    if rule["rule"] == "margins":
        margins = {side: int(body.get(side, 0)) for side in ("left", "right", "up", "down")}
        return width + margins["left"] + margins["right"], height + margins["up"] + margins["down"]
    return width, height


def draw(source: Image.Image, rule: dict[str, Any], body: dict[str, Any]) -> Image.Image:
    size = output_size(rule, *source.size, body)
    if rule["rule"] == "margins":  # the input kept where it was, new content around it
        drawn = Image.new("RGB", size, tint(*(body.get(name, "") for name in FILTERED_FIELDS)))
        drawn.paste(source.convert("RGB"), (int(body.get("left", 0)), int(body.get("up", 0))))
        return drawn
    return mark(source.convert("RGB").resize(size, Image.Resampling.BICUBIC))
