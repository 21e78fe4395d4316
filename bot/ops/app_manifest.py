"""manifest.yml: the Slack app as the project asks Slack for it (its scopes, its request URLs)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def manifest_bot_scopes(manifest: Mapping[str, Any] | None = None) -> list[str]:
    """The bot scopes a manifest asks for (manifest.yml's unless another is given)."""
    manifest = load_manifest() if manifest is None else manifest
    return [str(s) for s in manifest.get("oauth_config", {}).get("scopes", {}).get("bot", [])]
