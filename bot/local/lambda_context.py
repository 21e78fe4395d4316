"""A Lambda context object for running the handlers outside Lambda.

Its remaining time starts from the deployed function's own ``Timeout`` in infra/template.yaml
(the http function's for the http handler, the worker's for the worker), not from some larger
number: Powertools Idempotency keeps a job claimed "in progress" for the remaining time it
reads here (aws-powertools/powertools-lambda-python PR 1387), so a claim outliving the deployed
function would outlive the queue's visibility timeout too, and every redelivery of a job whose
worker died would find it still claimed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from functools import cache

HTTP_RESOURCE = "HttpFunction"
WORKER_RESOURCE = "WorkerFunction"


@cache
def function_timeout(resource: str = WORKER_RESOURCE) -> float:
    """A function's ``Timeout`` in the template (its own, else the Globals'), in seconds."""
    from bot.local.template import load

    template = load()
    own = template["Resources"][resource].get("Properties", {}).get("Timeout")
    shared = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)  # Lambda's default
    return float(own if own is not None else shared)


@dataclass
class LocalContext:
    """The context of one invocation of the function that ``resource`` (its logical id in the
    template) deploys; its timeout is that function's. Set ``timeout_seconds`` to change it."""

    function_name: str = "imagine-local"
    resource: str = WORKER_RESOURCE
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)
    timeout_seconds: float = field(init=False)

    def __post_init__(self) -> None:
        self.timeout_seconds = function_timeout(self.resource)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.timeout_seconds - (time.monotonic() - self.started)) * 1000)
