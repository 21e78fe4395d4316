"""A Lambda execution environment for one packaged function, in a process of its own.

    python -I -S tests/infra/packaged_lambda.py HANDLER TIMEOUT_SECONDS PATH [PATH ...]

``-I -S``: no site-packages, no PYTHONPATH, not even this file's folder, so the only code the
process can import is the standard library and the PATHs given: the function's package as
``sam package`` uploaded it (first), then the runtime's and the layer's libraries. Settings
come from the environment, as in Lambda. It stays warm like a Lambda instance: each line on
stdin is one event (JSON), and each answer is one line of JSON on the process's original
stdout, ``{"result": ...}`` or ``{"error": "..."}``. What the function prints (its logs) goes
to stderr, as Lambda sends it to CloudWatch.

It imports nothing from the project: the handler comes from the package or not at all.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class Context:
    """The fields of Lambda's context object that the handlers read."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "rehearsal"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str]) -> int:
    handler_path, timeout, *paths = argv
    sys.path[:0] = paths
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the function's own prints and logs go to stderr
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    module = sys.modules[module_name]
    answers.write(json.dumps({"ready": True, "module": getattr(module, "__file__", "")}) + "\n")
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "rehearsal")
    for line in sys.stdin:
        try:
            result: Any = handler(json.loads(line), Context(function, float(timeout)))
            answers.write(json.dumps({"result": dict(result) if result is not None else None}) + "\n")
        except Exception:
            answers.write(json.dumps({"error": traceback.format_exc()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
