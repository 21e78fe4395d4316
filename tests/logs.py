"""The service's structured log lines, captured as Lambda would ship them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def service_log_lines() -> Iterator[io.StringIO]:
    """Every JSON line the "imagine" logger writes (Bolt's "imagine.bolt" included) meanwhile."""
    lines = io.StringIO()
    service = logging.getLogger("imagine")
    handler = logging.StreamHandler(lines)
    handler.setFormatter(service.handlers[0].formatter)
    service.addHandler(handler)
    try:
        yield lines
    finally:
        service.removeHandler(handler)
