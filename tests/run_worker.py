"""Run ``worker_handler`` on one SQS event in a process of its own, so a test can kill it
mid-render the way Lambda stops a worker (timeout, out of memory, a crash): with no chance to
clean up.

    python -m tests.run_worker [TIMEOUT_SECONDS] < event.json

Settings come from the environment, as in Lambda. Without TIMEOUT_SECONDS the invocation gets
the deployed worker's Timeout (infra/template.yaml).
"""

from __future__ import annotations

import json
import sys

from bot.handlers import worker_handler
from bot.local.lambda_context import WORKER_RESOURCE, LocalContext


def main(argv: list[str]) -> int:
    context = LocalContext("imagine-worker-killable", WORKER_RESOURCE)
    if argv:
        context.timeout_seconds = float(argv[0])
    result = worker_handler(json.load(sys.stdin), context)
    print(json.dumps(dict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
