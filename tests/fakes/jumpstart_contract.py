"""The JumpStart contracts, read from tests/fixtures/jumpstart_<name>.json (each taken from one of
AWS's public example notebooks, which the fixture names): ``text_to_image`` (Stable Diffusion 2.1
base, every endpoint's unless a test says otherwise), ``upscaling`` (the Stable Diffusion x4
upscaler) and ``inpainting`` (Stable Diffusion 2 inpainting). The SageMaker stand-in refuses
requests that break its endpoint's contract and the contract tests hold the backend to it, so
neither side defines the contract for the other. Each function takes the contract to hold to,
text-to-image by default."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from tests.fakes.image_ops import opened

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "jumpstart_text_to_image.json"
CONTRACTS: dict[str, dict[str, Any]] = {
    name: json.loads((FIXTURES / f"jumpstart_{name}.json").read_text())
    for name in ("text_to_image", "upscaling", "inpainting")
}
CONTRACT: dict[str, Any] = CONTRACTS["text_to_image"]
REQUEST: dict[str, Any] = CONTRACT["request"]
RESPONSE: dict[str, Any] = CONTRACT["response"]
_JPEG_MAGIC = b"\xff\xd8\xff"


def header_problems(content_type: str, accept: str, contract: dict[str, Any] = CONTRACT) -> list[str]:
    problems = []
    if content_type != contract["request"]["content_type"]:
        problems.append(f"Content type {content_type} is not supported by this framework.")
    if accept != contract["request"]["accept"]:
        problems.append(f"Accept type {accept} is not supported by this stand-in.")
    return problems


def request_problems(body: object, contract: dict[str, Any] = CONTRACT) -> list[str]:
    """What in a decoded request body breaks the contract; empty when it keeps it."""
    if not isinstance(body, dict):
        return ["the request body must be a JSON object"]
    fields: dict[str, dict[str, Any]] = contract["request"]["fields"]
    problems = [f"unknown parameter {name!r}" for name in body if name not in fields]
    for name, rule in fields.items():
        if name not in body:
            if rule.get("required"):
                problems.append(f"{name} must be specified")
            continue
        problems.extend(_value_problems(name, body[name], rule))
        kind_of = rule.get("same_kind_as")
        if kind_of and isinstance(body.get(kind_of), list) and not isinstance(body[name], list):
            problems.append(f"{name} must be a list of strings when {kind_of} is a list")
        problems.extend(_size_problems(name, body, rule.get("same_size_as")))
    return problems


def _size_problems(name: str, body: dict[str, Any], other: str | None) -> list[str]:
    if other is None or other not in body:
        return []
    mine, theirs = opened(body[name]), opened(body[other])
    if mine is None or theirs is None or mine.size == theirs.size:
        return []  # an unreadable image is said by its own type
    return [f"{name} is {mine.width}x{mine.height}, not the size of {other} ({theirs.width}x{theirs.height})"]


def response_problems(raw: bytes, contract: dict[str, Any] = CONTRACT) -> list[str]:
    try:
        answer = json.loads(raw)
    except ValueError:
        return ["the answer is not JSON"]
    if not isinstance(answer, dict):
        return ["the answer must be a JSON object"]
    fields: dict[str, dict[str, Any]] = contract["response"]["fields"]
    problems = [f"unknown field {name!r}" for name in answer if name not in fields]
    for name, rule in fields.items():
        if name not in answer:
            problems.append(f"{name} is missing")
        else:
            problems.extend(_value_problems(name, answer[name], rule))
    return problems


def _value_problems(name: str, value: object, rule: dict[str, Any]) -> list[str]:
    types: list[str] = rule["types"]
    if not any(_is(kind, value) for kind in types):
        return [f"{name} must be {' or '.join(types)}, not {type(value).__name__}"]
    problems = []
    if isinstance(value, int) and "minimum" in rule and value < rule["minimum"]:
        problems.append(f"{name} must be at least {rule['minimum']}")
    if isinstance(value, int) and "multiple_of" in rule and value % rule["multiple_of"]:
        problems.append(f"{name} must be divisible by {rule['multiple_of']}")
    return problems


def _is(kind: str, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "string_list":
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no integer
    if kind == "float":
        return isinstance(value, float)
    if kind == "base64_jpeg":  # an image the container opens
        return opened(value, ("JPEG",)) is not None
    if kind == "base64_jpeg_list":
        return isinstance(value, list) and bool(value) and all(_is_base64_jpeg(v) for v in value)
    raise ValueError(f"the fixture names an unknown type {kind!r}")


def _is_base64_jpeg(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return base64.b64decode(value, validate=True).startswith(_JPEG_MAGIC)
    except (binascii.Error, ValueError):
        return False
