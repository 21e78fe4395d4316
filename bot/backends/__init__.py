"""Image backends: one interface, a SageMaker endpoint behind it in production and a
deterministic placeholder locally."""

from __future__ import annotations

from typing import Protocol

from bot.prompt import ImageRequest


class BackendError(Exception):
    """A render that did not produce images.

    ``reason`` is safe to show a person; ``retryable`` says whether trying the same job again
    later (SQS redelivery) could succeed.
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Backend(Protocol):
    name: str

    def generate(self, request: ImageRequest) -> list[bytes]:
        """``request.count`` JPEGs of ``request.width`` x ``request.height``."""
        ...
