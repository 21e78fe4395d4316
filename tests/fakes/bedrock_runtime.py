"""A local stand-in for Amazon Bedrock's runtime InvokeModel (``POST /model/{modelId}/invoke``)
on 127.0.0.1, for the image models the bot knows, reached the way the bot reaches Bedrock:
boto3's ``bedrock-runtime`` client through AWS_ENDPOINT_URL_BEDROCK_RUNTIME, in one region.

Each model's request and answer come from tests/fixtures/bedrock_*.json (taken from AWS's public
examples and model pages; each fixture names its sources), and it refuses what Bedrock refuses:

- a request without a valid SigV4 signature for service ``bedrock`` in its region: 403
  MissingAuthenticationTokenException, UnrecognizedClientException or InvalidSignatureException
  (the signature checked from the specification: non-S3 services sign the path encoded twice);
- a model id it does not know, or a model not served in the region the request is signed for
  (each fixture's ``regions``): ValidationException "The provided model identifier is invalid."
  (as for a cross-Region inference profile id AWS does not offer, or one called from outside its
  source Regions); a model served only through an inference profile (Stability's image services)
  called by its own id: ValidationException "Invocation of model ID ... with on-demand throughput
  isn't supported..." (tests/fakes/bedrock_images.py);
- a model past its end of life (``retired``; by default each fixture whose ``lifecycle.eol`` has
  passed): ResourceNotFoundException "This model version has reached the end of its life...";
  a Legacy model this account has not used lately (``legacy_inactive``): ResourceNotFoundException
  "Access denied. This Model is marked by provider as Legacy...";
- a Marketplace model (Stability's) the account is not subscribed to (``subscribed``): the first
  invocation subscribes it when the caller may (``may_subscribe``, standing for
  aws-marketplace:Subscribe and ViewSubscriptions), else AccessDeniedException "Model access is
  denied due to IAM user or service role is not authorized to perform the required AWS
  Marketplace actions...", and every call after it too. A subscription the first invocation
  started may still refuse a few calls with the same AccessDeniedException
  (``subscription_refusals``): "it may take up to 2 minutes for the subscription to complete.
  During this time, API calls may continue to return AccessDeniedException"
  (https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html; the same words with
  "try again after 2 minutes" in aws-samples/anthropic-on-aws#251, 2026-07-17);
- a body that breaks the model's schema: ValidationException in Bedrock's schema-validation
  wording, "Malformed input request: #/path: ..., please reformat your input and try again.";
  a size Nova (pixels, 1:4 to 4:1) or Titan (its table) does not draw (Titan's words as a user
  reported them; for Nova's pixel and ratio limits no wording was found, so it says them in the
  same schema wording);
- an input image (the image services, SD3.5 image-to-image) that is not base64 of a JPEG, PNG or
  WebP, or is outside the model's documented sides, pixel count or aspect ratio; a body breaking
  a rule its schema does not hold (SD3.5's modes, Outpaint's directions): ValidationException in
  the schema wording (tests/fakes/bedrock_images.py);
- a prompt with one of ``filtered_terms``: Nova and Titan answer ValidationException "This request
  has been blocked by our content filters..."; Stability answers 200 with finish_reasons
  ["Filter reason: prompt"].

Otherwise it answers with real images of the size asked for: PNG for Nova and Titan (their only
format), and for Stability the ``output_format`` asked for (PNG by default); a model given an
image answers one drawn from it at the documented size. ``scripted`` answers
(throttling, an outage) are used up first, in order, after a request passes the checks above.
Error answers carry ``x-amzn-ErrorType: <code>:http://internal.amazon.com/coral/com.amazon.bedrock/``
and ``{"message": ...}``, as Bedrock sends them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from bot.backends.placeholder import draw
from bot.local.loopback import Loopback, QuietHandler, Served
from bot.model.prompt import ImageRequest
from tests.fakes import bedrock_images as images
from tests.fakes.bedrock_http import Answer, error, malformed, model_refusal, send_answer
from tests.fakes.image_ops import sent_image

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODELS: dict[str, dict[str, Any]] = {
    spec["model_id"]: spec
    for spec in (json.loads(p.read_text()) for p in sorted(FIXTURES.glob("bedrock_*.json")))
    if "model_id" in spec
}
ALGORITHM = "AWS4-HMAC-SHA256"
SIGNING_NAME = "bedrock"  # the service model's signingName; the host is bedrock-runtime
_AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$"
)
_PATH = re.compile(r"^/model/([^/]+)/invoke$")


@dataclass
class Invocation:
    model_id: str
    headers: dict[str, str]
    body: dict[str, Any]
    path: str = ""  # the request path exactly as it arrived

    def image(self, name: str = "image") -> PILImage:
        """The image this call sent in ``name`` (base64 in the JSON body), decoded."""
        return sent_image(self.body, name)


def _past_end_of_life() -> set[str]:
    ends = {model_id: (spec.get("lifecycle") or {}).get("eol") for model_id, spec in MODELS.items()}
    return {model_id for model_id, eol in ends.items() if eol and date.fromisoformat(eol) <= date.today()}


@dataclass
class BedrockStandIn(Served):
    invocations: list[Invocation] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # models refused as retired or unsubscribed
    scripted: list[Answer] = field(default_factory=list)
    # Marketplace models this account is subscribed to, and whether the caller may subscribe it
    # on a first invocation.
    subscribed: set[str] = field(default_factory=lambda: set(MODELS))
    may_subscribe: bool = False
    # Calls refused while the subscription a first invocation started settles, per model.
    subscription_refusals: int = 0
    _settling: dict[str, int] = field(default_factory=dict)
    retired: set[str] = field(default_factory=_past_end_of_life)
    legacy_inactive: set[str] = field(default_factory=set)
    # Words its content filters refuse a prompt for.
    filtered_terms: tuple[str, ...] = ("forbidden-subject",)
    keys: dict[str, str] = field(default_factory=lambda: {"testing": "testing"})
    region: str = "us-west-2"  # where Bedrock serves Stability's image models

    def start(self) -> BedrockStandIn:
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = stand_in.answer("POST", self.path, dict(self.headers.items()), raw)
                time.sleep(answer.delay)
                send_answer(self, answer.status, answer.body, answer.error_type)

        self._server = Loopback(Handler)
        return self

    def calls_to(self, model_id: str) -> list[Invocation]:
        return [i for i in self.invocations if i.model_id == model_id]

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        refusal = self._signature_refusal(method, target, lowered, raw)
        if refusal is not None:
            return refusal
        path = target.partition("?")[0]
        match = _PATH.match(path)
        model_id = unquote(match.group(1)) if match else ""
        spec, unreachable = images.resolve(MODELS, model_id, self.region)  # a model id or a profile id
        if spec is None:
            return unreachable or error("ValidationException")
        kind = self._model_refusal(spec["model_id"], spec)
        if kind:
            self.refused.append(model_id)
            return model_refusal(kind)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.invocations.append(Invocation(model_id, lowered, body if isinstance(body, dict) else {}, path))
        if body is None:
            return error(
                "ValidationException", "Malformed input request, please reformat your input and try again."
            )
        violations = schema_violations(spec["request"]["schema"], body) or images.rule_violations(spec, body)
        if violations:
            return malformed(violations)
        size = _size_refusal(spec, body) or images.input_refusal(spec, body)
        if size is not None:
            return size
        if self.scripted:
            return self.scripted.pop(0)
        if spec["model_id"].startswith("amazon."):
            return self._amazon(spec, body)
        if images.takes_image(spec, body):
            return images.answer(spec, body, self._filtered)
        return self._stability(spec, body)

    def _model_refusal(self, model_id: str, spec: dict[str, Any]) -> str:
        if model_id in self.retired:
            return "end_of_life"
        if model_id in self.legacy_inactive:
            return "legacy_inactive"
        if spec.get("marketplace") and model_id not in self.subscribed:
            if not self.may_subscribe:
                return "not_subscribed"
            left = self._settling.setdefault(model_id, self.subscription_refusals)
            if left > 0:  # the first invocation started it; it has not settled yet
                self._settling[model_id] = left - 1
                return "not_subscribed"
            self.subscribed |= images.subscription_group(MODELS, model_id)  # the subscription is done
        return ""

    # ---- the two families' answers ------------------------------------------------------------

    def _filtered(self, text: str) -> bool:
        return any(term in text.lower() for term in self.filtered_terms)

    def _amazon(self, spec: dict[str, Any], body: dict[str, Any]) -> Answer:
        params = body["textToImageParams"]
        if self._filtered(params["text"]):
            return error("ValidationException", spec["content_filter"]["prompt"])
        config = {**spec["request"]["defaults"], **body.get("imageGenerationConfig", {})}
        request = ImageRequest(
            prompt=params["text"],
            negative_prompt=params.get("negativeText", ""),
            width=config["width"],
            height=config["height"],
            seed=config.get("seed", 0),
            count=config["numberOfImages"],
        )
        images = [_encoded(draw(request, n), "png") for n in range(request.count)]
        return Answer(body=json.dumps({"images": images}).encode())

    def _stability(self, spec: dict[str, Any], body: dict[str, Any]) -> Answer:
        if self._filtered(body["prompt"]):
            return Answer(body=json.dumps(spec["response"]["filtered_example"]).encode())
        defaults = spec["request"]["defaults"]
        seed = body.get("seed") or secrets.randbelow(4294967294) + 1  # 0 or none: a random one
        width, height = spec["response"]["image_sizes"][body.get("aspect_ratio", defaults["aspect_ratio"])]
        request = ImageRequest(
            prompt=body["prompt"],
            negative_prompt=body.get("negative_prompt", ""),
            width=width,
            height=height,
            seed=seed,
        )
        image = _encoded(draw(request, 0), body.get("output_format", defaults["output_format"]))
        answer = {"seeds": [seed], "finish_reasons": [None], "images": [image]}
        return Answer(body=json.dumps(answer).encode())

    # ---- SigV4, as any AWS service but S3 checks it -------------------------------------------

    def _signature_refusal(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> Answer | None:
        match = _AUTH_HEADER.match(headers.get("authorization", ""))
        if match is None or "x-amz-date" not in headers:
            return error("MissingAuthenticationTokenException")
        scope = match.group(1).split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return error("MissingAuthenticationTokenException")
        access_key, date, region, service = scope[:4]
        if access_key not in self.keys:
            return error("UnrecognizedClientException")
        if region != self.region or service != SIGNING_NAME:
            message = (
                f"Credential should be scoped to a valid region, not '{region}'. "
                if region != self.region
                else (f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ")
            )
            return error("InvalidSignatureException", message)
        signed = match.group(2).split(";")
        if "host" not in signed:
            return error("InvalidSignatureException")
        path, _, query = target.partition("?")
        canonical = "\n".join(
            [
                method,
                quote(path, safe="/~"),  # every service but S3 signs the already-encoded path encoded again
                "&".join(sorted(query.split("&"))) if query else "",
                "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
                ";".join(signed),
                hashlib.sha256(raw).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [
                ALGORITHM,
                headers["x-amz-date"],
                "/".join(scope[1:]),
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = _hmac(("AWS4" + self.keys[access_key]).encode(), date)
        for part in (region, service, "aws4_request"):
            key = _hmac(key, part)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(3)):
            return error("InvalidSignatureException")
        return None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _encoded(jpeg: bytes, output_format: str) -> str:
    if output_format == "jpeg":
        return base64.b64encode(jpeg).decode()
    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        image.save(out, format=output_format.upper())
    return base64.b64encode(out.getvalue()).decode()


def _size_refusal(spec: dict[str, Any], body: dict[str, Any]) -> Answer | None:
    size = spec["request"].get("size")
    if size is None:
        return None
    config = {**spec["request"]["defaults"], **body.get("imageGenerationConfig", {})}
    width, height = config["width"], config["height"]
    if "sizes" in size:
        if [width, height] not in size["sizes"]:
            return error("ValidationException", size["refusal"].format(width=width, height=height))
        return None
    problems = []
    if width * height >= size["max_pixels_below"]:
        problems.append(
            f"#/imageGenerationConfig: {width * height} pixels is not less than {size['max_pixels_below']}"
        )
    if max(width, height) > size["max_aspect"] * min(width, height):
        problems.append(f"#/imageGenerationConfig: aspect ratio {width}:{height} is outside 1:4 to 4:1")
    return malformed(problems) if problems else None


def schema_violations(schema: dict[str, Any], value: Any, path: str = "#") -> list[str]:
    """What in ``value`` breaks ``schema`` (the subset of JSON Schema the fixtures use), in the
    words of the validator Bedrock reports with ("#/a/b: 11 is not less or equal to 10")."""
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected type: JSONObject, found: {_type_name(value)}"]
        found = [
            f"{path}: required key [{name}] not found"
            for name in schema.get("required", [])
            if name not in value
        ]
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            found += [
                f"{path}: extraneous key [{name}] is not permitted"
                for name in value
                if name not in properties
            ]
        for name, sub in properties.items():
            if name in value:
                found += schema_violations(sub, value[name], f"{path}/{name}")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected type: String, found: {_type_name(value)}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value} is not a valid enum value"]
        if len(value) < schema.get("minLength", 0):
            return [f"{path}: expected minLength: {schema['minLength']}, actual: {len(value)}"]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return [f"{path}: expected maxLength: {schema['maxLength']}, actual: {len(value)}"]
        return []
    if kind in ("integer", "number"):
        integral = isinstance(value, int) and not isinstance(value, bool)
        if not (integral or (kind == "number" and isinstance(value, float) and math.isfinite(value))):
            expected = "Integer" if kind == "integer" else "Number"
            return [f"{path}: expected type: {expected}, found: {_type_name(value)}"]
        if "minimum" in schema and value < schema["minimum"]:
            return [f"{path}: {value} is not greater or equal to {schema['minimum']}"]
        if "maximum" in schema and value > schema["maximum"]:
            return [f"{path}: {value} is not less or equal to {schema['maximum']}"]
        if "multipleOf" in schema and value % schema["multipleOf"]:
            return [f"{path}: {value} is not a multiple of {schema['multipleOf']}"]
        return []
    raise ValueError(f"the fixture names a type the stand-in does not check: {kind!r}")


def _type_name(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    names: dict[type, str] = {str: "String", list: "JSONArray", dict: "JSONObject"}
    return names.get(type(value), type(value).__name__)
