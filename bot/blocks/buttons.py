"""The buttons under a result. Their labels are a contract (docs/usage.md, tests); each button's
value carries only the job id, and which image it is about rides in its block's id
(``imagine_actions_2``, ``imagine_edits_2``: image 2, from 0; no number: the whole result)."""

from __future__ import annotations

from typing import Any

from bot.model.operation import CHANGE, KINDS

Block = dict[str, Any]

FOLLOW_UPS = {
    "reroll": "Re-roll", "variations": "Variations", "edit": "Edit", "share": "Share", "delete": "Delete",
}  # fmt: skip
# The image operations (bot/model/operation.py), each shown only where its model is set.
OPERATIONS = {
    "upscale": "Upscale", "vary_subtle": "Vary (Subtle)", "vary_strong": "Vary (Strong)",
    "zoom_out": "Zoom Out", "change": "Change…",
}  # fmt: skip
assert tuple(OPERATIONS) == KINDS
WHOLE_RESULT_ONLY = ("share", "delete")  # they act on the whole message: only on its own row
ACTION_PREFIX = "imagine_"
# The buttons that render the result again in its thread (bot/usecases/follow_up.py).
RENDER_AGAIN = ("reroll", "variations")
# The operations queued on a click (bot/usecases/follow_up.py); Change… opens its form first
# (bot/usecases/change.py).
ON_CLICK = tuple(kind for kind in KINDS if kind != CHANGE)
ACTIONS_BLOCK = "imagine_actions"
EDITS_BLOCK = "imagine_edits"
# Slack asks before a destructive click (Block Kit's confirmation dialog object).
_CONFIRM_DELETE = {
    "title": {"type": "plain_text", "text": "Delete this picture?"},
    "text": {"type": "plain_text", "text": "It goes for everyone, and its image links stop working."},
    "confirm": {"type": "plain_text", "text": "Delete"},
    "deny": {"type": "plain_text", "text": "Keep it"},
    "style": "danger",
}


def _button(name: str, label: str, job_id: str) -> Block:
    button: Block = {
        "type": "button",
        "action_id": ACTION_PREFIX + name,
        "text": {"type": "plain_text", "text": label},
        "value": job_id,
    }
    if name == "delete":
        button |= {"style": "danger", "confirm": _CONFIRM_DELETE}
    return button


def _row(block: str, index: int | None, buttons: list[Block]) -> Block:
    return {
        "type": "actions",
        "block_id": block if index is None else f"{block}_{index}",
        "elements": buttons,
    }


def follow_up_buttons(job_id: str, index: int | None = None) -> Block:
    """A row of the result's buttons, for the whole result or for image ``index``."""
    suffix = "" if index is None else f" {index + 1}"
    return _row(ACTIONS_BLOCK, index, [
        _button(name, label + suffix, job_id)
        for name, label in FOLLOW_UPS.items()
        if index is None or name not in WHOLE_RESULT_ONLY
    ])  # fmt: skip


def operation_buttons(job_id: str, operations: tuple[str, ...], index: int | None = None) -> Block:
    """The row of image operations that are on (at most five of Slack's 25 elements a row), for a
    result's only image or for image ``index`` of several."""
    suffix = "" if index is None else f" {index + 1}"
    return _row(EDITS_BLOCK, index, [_button(kind, OPERATIONS[kind] + suffix, job_id) for kind in operations])


def image_index(block_id: str) -> int | None:
    """Which image a row of buttons is about: ``imagine_actions_2`` is image 2, none is all."""
    for block in (ACTIONS_BLOCK, EDITS_BLOCK):
        suffix = block_id.removeprefix(block + "_")
        if suffix != block_id:
            return int(suffix) if suffix.isdigit() and len(suffix) < 3 else None
    return None
