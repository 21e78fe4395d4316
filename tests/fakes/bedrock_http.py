"""How Bedrock's stand-ins (tests/fakes/bedrock_runtime.py, tests/fakes/bedrock_control.py) send
an answer: JSON with its length and a request id, and for an error its code in
``x-amzn-ErrorType`` with Bedrock's suffix (tests/fixtures/bedrock_errors.json), as Bedrock's
REST-JSON APIs send them."""

from __future__ import annotations

import contextlib
import json
import secrets
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ERROR_TYPE_SUFFIX: str = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "bedrock_errors.json").read_text()
)["error_type_suffix"]


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
