"""The Change… form (pure): what to change in a chosen image, and into what ("the cat" → "a
corgi"). ``private_metadata`` carries only the job id and which image, as JSON; the image itself
is read from the job's record when the form is submitted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.blocks.callbacks import CHANGE_CALLBACK
from bot.blocks.messages import escape

SEARCH, REPLACEMENT = "change_search", "change_replacement"  # the fields' block ids
VALUE = "value"  # each field's action_id
TEXT_LIMIT = 200  # a short phrase each: Search and Replace finds one thing by its words


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _input(block_id: str, label: str, example: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _text(label),
        "element": {"type": "plain_text_input", "action_id": VALUE, "max_length": TEXT_LIMIT,
                    "placeholder": _text(example), "focus_on_load": block_id == SEARCH},
    }  # fmt: skip


def change_modal(job_id: str, index: int | None, prompt: str, count: int) -> dict[str, Any]:
    """The form for Change… on image ``index`` (None: a result's only image) of ``prompt``'s result."""
    which = f"image {(index or 0) + 1} of " if count > 1 else ""
    return {
        "type": "modal",
        "callback_id": CHANGE_CALLBACK,
        "title": _text("Change…"),
        "submit": _text("Change"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"job_id": job_id, "index": index}),
        "blocks": [
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"In {which}*{escape(prompt[:2000])}*"}],
            },
            _input(SEARCH, "What to change", "the cat"),
            _input(REPLACEMENT, "Into what", "a corgi"),
        ],
    }


def target_of(private_metadata: str) -> tuple[str, int | None] | None:
    """The job id and image index a submission is about; None for metadata not of this form."""
    try:
        data = json.loads(private_metadata)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("job_id"), str):
        return None
    index = data.get("index")
    return data["job_id"], index if isinstance(index, int) else None


def change_fields(values: Any) -> dict[str, str]:
    """A submission's two texts by block id, each with its spaces tidied ("" when empty)."""
    values = values if isinstance(values, Mapping) else {}
    fields = {}
    for block_id in (SEARCH, REPLACEMENT):
        block = values.get(block_id)
        state = block.get(VALUE) if isinstance(block, Mapping) else None
        value = state.get("value") if isinstance(state, Mapping) else None
        fields[block_id] = " ".join(value.split())[:TEXT_LIMIT] if isinstance(value, str) else ""
    return fields


def change_errors(problems: Mapping[str, str]) -> dict[str, Any]:
    """The acknowledgement that shows each problem under its field and keeps the form open."""
    return {"response_action": "errors", "errors": dict(problems)}
