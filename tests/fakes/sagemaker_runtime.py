"""A local stand-in for the SageMaker runtime's InvokeEndpoint, speaking the JumpStart
text-to-image contract over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.backends.placeholder import draw
from bot.prompt import ImageRequest


@dataclass
class Invocation:
    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class SageMakerStandIn:
    invocations: list[Invocation] = field(default_factory=list)
    # What the next answers are: (status, raw body) pairs, used up in order; then real images.
    scripted: list[tuple[int, bytes]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> SageMakerStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint = self.path.split("/")[2] if self.path.startswith("/endpoints/") else ""
                status, answer, content_type = stand_in.answer(endpoint, dict(self.headers.items()), raw)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                if status == 424:
                    self.send_header("x-amzn-ErrorType", "ModelError")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, endpoint: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, str]:
        body = json.loads(raw)
        self.invocations.append(Invocation(endpoint, {k.lower(): v for k, v in headers.items()}, body))
        if self.scripted:
            status, scripted = self.scripted.pop(0)
            return status, scripted, "application/json"
        request = ImageRequest(
            prompt=body["prompt"],
            negative_prompt=body.get("negative_prompt", ""),
            width=body["width"],
            height=body["height"],
            seed=body["seed"],
            count=body["num_images_per_prompt"],
        )
        images = [base64.b64encode(draw(request, n)).decode() for n in range(request.count)]
        return (
            200,
            json.dumps({"generated_images": images, "prompt": body["prompt"]}).encode(),
            "application/json",
        )
