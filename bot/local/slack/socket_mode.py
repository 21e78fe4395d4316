"""A local stand-in for Slack's Socket Mode: the WebSocket end that Slack plays, on 127.0.0.1.

What it does, as Slack does (api.slack.com/apis/socket-mode, docs.slack.dev/apis/events-api/
using-socket-mode, and the shapes slack_sdk's own tests use in
tests/slack_sdk/socket_mode/mock_socket_mode_server.py):

- ``attach(recorder)`` plays ``apps.connections.open`` in the Web API stand-in
  (:class:`bot.local.slack.recorder.SlackRecorder`): an app-level token (``xapp-``) gets
  ``{"ok": true, "url": "ws://127.0.0.1:PORT/link/?ticket=..."}``; a bot or user token gets
  ``not_allowed_token_type`` (what Slack answers a bot token there: slack-ruby/slack-ruby-client
  issue 363), anything else ``invalid_auth``. The recorder's ``fail("apps.connections.open",
  error=...)`` plays Slack refusing an app-level token (``invalid_auth``, ``missing_scope``...).
- Each URL's ticket opens one connection. A ticket it never issued, or one already used, is
  refused at the handshake with HTTP 401: Slack does not document what it answers a reused
  ticket, so this is the stand-in being strict, not a quote. ``refuse_handshakes`` refuses
  every handshake (HTTP 503), as during an outage.
- On each connection it sends ``hello`` first: ``num_connections``, ``debug_info`` and
  ``connection_info.app_id``.
- ``push(type, payload)`` / ``push_command(text, ...)`` send an envelope (``envelope_id``,
  ``type``, ``accepts_response_payload``, ``payload``) on the newest connection; a slash
  command's payload has the fields of the HTTP one (:func:`bot.local.signing.command_body`).
- Every acknowledgement (``{"envelope_id": ..., "payload": ...}``) is kept as an :class:`Ack`
  with when it came, so a test can hold it to Slack's 3 seconds. An ack for an envelope it never
  sent, or one already acknowledged, changes nothing, which is all Slack's docs promise for it
  (they say nothing more); it is kept in ``stray_acks`` so a test can see it.
- ``refresh(grace)`` sends ``{"type": "disconnect", "reason": "refresh_requested", ...}`` and
  closes that connection ``grace`` seconds later, as Slack does when it recycles a connection:
  the client is expected to call ``apps.connections.open`` again and open a new socket
  (``opens`` and ``connections`` count both).
"""

from __future__ import annotations

import http
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.local.signing import command_body

if TYPE_CHECKING:
    from bot.local.slack.recorder import SlackRecorder

APP_ID = "A0LOCAL"  # the api_app_id the signed requests of bot.local.signing carry too


@dataclass
class Ack:
    """An acknowledgement the app sent back for an envelope."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int  # which connection it came on (1 is the first)
    pushed_at: float  # time.monotonic() when the envelope was sent
    acked_at: float  # time.monotonic() when the ack came

    @property
    def seconds(self) -> float:
        return self.acked_at - self.pushed_at


@dataclass
class Link:
    """One WebSocket connection from the app."""

    number: int
    socket: ServerConnection
    opened_at: float
    closed_at: float | None = None


@dataclass
class SocketModeStandIn:
    app_id: str = APP_ID
    opens: int = 0  # apps.connections.open calls answered with a URL
    # Refuse every WebSocket handshake with HTTP 503, as a Slack that hands out URLs but cannot
    # take connections (an outage) would.
    refuse_handshakes: bool = False
    connections: list[Link] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    stray_acks: list[dict[str, Any]] = field(default_factory=list)  # unknown or repeated envelope ids
    _tickets: set[str] = field(default_factory=set)  # issued and not used yet
    _pending: dict[str, float] = field(default_factory=dict)  # envelope id -> when it was sent
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _server: Server | None = None

    def start(self) -> SocketModeStandIn:
        self._server = serve(
            self._serve_link,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,  # Slack's links take no permessage-deflate; slack_sdk asks for none
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.socket.getsockname()[1])

    def attach(self, recorder: SlackRecorder) -> None:
        """Answer ``apps.connections.open`` in ``recorder``, the Web API stand-in."""
        recorder.add_method("apps.connections.open", self._open)

    # ---- what Slack pushes ----------------------------------------------------------------

    def push(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False) -> str:
        """Send an envelope on the newest open connection; its envelope id."""
        link = self.current()
        if link is None:
            raise RuntimeError("no open Socket Mode connection to push on")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
        }
        with self._changed:
            self._pending[envelope_id] = time.monotonic()
        link.socket.send(json.dumps(envelope))
        return envelope_id

    def push_command(
        self,
        text: str,
        *,
        channel_id: str = "C0LOCAL",
        user_id: str = "U0LOCAL",
        team_id: str = "T0LOCAL",
        response_url: str = "",
        command: str = "/imagine",
    ) -> str:
        """A ``slash_commands`` envelope, as Slack sends one when someone types ``command text``;
        Slack takes the ack's payload as the command's reply (``accepts_response_payload``)."""
        body = command_body(
            text,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            response_url=response_url,
            command=command,
        )
        payload = dict(parse_qsl(body, keep_blank_values=True))
        payload["api_app_id"] = self.app_id
        return self.push("slash_commands", payload, accepts_response_payload=True)

    def refresh(self, grace: float = 1.0) -> Link:
        """Ask the app to reconnect (``refresh_requested``) and close the connection after
        ``grace`` seconds, as Slack recycles one; the connection asked."""
        link = self.current()
        if link is None:
            raise RuntimeError("no open Socket Mode connection to refresh")
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "num_connections": len(self.open_links()),
            "debug_info": {"host": "applink-local"},
            "connection_info": {"app_id": self.app_id},
        }
        link.socket.send(json.dumps(message))
        timer = threading.Timer(grace, link.socket.close)
        timer.daemon = True
        timer.start()
        return link

    # ---- what tests read --------------------------------------------------------------------

    def current(self) -> Link | None:
        """The newest open connection."""
        links = self.open_links()
        return links[-1] if links else None

    def open_links(self) -> list[Link]:
        with self._changed:
            return [link for link in self.connections if link.closed_at is None]

    def wait_for_ack(self, envelope_id: str, timeout: float) -> Ack | None:
        """The ack of ``envelope_id``, once it has come (None if it does not within ``timeout``)."""
        with self._changed:
            self._changed.wait_for(lambda: self._ack_of(envelope_id) is not None, timeout)
            return self._ack_of(envelope_id)

    def wait_for_connections(self, count: int, timeout: float) -> bool:
        """Whether ``count`` connections were opened (over the stand-in's life) within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.connections) >= count, timeout)

    def wait_until_closed(self, link: Link, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: link.closed_at is not None, timeout)

    def _ack_of(self, envelope_id: str) -> Ack | None:
        return next((ack for ack in self.acks if ack.envelope_id == envelope_id), None)

    # ---- the Web API method and the WebSocket side ------------------------------------------

    def _open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        """apps.connections.open (docs.slack.dev/reference/methods/apps.connections.open): only
        an app-level token may call it."""
        if token.startswith(("xoxb-", "xoxp-")):
            return {"ok": False, "error": "not_allowed_token_type"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_hex(16)
        with self._changed:
            self._tickets.add(ticket)
            self.opens += 1
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        if self.refuse_handshakes:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "unavailable\n")
        with self._changed:
            if parts.path == "/link/" and ticket in self._tickets:
                self._tickets.discard(ticket)  # one connection per URL
                return None
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid ticket\n")

    def _serve_link(self, socket: ServerConnection) -> None:
        with self._changed:
            link = Link(number=len(self.connections) + 1, socket=socket, opened_at=time.monotonic())
            self.connections.append(link)
            count = len(self.open_links())
            self._changed.notify_all()
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "applink-local", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        try:
            socket.send(json.dumps(hello))
            for raw in socket:
                self._receive(link, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                link.closed_at = time.monotonic()
                self._changed.notify_all()

    def _receive(self, link: Link, raw: str | bytes) -> None:
        acked_at = time.monotonic()
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict) or "envelope_id" not in message:
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            with self._changed:
                self.stray_acks.append({"raw": text})
            return
        envelope_id = str(message["envelope_id"])
        payload = message.get("payload")
        payload = payload if isinstance(payload, dict) else None
        with self._changed:
            pushed_at = self._pending.pop(envelope_id, None)
            if pushed_at is None:
                self.stray_acks.append(message)
            else:
                self.acks.append(Ack(envelope_id, payload, link.number, pushed_at, acked_at))
            self._changed.notify_all()
