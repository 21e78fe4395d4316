"""What Slack refuses in a message, and the answer it gives (pure).

Limits, from Slack's Block Kit reference (docs.slack.dev/reference/block-kit/blocks/...):
50 blocks a message; section ``text`` 1 to 3000 characters, ``fields`` up to 10 of up to 2000;
context up to 10 elements; image ``image_url`` up to 3000 and ``alt_text`` up to 2000
characters, ``title`` plain text up to 2000; header plain text up to 150; actions up to 25
elements; ``block_id`` up to 255. chat.postMessage answers ``no_text`` with neither text nor
blocks nor attachments, and ``msg_too_long`` past 40,000 characters of text.

The answer's shape is the one users report from chat.postMessage (slackapi/python-slack-sdk
issue 1782, ryanrosello-og/playwright-slack-report issue 180, incidentbot/incidentbot issue 328):
``{"ok": false, "error": "invalid_blocks", "errors": ["no more than 50 items allowed
[json-pointer:/blocks]"], "response_metadata": {"messages": ["[ERROR] no more than 50 ..."]}}``,
and a section text that is too long gives both "failed to match all allowed schemas
[json-pointer:/blocks/0/text]" and "must be less than 3001 characters
[json-pointer:/blocks/0/text/text]". After these checks, each block still has to pass
slack_sdk's own models: ``Block.parse(block).to_dict()`` runs every model's ``validate_json()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
TEXT_TYPES = ("plain_text", "mrkdwn")


@dataclass(frozen=True)
class Problem:
    what: str
    pointer: str  # a JSON pointer into the message, as Slack writes it

    def __str__(self) -> str:
        return f"{self.what} [json-pointer:{self.pointer}]"


def invalid_blocks(problems: list[Problem]) -> dict[str, Any]:
    errors = [str(problem) for problem in problems]
    return {
        "ok": False,
        "error": "invalid_blocks",
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {error}" for error in errors]},
    }


def message_refusal(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to a message it would not post (chat.*, response_url), or None."""
    blocks, text = args.get("blocks"), args.get("text")
    if blocks is not None and not isinstance(blocks, list):
        return {"ok": False, "error": "invalid_blocks_format"}
    if not text and not blocks and not args.get("attachments"):
        return {"ok": False, "error": "no_text"}
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return {"ok": False, "error": "msg_too_long"}
    problems = block_problems(blocks or [])
    return invalid_blocks(problems) if problems else None


def block_problems(blocks: list[Any], at: str = "/blocks", limit: int = MAX_BLOCKS) -> list[Problem]:
    """What Slack refuses in a list of blocks at ``at``: a message's (50 at most) or a view's."""
    if len(blocks) > limit:
        return [Problem(f"no more than {limit} items allowed", at)]
    problems: list[Problem] = []
    for n, block in enumerate(blocks):
        problems += _block(block, f"{at}/{n}")
    return problems


def image_urls(blocks: Any, at: str = "/blocks") -> Iterator[tuple[str, str]]:
    """Every ``image_url`` in the blocks (image blocks, accessories, context images), with its
    JSON pointer: Slack downloads each one while it handles the message."""
    if isinstance(blocks, list):
        for n, item in enumerate(blocks):
            yield from image_urls(item, f"{at}/{n}")
    elif isinstance(blocks, dict):
        for key, value in blocks.items():
            if key == "image_url" and isinstance(value, str):
                yield f"{at}/image_url", value
            else:
                yield from image_urls(value, f"{at}/{key}")


def _block(block: Any, at: str) -> list[Problem]:
    if not isinstance(block, dict):
        return [Problem("must provide an object", at)]
    kind = block.get("type")
    if kind not in _SDK_BLOCK_TYPES:
        return [Problem(f"unsupported type: {kind}", f"{at}/type")]
    found: list[Problem] = []
    if "block_id" in block:
        found += string_problems(block["block_id"], f"{at}/block_id", 255)
    check = _CHECKS.get(str(kind))
    if check:
        found += check(block, at)
    return found or _sdk_model(block, at)


def _sdk_model(block: dict[str, Any], at: str) -> list[Problem]:
    """What slack_sdk's models refuse in a block the checks above let through."""
    try:
        model = Block.parse(block)
        if model is not None:
            model.to_dict()  # validates the block and every object in it
    except SlackObjectFormationError as error:
        return [Problem(str(error), at)]
    except TypeError as error:  # a required field missing: the model cannot be built at all
        missing = re.findall(r"'(\w+)'", str(error))
        return [Problem("missing required field", f"{at}/{missing[-1]}" if missing else at)]
    return []


def string_problems(value: Any, at: str, limit: int, minimum: int = 1) -> list[Problem]:
    if not isinstance(value, str):
        return [Problem("must provide a string", at)]
    if len(value) < minimum:
        return [Problem(f"must be more than {minimum - 1} characters", at)]
    if len(value) > limit:
        return [Problem(f"must be less than {limit + 1} characters", at)]
    return []


def _items(value: Any, at: str, limit: int) -> list[Problem]:
    if not isinstance(value, list):
        return [Problem("must provide an array", at)]
    if not value:
        return [Problem("must provide at least 1 item", at)]
    if len(value) > limit:
        return [Problem(f"no more than {limit} items allowed", at)]
    return []


def text_problems(value: Any, at: str, limit: int, kinds: tuple[str, ...] = TEXT_TYPES) -> list[Problem]:
    if not isinstance(value, dict):
        return [Problem("must provide an object", at)]
    if value.get("type") not in kinds:
        return [Problem(f"unsupported type: {value.get('type')}", f"{at}/type")]
    return string_problems(value.get("text"), f"{at}/text", limit)


def _image(value: dict[str, Any], at: str) -> list[Problem]:
    """An image block or image element: alt text, and a URL or a Slack file."""
    found = string_problems(value.get("alt_text"), f"{at}/alt_text", 2000)
    if "image_url" in value:
        found += string_problems(value["image_url"], f"{at}/image_url", 3000)
    elif "slack_file" not in value:
        found.append(Problem("must provide either image_url or slack_file", at))
    return found


def _section(block: dict[str, Any], at: str) -> list[Problem]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        return [Problem("must define either `text` or `fields`", at)]
    found: list[Problem] = []
    if text is not None:
        inner = text_problems(text, f"{at}/text", 3000)
        found += [Problem("failed to match all allowed schemas", f"{at}/text"), *inner] if inner else []
    if fields is not None:
        found += _items(fields, f"{at}/fields", 10)
        for n, field in enumerate(fields[:10] if isinstance(fields, list) else []):
            found += text_problems(field, f"{at}/fields/{n}", 2000)
    accessory = block.get("accessory")
    if isinstance(accessory, dict) and accessory.get("type") == "image":
        found += _image(accessory, f"{at}/accessory")
    return found


def _context(block: dict[str, Any], at: str) -> list[Problem]:
    elements = block.get("elements")
    found = _items(elements, f"{at}/elements", 10)
    for n, element in enumerate(elements if isinstance(elements, list) and not found else []):
        where = f"{at}/elements/{n}"
        is_image = isinstance(element, dict) and element.get("type") == "image"
        found += _image(element, where) if is_image else text_problems(element, where, 3000)
    return found


def _image_block(block: dict[str, Any], at: str) -> list[Problem]:
    found = _image(block, at)
    if "title" in block:
        found += text_problems(block["title"], f"{at}/title", 2000, ("plain_text",))
    return found


_CHECKS: dict[str, Callable[[dict[str, Any], str], list[Problem]]] = {
    "section": _section,
    "context": _context,
    "image": _image_block,
    "header": lambda block, at: text_problems(block.get("text"), f"{at}/text", 150, ("plain_text",)),
    "actions": lambda block, at: _items(block.get("elements"), f"{at}/elements", 25),
}


def _subclasses(cls: type) -> Iterator[type]:
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from _subclasses(sub)


# The block types slack_sdk's models know (section, image, context, actions, header, ...).
_SDK_BLOCK_TYPES = {kind for sub in _subclasses(Block) if isinstance(kind := getattr(sub, "type", None), str)}
