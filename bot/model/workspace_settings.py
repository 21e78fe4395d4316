"""A workspace's own settings, set by its admins on the Home tab (an app installed per workspace):
its daily quotas, the channels where /imagine works and its blocked terms (pure).

The stack's values are the defaults and the ceilings (bot/model/guards.py): a workspace may
lower a quota, never raise it past the operator's; it may name its channels, within the stack's
allowlist when there is one; its blocked terms are added to the stack's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from bot.model.guards import Guards

STORED_AS = "settings"  # where they are kept with the workspace's bot (bot/stores/installations.py)
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{1,31}$")
MAX_TERMS = 100
TERM_CHARS = 100


@dataclass(frozen=True)
class WorkspaceSettings:
    daily_images_per_user: int | None = None  # None: the stack's
    daily_images_per_workspace: int | None = None
    allowed_channel_ids: frozenset[str] = field(default_factory=frozenset)  # empty: the stack's
    blocked_terms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "daily_images_per_user": self.daily_images_per_user,
            "daily_images_per_workspace": self.daily_images_per_workspace,
            "allowed_channel_ids": sorted(self.allowed_channel_ids),
            "blocked_terms": list(self.blocked_terms),
        }

    @classmethod
    def from_dict(cls, data: Any) -> WorkspaceSettings:
        """As saved; anything unreadable is left at the stack's value."""
        data = data if isinstance(data, dict) else {}

        def count(name: str) -> int | None:
            value = data.get(name)
            return value if isinstance(value, int) and value > 0 else None

        channels = data.get("allowed_channel_ids") or []
        terms = data.get("blocked_terms") or []
        return cls(
            daily_images_per_user=count("daily_images_per_user"),
            daily_images_per_workspace=count("daily_images_per_workspace"),
            allowed_channel_ids=frozenset(c for c in channels if isinstance(c, str) and _CHANNEL.match(c)),
            blocked_terms=tuple(t for t in terms if isinstance(t, str) and t)[:MAX_TERMS],
        )


def stored(custom_values: Any) -> WorkspaceSettings | None:
    """The settings kept with a workspace's bot (in its ``custom_values``); None when it has none."""
    own = custom_values.get(STORED_AS) if isinstance(custom_values, dict) else None
    return WorkspaceSettings.from_dict(own) if own is not None else None


def within(stack: Guards, own: WorkspaceSettings | None) -> Guards:
    """The guards that hold in a workspace: the stack's, with the workspace's own inside them."""
    if own is None:
        return stack

    def lowered(ceiling: int, asked: int | None) -> int:
        if asked is None:
            return ceiling
        return asked if ceiling == 0 else min(asked, ceiling)  # 0: the stack sets no ceiling

    channels = own.allowed_channel_ids
    if stack.allowed_channel_ids:
        channels = channels & stack.allowed_channel_ids or stack.allowed_channel_ids
    return replace(
        stack,
        daily_images_per_user=lowered(stack.daily_images_per_user, own.daily_images_per_user),
        daily_images_per_workspace=lowered(stack.daily_images_per_workspace, own.daily_images_per_workspace),
        allowed_channel_ids=channels or stack.allowed_channel_ids,
        blocked_terms=tuple(dict.fromkeys((*stack.blocked_terms, *own.blocked_terms))),
    )


def problems(stack: Guards, own: WorkspaceSettings) -> dict[str, str]:
    """What a workspace's admin asked for that the stack does not allow, by field."""
    found: dict[str, str] = {}
    for name, ceiling, asked in (
        ("daily_images_per_user", stack.daily_images_per_user, own.daily_images_per_user),
        ("daily_images_per_workspace", stack.daily_images_per_workspace, own.daily_images_per_workspace),
    ):
        if asked is not None and ceiling and asked > ceiling:
            found[name] = f"At most {ceiling}, the limit this app's operator set."
    outside = (
        own.allowed_channel_ids - stack.allowed_channel_ids if stack.allowed_channel_ids else frozenset()
    )
    if outside:
        found["allowed_channel_ids"] = "Only channels this app's operator set up for it may be chosen."
    return found


def parse_terms(text: str) -> tuple[str, ...]:
    """Comma-separated words or phrases, as BLOCKED_TERMS takes them: trimmed, lower case, unique."""
    terms = [part.strip().lower()[:TERM_CHARS] for part in text.split(",")]
    return tuple(dict.fromkeys(term for term in terms if term))[:MAX_TERMS]
