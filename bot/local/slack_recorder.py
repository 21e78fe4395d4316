"""A local stand-in for the Slack Web API and for ``response_url``s, on 127.0.0.1.

It answers ``chat.postMessage`` and ``chat.update`` the way Slack does and records every call
(never the token), so the local stack and the tests can see what the bot said. Channels listed
in ``closed_channels`` answer ``not_in_channel``, as a private channel the bot is not in would,
and :meth:`SlackRecorder.fail` makes the next calls of a method fail the ways Slack can.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from bot.local.loopback import Loopback, QuietHandler, Served


@dataclass
class Call:
    method: str  # a Web API method, or "response_url"
    args: dict[str, Any]
    authorized: bool  # whether a bearer token came with it (the token itself is not kept)
    ok: bool = True  # whether the recorder answered it with success


@dataclass
class Fault:
    method: str
    times: int
    status: int = 200  # HTTP status of the failed answer
    error: str = "internal_error"  # Slack's error code in the body
    retry_after: int | None = None  # seconds, sent as Retry-After (rate limits)


@dataclass
class SlackRecorder(Served):
    closed_channels: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def start(self, port: int = 0) -> SlackRecorder:
        recorder = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                status, answer, headers = recorder.answer(
                    self.path,
                    self.headers.get("Content-Type", ""),
                    raw,
                    self.headers.get("Authorization", ""),
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                data = json.dumps([c.__dict__ for c in recorder.snapshot()]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = Loopback(Handler, port)
        return self

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "command") -> str:
        return f"{self.url}/response/{name}"

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.snapshot() if call.method == method]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 200,
        error: str = "internal_error",
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("response_url" included) fail."""
        with self._lock:
            self.faults.append(Fault(method, times, status, error, retry_after))

    def answer(
        self, path: str, content_type: str, raw: str, authorization: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        args = _parse_body(content_type, raw)
        method = "response_url" if path.startswith("/response/") else path.rsplit("/", 1)[-1]
        fault = self._take_fault(method)
        if fault:
            self._record(Call(method, args, authorization.startswith("Bearer "), ok=False))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, {"ok": False, "error": fault.error}, headers
        status, body = self._success(method, args, authorization)
        self._record(Call(method, args, authorization.startswith("Bearer "), ok=bool(body.get("ok"))))
        return status, body, {}

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _success(self, method: str, args: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        if method == "response_url":
            return 200, {"ok": True}
        if not authorization.startswith("Bearer "):
            return 200, {"ok": False, "error": "not_authed"}
        channel = str(args.get("channel", ""))
        if method == "chat.postMessage":
            if channel in self.closed_channels:
                return 200, {"ok": False, "error": "not_in_channel"}
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text", "")}}
        if method == "chat.update":
            return 200, {"ok": True, "channel": channel, "ts": args.get("ts"), "text": args.get("text", "")}
        if method == "auth.test":
            return 200, {"ok": True, "team_id": "T0LOCAL", "user_id": "U0BOT", "bot_id": "B0BOT"}
        return 200, {"ok": False, "error": "unknown_method"}

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


def _parse_body(content_type: str, raw: str) -> dict[str, Any]:
    if "json" in content_type:
        try:
            parsed = json.loads(raw or "{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    args: dict[str, Any] = dict(parse_qsl(raw))
    for name in ("blocks", "attachments"):
        if isinstance(args.get(name), str):
            with contextlib.suppress(ValueError):
                args[name] = json.loads(args[name])
    return args
