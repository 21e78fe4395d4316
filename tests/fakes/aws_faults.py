"""A fault-injecting HTTP proxy in front of moto's server, on 127.0.0.1.

Point one service at it (``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL_S3`` ...) and tell it
to answer the next N matching requests with an AWS error instead of forwarding them; everything
else goes through to moto unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.local.loopback import Loopback, QuietHandler, Served

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Rule:
    operation: str  # X-Amz-Target suffix (JSON protocols) or "METHOD" for S3 (e.g. "PUT")
    times: int
    status: int
    code: str
    skip: int = 0  # let this many matching requests through first
    seen: int = 0
    fields: dict[str, object] = field(default_factory=dict)  # more of the error body (JSON protocols)
    matches: Callable[[str], bool] | None = None  # asked instead of ``operation``, at each request


@dataclass
class FaultProxy(Served):
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, operation: str, *, times: int, status: int = 500, code: str = "InternalServerError",
             skip: int = 0, fields: Mapping[str, object] | None = None) -> None:  # fmt: skip
        """Answer the next ``times`` ``operation`` requests with ``code``; ``fields`` adds to the
        JSON error body (a TransactionCanceledException's ``CancellationReasons``...)."""
        with self._lock:
            self.rules.append(Rule(operation, times, status, code, skip, fields=dict(fields or {})))

    def fail_when(self, matches: Callable[[str], bool], *, times: int, status: int = 500,
                  code: str = "InternalServerError") -> None:  # fmt: skip
        """Answer the next ``times`` requests whose operation ``matches`` with ``code``; asked
        at each request, so a fault can wait for something elsewhere (a call that another
        stand-in has answered by then) and hit the exact call that follows it."""
        with self._lock:
            self.rules.append(Rule("", times, status, code, matches=matches))

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rsplit(".", 1)[-1] if target else self.command
                rule = proxy._match(operation)
                if rule:
                    self._error(rule, bool(target))
                    return
                self._forward(body)

            def _error(self, rule: Rule, json_protocol: bool) -> None:
                if json_protocol:
                    payload = json.dumps(
                        {"__type": rule.code, "message": "injected fault", **rule.fields}
                    ).encode()
                    kind = "application/x-amz-json-1.0"
                else:
                    payload = (
                        f"<Error><Code>{rule.code}</Code><Message>injected fault</Message></Error>".encode()
                    )
                    kind = "application/xml"
                self.send_response(rule.status)
                self.send_header("Content-Type", kind)
                self.send_header("x-amzn-ErrorType", rule.code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes) -> None:
                upstream = urlsplit(proxy.upstream)
                connection = http.client.HTTPConnection(
                    upstream.hostname or "127.0.0.1", upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self._server = Loopback(Handler)
        return self

    def _match(self, operation: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                chosen = rule.matches(operation) if rule.matches is not None else rule.operation == operation
                if chosen and rule.times > 0:
                    rule.seen += 1
                    if rule.seen <= rule.skip:
                        return None
                    rule.times -= 1
                    self.failed.append(operation)
                    return rule
        return None
