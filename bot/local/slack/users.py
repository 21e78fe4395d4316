"""``users.info``: the workspace's people, as Slack describes them.

Slack answers ``{"ok": true, "user": {...}}`` with the user object (``id``, ``team_id``,
``name``, ``deleted``, ``is_admin``, ``is_owner``, ``is_primary_owner``, ``is_restricted``,
``is_ultra_restricted``, ``is_bot``, ``profile``...), and ``user_not_found`` for an id that is
no member of the workspace (docs.slack.dev/reference/methods/users.info; its errors as the
method's own reference lists them: ``user_not_found``, ``user_not_visible``). The bot token
needs ``users:read``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0LOCAL"  # the workspace the stand-in plays (auth.test names it too)


def member(user_id: str, **overrides: Any) -> dict[str, Any]:
    """A user object as users.info gives it: an ordinary member unless ``overrides`` say more
    (``is_admin=True``, ``is_owner=True``, ``deleted=True``...)."""
    name = user_id.lower()
    user: dict[str, Any] = {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": False,
        "real_name": name,
        "tz": "Europe/London",
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "is_app_user": False,
        "profile": {"real_name": name, "display_name": name},
    }
    user.update(overrides)
    return user


@dataclass
class Users:
    """The people users.info knows, by id: those added, and the bot itself."""

    by_id: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"U0BOT": member("U0BOT", name="imagine", is_bot=True)}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, user_id: str, **overrides: Any) -> dict[str, Any]:
        user = member(user_id, **overrides)
        with self.lock:
            self.by_id[user_id] = user
        return user

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            user = self.by_id.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": dict(user)}
