"""A local stand-in for the SageMaker runtime's InvokeEndpoint, speaking the JumpStart
text-to-image contract over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bot.backends.placeholder import draw
from bot.local.loopback import Loopback, QuietHandler, Served
from bot.prompt import ImageRequest


@dataclass
class Invocation:
    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""  # empty: real images
    error_type: str = ""  # sent as x-amzn-ErrorType, as SageMaker names its errors
    delay: float = 0.0  # seconds to wait before answering (a slow endpoint)


@dataclass
class SageMakerStandIn(Served):
    invocations: list[Invocation] = field(default_factory=list)
    # What the next answers are, used up in order; after them, real images.
    scripted: list[Answer] = field(default_factory=list)

    def start(self) -> SageMakerStandIn:
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint = self.path.split("/")[2] if self.path.startswith("/endpoints/") else ""
                answer = stand_in.answer(endpoint, dict(self.headers.items()), raw)
                time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.error_type:
                    self.send_header("x-amzn-ErrorType", answer.error_type)
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up on a slow answer
                    self.wfile.write(answer.body)

        self._server = Loopback(Handler)
        return self

    def answer(self, endpoint: str, headers: dict[str, str], raw: bytes) -> Answer:
        body = json.loads(raw)
        self.invocations.append(Invocation(endpoint, {k.lower(): v for k, v in headers.items()}, body))
        if self.scripted:
            scripted = self.scripted.pop(0)
            if scripted.body or scripted.status != 200:
                return scripted
            return Answer(body=self._images(body), delay=scripted.delay)
        return Answer(body=self._images(body))

    def _images(self, body: dict[str, Any]) -> bytes:
        request = ImageRequest(
            prompt=body["prompt"],
            negative_prompt=body.get("negative_prompt", ""),
            width=body["width"],
            height=body["height"],
            seed=body["seed"],
            count=body["num_images_per_prompt"],
        )
        images = [base64.b64encode(draw(request, n)).decode() for n in range(request.count)]
        return json.dumps({"generated_images": images, "prompt": body["prompt"]}).encode()
