"""``response_url``'s limit: 5 uses within 30 minutes of the command.

Slack: "You can use a response_url five times within 30 minutes"
(api.slack.com/interactivity/handling#message_responses). Past either limit Slack answers
HTTP 404 (slackapi/bolt-js issue 1261: respond() fails with "Request failed with status code
404"); the body names why, ``used_url`` or ``expired_url``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

USES = 5
LIFETIME_SECONDS = 30 * 60


@dataclass
class ResponseUrls:
    clock: Callable[[], float] = time.time
    issued: dict[str, float] = field(default_factory=dict)  # name -> when Slack handed it out
    used: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, name: str) -> None:
        with self._lock:
            self.issued.setdefault(name, self.clock())

    def refusal(self, name: str) -> str | None:
        """Why a message to this URL is refused now (``expired_url`` / ``used_url``), or None."""
        with self._lock:
            issued = self.issued.setdefault(name, self.clock())  # one never issued starts now
            if self.clock() - issued > LIFETIME_SECONDS:
                return "expired_url"
            if self.used.get(name, 0) >= USES:
                return "used_url"
            return None

    def use(self, name: str) -> None:
        """Count a message the URL accepted."""
        with self._lock:
            self.used[name] = self.used.get(name, 0) + 1
