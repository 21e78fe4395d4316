"""How Bedrock's stand-ins (tests/fakes/bedrock_runtime.py, tests/fakes/bedrock_control.py) answer:
an :class:`Answer`, Bedrock's errors and their words (tests/fixtures/bedrock_errors.json), and the
sending itself: JSON with its length and a request id, and for an error its code in
``x-amzn-ErrorType`` with Bedrock's suffix, as Bedrock's REST-JSON APIs send them."""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ERRORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "bedrock_errors.json").read_text()
)
ERROR_TYPE_SUFFIX: str = ERRORS["error_type_suffix"]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""  # empty with status 200: real images
    error_type: str = ""  # the code, sent as x-amzn-ErrorType
    delay: float = 0.0


def error(code: str, message: str | None = None) -> Answer:
    """Bedrock's answer for ``code``, with its usual message unless another is given."""
    known = ERRORS["errors"][code]
    said = known["message"] if message is None else message
    return Answer(known["status"], json.dumps({"message": said}).encode(), code)


def model_refusal(kind: str, **words: str) -> Answer:
    """One of Bedrock's refusals of a model itself (``end_of_life``, ``legacy_inactive``,
    ``not_subscribed``, ``needs_profile``), with its code and words (``words`` fill its blanks)."""
    known = ERRORS["refusals"][kind]
    return error(known["code"], known["message"].format(**words))


def malformed(violations: list[str]) -> Answer:
    """Bedrock's schema-validation refusal: one violation named, or how many there were."""
    templates = ERRORS["malformed"]
    if len(violations) == 1:
        message = templates["one"].format(violation=violations[0])
    else:
        message = templates["several"].format(count=len(violations))
    return error("ValidationException", message)


def send_answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, error_type: str = "") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("x-amzn-RequestId", secrets.token_hex(16))
    if error_type:
        handler.send_header("x-amzn-ErrorType", error_type + ERROR_TYPE_SUFFIX)
    handler.end_headers()
    with contextlib.suppress(OSError):  # the client may have stopped waiting
        handler.wfile.write(body)
