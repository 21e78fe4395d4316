"""The Settings form a workspace admin opens from the Home tab (pure): the workspace's daily
quotas, its channels and its blocked terms, each optional (empty: the stack's), and a
submission's state read back. Number inputs carry the stack's ceilings as their maximum; the
channels are a multi_conversations_select of public and private channels
(docs.slack.dev/reference/block-kit/block-elements/multi-select-menu-element)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.blocks.callbacks import WORKSPACE_SETTINGS_CALLBACK
from bot.model.guards import Guards
from bot.model.workspace_settings import WorkspaceSettings, parse_terms

SETTINGS_BUTTON = "imagine_workspace_settings"  # the Home tab's button, for admins and owners
PER_USER, PER_WORKSPACE, CHANNELS, TERMS = "ws_daily_user", "ws_daily_workspace", "ws_channels", "ws_terms"
VALUE = "value"  # each field's action_id
FIELDS = {  # WorkspaceSettings' fields by their block
    PER_USER: "daily_images_per_user", PER_WORKSPACE: "daily_images_per_workspace",
    CHANNELS: "allowed_channel_ids", TERMS: "blocked_terms",
}  # fmt: skip


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _input(block_id: str, label: str, element: dict[str, Any], hint: str) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "optional": True, "label": _text(label),
            "hint": _text(hint), "element": {"action_id": VALUE, **element}}  # fmt: skip


def _limit(ceiling: int) -> str:
    return "no limit" if ceiling == 0 else f"{ceiling}"


def _count(block_id: str, label: str, ceiling: int, current: int | None, whose: str) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": False, "min_value": "1"}
    if ceiling:
        element["max_value"] = str(ceiling)
    if current is not None:
        element["initial_value"] = str(current)
    return _input(block_id, label, element, f"Empty: the app's own, {_limit(ceiling)} {whose} a day.")


def settings_button() -> dict[str, Any]:
    """The Home tab's row for admins and owners."""
    button = {"type": "button", "action_id": SETTINGS_BUTTON, "text": _text("Settings"), "value": "workspace"}
    return {"type": "actions", "block_id": "imagine_home_settings", "elements": [button]}


def settings_modal(current: WorkspaceSettings, stack: Guards) -> dict[str, Any]:
    channels: dict[str, Any] = {
        "type": "multi_conversations_select",
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "placeholder": _text("Every channel"),
    }
    if current.allowed_channel_ids:
        channels["initial_conversations"] = sorted(current.allowed_channel_ids)
    terms: dict[str, Any] = {"type": "plain_text_input", "placeholder": _text("gore, violence")}
    if current.blocked_terms:
        terms["initial_value"] = ", ".join(current.blocked_terms)
    return {
        "type": "modal",
        "callback_id": WORKSPACE_SETTINGS_CALLBACK,
        "title": _text("Workspace settings"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": [
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "For this workspace only, within what the app's operator allows.",
                    }
                ],
            },
            _count(
                PER_USER,
                "Daily images per person",
                stack.daily_images_per_user,
                current.daily_images_per_user,
                "a person",
            ),
            _count(
                PER_WORKSPACE,
                "Daily images for the workspace",
                stack.daily_images_per_workspace,
                current.daily_images_per_workspace,
                "for the workspace",
            ),
            _input(CHANNELS, "Channels where /imagine works", channels, "None chosen: every channel."),
            _input(
                TERMS,
                "Blocked words and phrases",
                terms,
                "Comma-separated; added to the app's own. A prompt with one is refused.",
            ),
        ],
    }


def settings_from_state(values: Any) -> tuple[WorkspaceSettings, dict[str, str]]:
    """The settings a submission holds, and what in it is not a value (by block id)."""
    values = values if isinstance(values, Mapping) else {}

    def state(block_id: str) -> Mapping[str, Any]:
        block = values.get(block_id)
        found = block.get(VALUE) if isinstance(block, Mapping) else None
        return found if isinstance(found, Mapping) else {}

    problems: dict[str, str] = {}
    counts: dict[str, int | None] = {}
    for block_id in (PER_USER, PER_WORKSPACE):
        raw = state(block_id).get("value")
        text = raw.strip() if isinstance(raw, str) else ""
        if text and not (text.isascii() and text.isdigit() and 0 < int(text) <= 10_000_000):
            problems[block_id] = "A whole number of images, 1 or more."
        counts[block_id] = int(text) if text and block_id not in problems else None
    chosen = state(CHANNELS).get("selected_conversations")
    terms = state(TERMS).get("value")
    settings = WorkspaceSettings(
        daily_images_per_user=counts[PER_USER],
        daily_images_per_workspace=counts[PER_WORKSPACE],
        allowed_channel_ids=frozenset(c for c in chosen or [] if isinstance(c, str)),
        blocked_terms=parse_terms(terms if isinstance(terms, str) else ""),
    )
    return WorkspaceSettings.from_dict(settings.to_dict()), problems
