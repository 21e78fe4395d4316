"""The image operations: work that starts from a chosen image of a result, not from the prompt
(pure). Upscale, Vary (Subtle), Vary (Strong), Zoom Out and Change…; each is done by the model
its setting names (UPSCALE_MODEL, VARY_MODEL, ZOOM_MODEL, CHANGE_MODEL), or is off."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

UPSCALE, VARY_SUBTLE, VARY_STRONG, ZOOM_OUT, CHANGE = (
    "upscale",
    "vary_subtle",
    "vary_strong",
    "zoom_out",
    "change",
)
KINDS = (UPSCALE, VARY_SUBTLE, VARY_STRONG, ZOOM_OUT, CHANGE)
# The setting that names each operation's model; both strengths of Vary share one.
SETTING = {
    UPSCALE: "UPSCALE_MODEL", VARY_SUBTLE: "VARY_MODEL", VARY_STRONG: "VARY_MODEL",
    ZOOM_OUT: "ZOOM_MODEL", CHANGE: "CHANGE_MODEL",
}  # fmt: skip
# How far a variation may move from its image: SD3.5's image-to-image ``strength``, 0 keeping the
# image and 1 ignoring it (Bedrock user guide, "Stability.ai Stable Diffusion 3.5 Large").
STRENGTH = {VARY_SUBTLE: 0.35, VARY_STRONG: 0.7}
PROVIDERS = ("bedrock", "sagemaker", "placeholder")


@dataclass(frozen=True)
class Operation:
    """What an operation does, and to which stored image. The image is named by its S3 key, read
    from the result's record when the button was clicked: never a URL or bytes from Slack."""

    kind: str
    source_key: str
    source_index: int  # which image of its result, from 0
    source_count: int  # how many images that result has
    source_prompt: str  # the result's prompt, to say what was worked on
    source_width: int  # the image's size, as its result recorded it
    source_height: int
    search: str = ""  # Change…: what to change ("the cat")
    replacement: str = ""  # Change…: into what ("a corgi")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"not an image operation: {self.kind!r}")
        if self.kind == CHANGE and not (self.search and self.replacement):
            raise ValueError("Change… needs what to change and into what")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    @property
    def changes_text(self) -> tuple[str, ...]:
        """The words this operation adds that a blocked-terms check must read."""
        return (self.search, self.replacement) if self.kind == CHANGE else ()


@dataclass(frozen=True)
class ModelChoice:
    """An operation's setting, read: ``bedrock:<model id>``, ``sagemaker:<endpoint name>`` or
    ``placeholder``."""

    provider: str
    name: str = ""

    @classmethod
    def parse(cls, value: str) -> ModelChoice:
        provider, _, name = value.strip().partition(":")
        if provider not in PROVIDERS or (provider == "placeholder") == bool(name):
            raise ValueError("must be bedrock:<model id>, sagemaker:<endpoint name> or placeholder")
        return cls(provider, name)

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}" if self.name else self.provider
