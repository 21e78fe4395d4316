"""One trace per request, from the acknowledgement to the posted image (Powertools Tracer, AWS
X-Ray; ``Tracing: Active`` in the template). Each function's handler is traced
(bot/handlers.py), annotated with the job id, team and channel, and the steps that take time are
subsegments of their own: the quota transaction, the queue send, the model call, storing, the
image check, the translation and each Slack call. Annotations and subsegment names hold ids and
names only: never a prompt, a token or a ``response_url``.

Powertools' Tracer is off outside Lambda (and with POWERTOOLS_TRACE_DISABLED=true); the X-Ray
SDK's subsegments are then no-ops, so the local stack and the tests pay nothing for them. Every
``Tracer(service="imagine")`` shares one recorder, so this module's is the handlers' too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Tracer

# AWS calls are traced by patching botocore; HTTP calls are not (X-Ray's httplib patch records each
# URL whole, and a response_url is a secret): each Slack call is a subsegment of its own instead.
tracer = Tracer(service="imagine", patch_modules=("botocore",))


@contextmanager
def traced(step: str, **annotations: str) -> Iterator[None]:
    """A subsegment ``## step`` around the block, with ``annotations`` (ids and names only)."""
    with tracer.provider.in_subsegment(f"## {step}") as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        yield


def annotate(**annotations: str) -> None:
    """Annotations on the invocation's trace, to find it by (job_id, team_id, channel_id)."""
    for key, value in annotations.items():
        if value:
            tracer.put_annotation(key=key, value=value)
