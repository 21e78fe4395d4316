"""Print infra/template.yaml with some parameters' defaults changed: ``NAME=VALUE ...``.

checkov scans a template as its parameters' defaults make it, so resources behind a condition
(the asynchronous backend's, Bedrock's grant) are scanned in a copy whose defaults turn them on
(`make templates`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("template.yaml")


def with_defaults(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        pattern = re.compile(rf"^(  {re.escape(name)}:\n(?:    .*\n)*?    Default: ).*$", re.MULTILINE)
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        text, found = pattern.subn(rf'\g<1>"{quoted}"', text, count=1)
        if not found:
            raise SystemExit(f"no parameter {name} with a default in {TEMPLATE}")
    return text


if __name__ == "__main__":
    pairs = dict(arg.split("=", 1) for arg in sys.argv[1:])
    sys.stdout.write(with_defaults(TEMPLATE.read_text(), pairs))
