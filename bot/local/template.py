"""Read infra/template.yaml, the one description of the stack's resources, for the local stack.

CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) load as their long forms, and
:func:`resolve` replaces references to parameters with values; anything that needs a deployed
stack (ARNs, other resources) resolves to None and is left to the caller.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as file:
        template: dict[str, Any] = yaml.load(file, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        return template


def parameters(template: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    return values | (overrides or {})


def resolve(value: Any, params: dict[str, Any]) -> Any:
    """``value`` with parameter references replaced; other intrinsics become None."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return params.get(value["Ref"])
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            return None
        return {key: resolve(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, params) for item in value]
    return value


def properties(resource: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    template = load()
    props = template["Resources"][resource].get("Properties", {})
    resolved: dict[str, Any] = resolve(props, parameters(template, overrides))
    return resolved
