"""Serve ``http_handler`` on 127.0.0.1, turning each request into a Function URL event."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.local.lambda_context import LocalContext
from bot.local.loopback import Loopback, QuietHandler, Served

HTTP_FUNCTION = "imagine-http-local"


def to_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0), as AWS builds it for this request."""
    url = urlsplit(target)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "queryStringParameters": dict(parse_qsl(url.query)) or None,
        "requestContext": {
            "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


class LocalServer(Served):
    def __init__(self, port: int = 0) -> None:
        self.port = port

    def start(self) -> LocalServer:
        class Handler(QuietHandler):
            def _handle(self) -> None:
                from bot.handlers import http_handler

                length = int(self.headers.get("Content-Length") or 0)
                event = to_event(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                response = http_handler(event, LocalContext(HTTP_FUNCTION))
                body = response.get("body") or ""
                data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
                self.send_response(int(response.get("statusCode", 200)))
                for name, value in (response.get("headers") or {}).items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _handle

        self._server = Loopback(Handler, self.port)
        self.port = self._server.port
        return self
