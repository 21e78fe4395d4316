"""Reading settings from the environment: the one error a bad setting raises, and the reader
that checks each variable's shape. Below both the settings and the secrets, which use it."""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(RuntimeError):
    """A setting is missing or malformed. The message names the variable, never its value."""


class EnvReader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def optional(self, name: str, default: str) -> str:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is not set")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.optional(name, default).lower()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}")
        return value

    def id_list(self, name: str) -> frozenset[str]:
        """Comma-separated Slack ids; empty means no restriction."""
        return frozenset(part.strip().upper() for part in self.env.get(name, "").split(",") if part.strip())

    def term_list(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip().lower() for part in self.env.get(name, "").split(",") if part.strip())

    def seconds_list(self, name: str, default: tuple[int, ...], high: int) -> tuple[int, ...]:
        """Comma-separated whole seconds, each from 0 to ``high``."""
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        parts = [part.strip() for part in raw.split(",")]
        if not all(part.isascii() and part.isdigit() and int(part) <= high for part in parts):
            raise SettingsError(f"{name} must be whole seconds from 0 to {high}, comma-separated")
        return tuple(int(part) for part in parts)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return int(self._bounded(name, default, low, high, int))

    def number(self, name: str, default: float, low: float, high: float) -> float:
        return float(self._bounded(name, default, low, high, float))

    def _bounded(self, name: str, default: float, low: float, high: float, kind: type) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a {kind.__name__}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}")
        return float(value)
