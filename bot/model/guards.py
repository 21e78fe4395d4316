"""What may use the GPU: workspace and channel allowlists, blocked terms, and the arithmetic of
daily quotas (pure; the counting itself lives in bot/stores/quotas.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Guards:
    daily_images_per_user: int = 50  # 0: no limit
    daily_images_per_workspace: int = 500  # 0: no limit
    allowed_team_ids: frozenset[str] = field(default_factory=frozenset)  # empty: every workspace
    allowed_channel_ids: frozenset[str] = field(default_factory=frozenset)  # empty: every channel
    blocked_terms: tuple[str, ...] = ()


def place_refusal(guards: Guards, team_id: str, channel_id: str) -> str | None:
    """Why this workspace or channel may not use /imagine, or None when it may."""
    if guards.allowed_team_ids and team_id not in guards.allowed_team_ids:
        return "Sorry, /imagine is not enabled for this workspace."
    if guards.allowed_channel_ids and channel_id not in guards.allowed_channel_ids:
        return "Sorry, /imagine is not enabled in this channel. Try it in one of the channels set up for it."
    return None


def blocked_term(guards: Guards, *texts: str) -> str | None:
    """The first blocked term found as a whole word or phrase (any case), or None."""
    for term in guards.blocked_terms:
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        if any(pattern.search(text) for text in texts):
            return term
    return None


def quota_day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def quota_resets(now: datetime) -> datetime:
    """Quotas are per UTC day and reset at midnight UTC."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def describe_reset(now: datetime) -> str:
    left = quota_resets(now) - now.astimezone(UTC)
    hours, minutes = divmod(int(left.total_seconds()) // 60, 60)
    return f"at 00:00 UTC (in {hours} h {minutes} min)"


def quota_refusal(*, whose: str, used: int, limit: int, asked: int, now: datetime) -> str:
    remaining = max(0, limit - used)
    if whose == "user":
        head = f"You have used {min(used, limit)} of your {limit} images today"
    else:
        head = f"This workspace has used {min(used, limit)} of its {limit} images today"
    images = "image" if asked == 1 else "images"
    return (
        f"{head}, and this request needs {asked} {images}; {remaining} left. "
        f"The count resets {describe_reset(now)}."
    )
