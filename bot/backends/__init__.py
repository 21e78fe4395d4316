"""Image backends: one interface, a SageMaker endpoint or a Bedrock model behind it in
production and a deterministic placeholder locally."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot.model.prompt import ImageRequest


class BackendError(Exception):
    """A render that did not produce images.

    ``reason`` is safe to show a person; ``retryable`` says whether trying the same job again
    later (SQS redelivery) could succeed.
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


T = TypeVar("T")
JPEG_QUALITY = 90  # an image a backend encodes: a model's PNG drawn again, an image sent to a model


@dataclass(frozen=True)
class AwsError:
    """What a botocore ClientError says: its error code, message and HTTP status."""

    code: str
    message: str
    status: int

    @classmethod
    def of(cls, error: Any) -> AwsError:
        details = error.response.get("Error", {})
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return cls(str(details.get("Code", "")), str(details.get("Message", "")), status)


def with_retries(attempt: Callable[[], T], deadline: float, base_delay: float, max_delay: float) -> T:
    """``attempt()``, tried again after a retryable :class:`BackendError` with exponential backoff
    and jitter while the next try still starts before ``deadline`` (``time.monotonic()``); then
    the last error is raised."""
    tries = 0
    while True:
        try:
            return attempt()
        except BackendError as error:
            delay = min(max_delay, base_delay * 2**tries) * random.uniform(0.5, 1.0)
            if not error.retryable or time.monotonic() + delay >= deadline:
                raise
            time.sleep(delay)
            tries += 1


class Backend(Protocol):
    name: str

    def generate(self, request: ImageRequest) -> list[bytes]:
        """``request.count`` JPEGs of ``request.width`` x ``request.height``."""
        ...


class Invoked(Protocol):
    """What an error or an answer names of the Bedrock model called: a text-to-image model
    (bot/model/bedrock_models.py) or an image operation's (bot/model/operation_models.py)."""

    @property
    def model_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def marketplace(self) -> bool: ...
    @property
    def regions(self) -> tuple[str, ...]: ...
