"""Serve ``http_handler`` on 127.0.0.1, turning each request into a Function URL event; and, once
given one, the playground (bot.local.playground) at ``/`` and ``/playground/...``."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from bot.local.lambda_context import HTTP_RESOURCE, LocalContext
from bot.local.loopback import READ_TIMEOUT, Loopback, QuietHandler, Served

if TYPE_CHECKING:
    from bot.local.playground import Playground

HTTP_FUNCTION = "imagine-http-local"


def to_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0), as AWS builds it for this request: its cookies
    in ``cookies``, not in the headers."""
    url = urlsplit(target)
    named = {name.lower(): value for name, value in headers.items()}
    sent = [part.strip() for part in named.pop("cookie", "").split(";") if part.strip()]
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": named,
        **({"cookies": sent} if sent else {}),
        "queryStringParameters": dict(parse_qsl(url.query)) or None,
        "requestContext": {
            "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def _http_handler(event: dict[str, Any]) -> dict[str, Any]:
    from bot.handlers import http_handler

    response: dict[str, Any] = http_handler(event, LocalContext(HTTP_FUNCTION, HTTP_RESOURCE))
    return response


# Larger than any request Slack sends, and the most a Lambda function accepts (6 MB).
MAX_BODY = 6 * 1024 * 1024


class LocalServer(Served):
    """``http_handler`` on 127.0.0.1. It binds at ``start()``, so a taken port fails at once and
    the address is known early, but answers 503 (with Retry-After) until ``ready()``: before the
    local stack is up, the handler has no settings and could only fail. ``ready(playground)``
    serves the playground too; every other path still goes to ``http_handler``, or to ``invoke``
    where one is given (the deploy rehearsal's packaged http function)."""

    def __init__(
        self,
        port: int = 0,
        *,
        read_timeout: float = READ_TIMEOUT,
        invoke: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.port = port
        self.read_timeout = read_timeout
        self.invoke = invoke
        self._ready = threading.Event()
        self.playground: Playground | None = None

    def ready(self, playground: Playground | None = None) -> LocalServer:
        self.playground = playground or self.playground
        self._ready.set()
        return self

    def start(self) -> LocalServer:
        ready = self._ready
        server = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                if not ready.is_set():
                    self._answer(503, {"Retry-After": "1"}, b"Starting up; try again in a second.\n")
                    return
                length = self.headers.get("Content-Length") or "0"
                if not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY:
                    self._answer(400, {}, b"Bad request.\n")
                    return
                raw = self.rfile.read(int(length))
                playground = server.playground
                if playground is not None and playground.serves(self.path):
                    named = {name.lower(): value for name, value in self.headers.items()}
                    self._answer(*playground.handle(self.command, self.path, named, raw))
                    return
                event = to_event(self.command, self.path, dict(self.headers.items()), raw)
                response = server.invoke(event) if server.invoke else _http_handler(event)
                body = response.get("body") or ""
                data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
                headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
                self._answer(int(response.get("statusCode", 200)), headers, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _handle

        self._server = Loopback(Handler, self.port, read_timeout=self.read_timeout)
        self.port = self._server.port
        return self
