"""What people see when the image check withholds a picture, or a prompt was translated (pure).
Every piece of user text goes through :func:`bot.blocks.messages.escape`."""

from __future__ import annotations

from typing import Any

from bot.blocks.messages import Payload, ended, escape
from bot.model.prompt import ImageRequest

CHECK = "the image check"


def withheld_note(withheld: int, total: int) -> str:
    """The line above a result some of whose images were withheld (our own words only)."""
    if withheld == 1:
        return f":no_entry: 1 of the {total} images was withheld by {CHECK}."
    return f":no_entry: {withheld} of the {total} images were withheld by {CHECK}."


def all_withheld(user_id: str, request: ImageRequest, count: int) -> Payload:
    """The channel message when every image was withheld: nothing of them is shown."""
    what = "The picture was" if count == 1 else f"All {count} pictures were"
    return {
        "text": f"Withheld by {CHECK}: {escape(request.prompt)}",
        "blocks": ended(user_id, request, f":no_entry: {what} withheld by {CHECK}"),
    }


def withheld_privately(request: ImageRequest, withheld: list[dict[str, Any]], total: int) -> Payload:
    """To the requester alone: which images, for which labels and how sure the check was."""
    lines = []
    for entry in withheld:
        labels = ", ".join(
            f"{escape(label['name'])} ({label['confidence']:.1f}%)" for label in entry["labels"]
        )
        which = f"Image {entry['image']}" if total > 1 else "The picture"
        lines.append(f"• {which}: {labels}")
    text = (
        f"Only you can see this. {CHECK.capitalize()} (Amazon Rekognition) withheld what it found in "
        f"*{escape(request.prompt)}*:\n" + "\n".join(lines) + "\nIt was not kept, and it does not count "
        "against your daily images."
    )
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
