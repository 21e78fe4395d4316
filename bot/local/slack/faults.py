"""What the Slack stand-in is told to get wrong, and when: a Web API method (or a response_url)
failing the next N times with a status and Slack's error code, a channel answering 429 with
Retry-After, image downloads failing. The recorder asks before answering each call."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    method: str
    times: int
    status: int = 200  # HTTP status of the failed answer
    error: str = "internal_error"  # Slack's error code in the body
    retry_after: int | None = None  # seconds, sent as Retry-After (rate limits)


@dataclass
class RateLimit:
    times: int
    retry_after: int


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    _rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    _failing_downloads: int | None = 0  # None: every download fails
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def rate_limit(self, channel: str, times: int, retry_after: int) -> None:
        with self._lock:
            self._rate_limits[channel] = RateLimit(times, retry_after)

    def fail_downloads(self, times: int | None) -> None:
        with self._lock:
            self._failing_downloads = times

    def take(self, method: str) -> Fault | None:
        """The fault planned for this call of ``method``, if one is left."""
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def take_rate_limit(self, channel: str) -> int | None:
        """The Retry-After to answer this post in ``channel`` with, if it is rate-limited."""
        with self._lock:
            limit = self._rate_limits.get(channel)
            if limit is None or limit.times <= 0:
                return None
            limit.times -= 1
            return limit.retry_after

    def take_failing_download(self) -> bool:
        with self._lock:
            if self._failing_downloads is None:
                return True
            if self._failing_downloads > 0:
                self._failing_downloads -= 1
                return True
            return False
