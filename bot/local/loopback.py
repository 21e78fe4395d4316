"""An HTTP server on 127.0.0.1 (never another address), serving from a daemon thread: the local
app server, the Slack recorder and the tests' stand-ins all run on it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Seconds a connection may sit between bytes before it is dropped. Without it, a client that
# sends half a request holds its thread forever; Slack sends a whole request at once.
READ_TIMEOUT = 10.0
STOP_POLL_SECONDS = 0.02


class Loopback:
    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        port: int = 0,
        *,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        # socketserver applies a handler's ``timeout`` to each connection's socket; a read that
        # times out ends that connection only (BaseHTTPRequestHandler catches TimeoutError).
        # TCP_NODELAY: an answer's headers and body leave in two writes, and Nagle's algorithm
        # would hold the body until the client's delayed ACK (~40 ms on loopback) for the first.
        timed = type(handler.__name__, (handler,), {"timeout": read_timeout, "disable_nagle_algorithm": True})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), timed)
        # shutdown() waits for the serving loop to look at its flag, which it does once per
        # poll_interval (0.5 s by default): a short one lets a server stop at once.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": STOP_POLL_SECONDS},
                         daemon=True).start()  # fmt: skip

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # a request line per call is noise on a local stand-in


class Served:
    """Something that serves on a :class:`Loopback` once its ``start()`` has run."""

    _server: Loopback | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    def stop(self) -> None:
        if self._server:
            self._server.stop()
