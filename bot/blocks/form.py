"""The ``/imagine`` modal (pure): its view, what its ``private_metadata`` carries, and a
submission's state read back into fields.

One form serves ``/imagine`` with no text, the Edit button on a result and the "Imagine this"
message shortcut. Each field has its own input block, and Slack sends a submission's values
keyed by block_id, then action_id (docs.slack.dev/reference/interaction-payloads/
view-interactions-payload); ``response_action: errors`` names the block_id of each field in
error. ``private_metadata`` carries only where the picture goes, as JSON: it comes back with the
submission, and it is not a place for secrets.

The form's "Post in" select is how the picture reaches a conversation the bot may not post in
(a private channel it was not invited to, a DM): a ``conversations_select`` in an input block
with ``response_url_enabled`` makes Slack put a ``response_url`` for the conversation picked in
the submission's ``response_urls`` (docs.slack.dev/surfaces/modals#modal_response_url; one per
view at most), and a response_url "will bypass any channel posting permissions"
(docs.slack.dev/interactivity/handling-user-interaction#message_responses). Without it a
submission carries none. ``initial_conversation`` names the place the form was opened for; it
"will take precedence" over ``default_to_current_conversation`` (the select menu element's
reference), which is left out: the bot knows the place already, a thread's included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.blocks.callbacks import MODAL_CALLBACK, SHARE_CALLBACK
from bot.model.prompt import (
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_SEED,
    MIN_GUIDANCE,
    ImageRequest,
    PromptLimits,
    size_for_aspect,
)

VALUE = "value"  # every field's action_id: its block_id says which field it is
# Field name (as bot.prompt.from_fields reads it) -> its input block's block_id.
BLOCKS = {
    "prompt": "imagine_prompt",
    "negative_prompt": "imagine_negative",
    "aspect": "imagine_aspect",
    "count": "imagine_count",
    "steps": "imagine_steps",
    "guidance": "imagine_guidance",
    "seed": "imagine_seed",
}
POST_IN = "imagine_post_in"  # the conversation the picture goes to (and its response_url)
ASPECTS = ("1:1", "4:3", "3:2", "16:9", "2:1", "4:1", "3:4", "2:3", "9:16", "1:2", "1:4")
INPUT_LIMIT = 3000  # a plain_text_input's max_length cannot be more (Block Kit reference)

_SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Target:
    """Where a submitted form's picture goes: a channel, in a thread for an edit or a message."""

    channel_id: str
    thread_ts: str = ""
    parent_job_id: str = ""  # the result an Edit started from

    def metadata(self) -> str:
        fields = {
            "channel": self.channel_id,
            "thread_ts": self.thread_ts,
            "parent_job_id": self.parent_job_id,
        }
        return json.dumps({name: value for name, value in fields.items() if value}, separators=(",", ":"))

    @classmethod
    def from_metadata(cls, text: str) -> Target | None:
        """The target a view's private_metadata names, or None if it names none."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        channel, thread_ts, parent = (
            data.get(name, "") for name in ("channel", "thread_ts", "parent_job_id")
        )
        if not (isinstance(channel, str) and _SLACK_ID.match(channel)):
            return None
        if not isinstance(thread_ts, str) or (thread_ts and not _SLACK_TS.match(thread_ts)):
            return None
        if not isinstance(parent, str) or (parent and not _JOB_ID.match(parent)):
            return None
        return cls(channel, thread_ts, parent)


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _text(label), "value": value}


def _input(
    field: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": BLOCKS[field],
        "label": _text(label),
        "element": {**element, "action_id": VALUE},
        "optional": optional,
    }
    if hint:
        block["hint"] = _text(hint)
    return block


def _number(initial: str, low: str, high: str, *, decimals: bool = False) -> dict[str, Any]:
    element = {"type": "number_input", "is_decimal_allowed": decimals, "min_value": low, "max_value": high}
    return {**element, "initial_value": initial} if initial else element


def _aspect_label(aspect: str) -> str:
    w, h = (int(side) for side in aspect.split(":"))
    width, height = size_for_aspect(w, h)
    return f"{aspect} · {width}×{height}"


def _where(target: Target) -> str:
    if target.parent_job_id and target.thread_ts:
        return "The picture is posted in the result's thread, unless you pick another conversation below."
    if target.thread_ts:
        return "The picture is posted in the message's thread, unless you pick another conversation below."
    return "The picture is posted in the conversation below, for everyone there to see."


def _post_in(target: Target) -> dict[str, Any]:
    """The "Post in" select: the form's place to begin with, and a response_url asked for."""
    picker = {
        "type": "conversations_select",
        "initial_conversation": target.channel_id,
        "response_url_enabled": True,
        "placeholder": _text("Pick a conversation"),
    }
    return {
        "type": "input",
        "block_id": POST_IN,
        "label": _text("Post in"),
        "element": {**picker, "action_id": VALUE},
        "hint": _text("Everyone there sees the picture, even where the bot was not invited."),
    }


def imagine_modal(
    target: Target,
    limits: PromptLimits,
    *,
    prefill: ImageRequest | None = None,
    prompt: str = "",
    title: str = "Imagine",
) -> dict[str, Any]:
    """The modal: a prompt (``prompt``, or ``prefill``'s) and every option, each bounded as the
    options are, filled in with ``prefill``'s values or the defaults."""
    request = prefill or ImageRequest(
        prompt=prompt, steps=limits.default_steps, guidance=limits.default_guidance
    )
    text_limit = min(limits.max_prompt_chars, INPUT_LIMIT)
    aspects = ASPECTS if request.aspect in ASPECTS else (*ASPECTS, request.aspect)
    aspect_options = [_option(_aspect_label(aspect), aspect) for aspect in aspects]
    count_options = [
        _option("1 image" if n == 1 else f"{n} images", str(n)) for n in range(1, MAX_IMAGES + 1)
    ]
    steps = min(max(request.steps, 1), limits.max_steps)
    guidance = min(max(request.guidance, MIN_GUIDANCE), MAX_GUIDANCE)
    prompt_input: dict[str, Any] = {
        "type": "plain_text_input",
        "multiline": True,
        "max_length": text_limit,
        "focus_on_load": True,
        "placeholder": _text("a cyborg tiger in neon rain"),
    }
    if request.prompt:
        prompt_input["initial_value"] = request.prompt[:text_limit]
    negative_input: dict[str, Any] = {
        "type": "plain_text_input",
        "max_length": text_limit,
        "placeholder": _text("text, blurry, watermark"),
    }
    if request.negative_prompt:
        negative_input["initial_value"] = request.negative_prompt[:text_limit]
    seed = "" if request.seed is None else str(request.seed)
    count = min(max(request.count, 1), MAX_IMAGES)
    low, high = f"{MIN_GUIDANCE:g}", f"{MAX_GUIDANCE:g}"
    aspect_select = {
        "type": "static_select",
        "options": aspect_options,
        "initial_option": aspect_options[aspects.index(request.aspect)],
    }
    count_select = {
        "type": "static_select",
        "options": count_options,
        "initial_option": count_options[count - 1],
    }
    steps_hint = f"Denoising steps, more is slower: 1 to {limits.max_steps} (default {limits.default_steps})."
    guidance_hint = (
        f"How closely to follow the prompt: {low} to {high} (default {limits.default_guidance:g})."
    )
    seed_hint = "Empty for a random one. The same seed and settings paint the same picture."
    blocks = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _where(target)}]},
        _input("prompt", "Prompt", prompt_input),
        _input("negative_prompt", "Leave out", negative_input, optional=True),
        _input("aspect", "Aspect ratio", aspect_select),
        _input("count", "Images", count_select),
        _input("steps", "Steps", _number(str(steps), "1", str(limits.max_steps)), hint=steps_hint),
        _input(
            "guidance", "Guidance", _number(f"{guidance:g}", low, high, decimals=True), hint=guidance_hint
        ),
        _input("seed", "Seed", _number(seed, "0", str(MAX_SEED)), optional=True, hint=seed_hint),
        _post_in(target),
    ]
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": _text(title),
        "submit": _text("Imagine"),
        "close": _text("Cancel"),
        "private_metadata": target.metadata(),
        "blocks": blocks,
    }


def fields_from_state(values: Any) -> dict[str, str | None]:
    """A submission's ``view.state.values`` as the fields bot.prompt.from_fields reads: the text
    of a text or number input, the value of a select's chosen option, None for an empty one."""
    values = values if isinstance(values, Mapping) else {}
    fields: dict[str, str | None] = {}
    for field, block_id in BLOCKS.items():
        block = values.get(block_id)
        state = block.get(VALUE) if isinstance(block, Mapping) else None
        if not isinstance(state, Mapping):
            fields[field] = None
            continue
        chosen = state.get("selected_option") if state.get("type") == "static_select" else state
        value = chosen.get("value") if isinstance(chosen, Mapping) else None
        fields[field] = value if isinstance(value, str) else None
    return fields


def field_errors(problems: Mapping[str, str]) -> dict[str, Any]:
    """The acknowledgement that shows each problem under its field (a name of :data:`BLOCKS`, or
    ``post_in``) and keeps the modal open."""
    blocks = {**BLOCKS, "post_in": POST_IN}
    return {"response_action": "errors", "errors": {blocks[field]: text for field, text in problems.items()}}


def response_url_for(response_urls: Any, conversation: str) -> str:
    """The response_url Slack issued with a submission for ``conversation``, picked in the form's
    "Post in" select, or "". Slack shapes ``response_urls`` as ``[{"block_id", "action_id",
    "channel_id", "response_url"}]`` (bolt-js's ViewResponseUrl type), ``[]`` when the view
    asked for none (slackapi/node-slack-sdk issue 970)."""
    for entry in response_urls if isinstance(response_urls, list) else []:
        if not isinstance(entry, Mapping):
            continue
        url = entry.get("response_url")
        asked = (entry.get("block_id"), entry.get("channel_id")) == (POST_IN, conversation)
        if asked and isinstance(url, str):
            return url
    return ""


# ---- the Share modal ---------------------------------------------------------------------------

SHARE_TO = "imagine_share_to"  # the conversations_select's input block


def share_modal(job_id: str, from_channel: str, headline: str) -> dict[str, Any]:
    """Share on a result in a channel: pick a conversation to post it in. ``headline`` is mrkdwn
    already escaped (bot/blocks/messages.py). The picker lists public and private channels, no bots and
    no DMs, and preselects nothing (a result is already where it was clicked)
    (docs.slack.dev/reference/block-kit/block-elements/select-menu-element#conversations_select,
    .../composition-objects/conversation-filter-object)."""
    picker = {
        "type": "conversations_select",
        "placeholder": _text("Pick a channel"),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "default_to_current_conversation": False,
    }
    return {
        "type": "modal",
        "callback_id": SHARE_CALLBACK,
        "title": _text("Share"),
        "submit": _text("Share"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"job_id": job_id, "from": from_channel}, separators=(",", ":")),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {
                "type": "input",
                "block_id": SHARE_TO,
                "label": _text("Post it in"),
                "element": {**picker, "action_id": VALUE},
                "hint": _text("It is posted there for everyone, with a link back to the original."),
            },
        ],
    }


def share_metadata(text: str) -> tuple[str, str] | None:
    """The job id and the clicked channel a Share modal's private_metadata names, or None."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    job_id, channel = data.get("job_id"), data.get("from")
    if not (isinstance(job_id, str) and _JOB_ID.match(job_id)):
        return None
    if not (isinstance(channel, str) and _SLACK_ID.match(channel)):
        return None
    return job_id, channel


def chosen_conversation(values: Any, block_id: str = SHARE_TO) -> str:
    """The conversation a submission picked in the conversations_select ``block_id`` (Share's,
    or the form's "Post in"), or ""."""
    block = values.get(block_id) if isinstance(values, Mapping) else None
    state = block.get(VALUE) if isinstance(block, Mapping) else None
    chosen = state.get("selected_conversation") if isinstance(state, Mapping) else None
    return chosen if isinstance(chosen, str) and bool(_SLACK_ID.match(chosen)) else ""


# Slack's markup in a message's text (docs.slack.dev/messaging/formatting-message-text):
# <@U123> and <@U123|name> people, <#C123|general> channels, <!here> and <!subteam^S1|@team>
# broadcasts and groups, <!date^...|fallback> dates, <https://...|label> and <https://...> links;
# &, < and > arrive as &amp;, &lt; and &gt;.
_MARKUP = re.compile(r"<([^<>]*)>")


def _plain(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith(("@", "#", "!subteam")):
        return label.lstrip("@#")  # a name when Slack gives one; an id means nothing to a model
    if target.startswith("!"):
        return label if target.startswith("!date") else ""  # never a broadcast
    return label or target.removeprefix("mailto:")


def prompt_from_message(text: str, limit: int) -> str:
    """A message's text as a prompt: Slack's markup read as the words it shows, on one line, at
    most ``limit`` characters (cut at a space when there is one)."""
    plain = _MARKUP.sub(_plain, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    prompt = " ".join(plain.split())
    if len(prompt) <= limit:
        return prompt
    cut = prompt[:limit]
    return cut[: cut.rfind(" ")] if " " in cut else cut
