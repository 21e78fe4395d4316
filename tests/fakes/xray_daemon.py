"""Where the X-Ray daemon would listen: a UDP socket on 127.0.0.1 keeping every datagram the X-Ray
SDK's emitter sends (each a JSON header line, then a segment document: "Sending segment documents
to the X-Ray daemon", docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html). Point a
traced process at it with ``AWS_XRAY_DAEMON_ADDRESS=<address>``."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Self


@dataclass
class XRayDaemon:
    received: list[bytes] = field(default_factory=list)
    _socket: socket.socket | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(0.1)  # how soon stop() is heard
        self._socket = listener

        def receive() -> None:
            while not self._stop.is_set():
                try:
                    self.received.append(listener.recv(65535))
                except OSError:
                    continue

        self._thread = threading.Thread(target=receive, daemon=True)
        self._thread.start()
        return self

    @property
    def address(self) -> str:
        assert self._socket is not None
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._socket is not None:
            self._socket.close()
