"""The JumpStart text-to-image contract, read from tests/fixtures/jumpstart_text_to_image.json
(taken from AWS's public example notebook; the fixture names its source). The SageMaker stand-in
refuses requests that break it and the contract tests hold the backend to it, so neither side
defines the contract for the other."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "jumpstart_text_to_image.json"
CONTRACT: dict[str, Any] = json.loads(FIXTURE.read_text())
REQUEST: dict[str, Any] = CONTRACT["request"]
RESPONSE: dict[str, Any] = CONTRACT["response"]
_JPEG_MAGIC = b"\xff\xd8\xff"


def header_problems(content_type: str, accept: str) -> list[str]:
    problems = []
    if content_type != REQUEST["content_type"]:
        problems.append(f"Content type {content_type} is not supported by this framework.")
    if accept != REQUEST["accept"]:
        problems.append(f"Accept type {accept} is not supported by this stand-in.")
    return problems


def request_problems(body: object) -> list[str]:
    """What in a decoded request body breaks the contract; empty when it keeps it."""
    if not isinstance(body, dict):
        return ["the request body must be a JSON object"]
    fields: dict[str, dict[str, Any]] = REQUEST["fields"]
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
    return problems


def response_problems(raw: bytes) -> list[str]:
    try:
        answer = json.loads(raw)
    except ValueError:
        return ["the answer is not JSON"]
    if not isinstance(answer, dict):
        return ["the answer must be a JSON object"]
    problems = [f"unknown field {name!r}" for name in answer if name not in RESPONSE["fields"]]
    for name, rule in RESPONSE["fields"].items():
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
