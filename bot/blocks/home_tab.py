"""The App Home tab's view (pure): a person's recent images, today's usage against their quota,
and the options cheat-sheet; for workspace admins and owners, the workspace's usage too.

Everything a person typed is escaped (:func:`bot.messages.escape`), so a prompt shown here can
never ping ``@channel`` or forge a link. A Home tab view holds at most 100 blocks
(https://docs.slack.dev/reference/views/home-tab-views); this one holds eight, and one for each
recent image (``RECENT_LIMIT``, or the empty state's one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.blocks.messages import REFINING, done, escape
from bot.blocks.workspace_form import settings_button
from bot.model.job import RECENT_LIMIT
from bot.model.prompt import ImageRequest

View = dict[str, Any]
Block = dict[str, Any]

PROMPT_CHARS = 280  # of a prompt shown beside its thumbnail; the whole one is in its message
_ALT_CHARS = 1990  # an image's alt text is at most 2000 characters
RECENT_BLOCK = "recent_"  # block_id of each recent image's section: "recent_0" is the newest
EMPTY = (
    "Nothing here yet. Type `/imagine a lighthouse at dusk` in any channel, or mention @imagine, "
    "and the pictures you make will show up here."
)


@dataclass(frozen=True)
class Recent:
    """One of the person's recent images, as the Home tab lists it."""

    request: ImageRequest
    created_at: float
    channel_id: str
    in_thread: bool = False
    thumbnail: str = ""  # the stable link of its first image; "" shows the prompt alone
    permalink: str = ""  # the result message's link (chat.getPermalink); "" when unknown


@dataclass(frozen=True)
class Count:
    """Images made today against a daily limit (0: no limit)."""

    used: int
    limit: int


@dataclass(frozen=True)
class Home:
    user_id: str
    recent: tuple[Recent, ...]
    mine: Count
    resets: str  # when the counts start again, in words (bot.guards.describe_reset)
    cheat_sheet: str  # the options (bot.messages.USAGE, filled in)
    workspace: Count | None = None  # shown to workspace admins and owners only
    refusal: str = ""  # why this workspace may not use /imagine at all, if it may not
    settings: bool = False  # the workspace's Settings button (admins, an app installed per workspace)


def view(home: Home) -> View:
    """The Home tab for ``home.user_id``, as views.publish takes it."""
    blocks: list[Block] = [_header("Your images"), _section(_usage(home))]
    if home.workspace is not None:
        blocks.append(_context(_workspace_usage(home.workspace)))
    if home.settings:
        blocks.append(settings_button())
    blocks += [{"type": "divider"}, _header("Recent")]
    if home.recent:
        blocks += [_recent(n, item) for n, item in enumerate(home.recent[:RECENT_LIMIT])]
    else:
        blocks.append(_section(EMPTY))
    blocks += [{"type": "divider"}, _section(home.cheat_sheet), _section(REFINING)]
    return {"type": "home", "blocks": blocks}


def _usage(home: Home) -> str:
    if home.refusal:
        return f":no_entry: {escape(home.refusal)}"
    mine = home.mine
    if not mine.limit:
        return f"You have made {mine.used} {_images(mine.used)} today; there is no daily limit."
    return (
        f"You have used {min(mine.used, mine.limit)} of your {mine.limit} images today. "
        f"The count resets {home.resets}."
    )


def _workspace_usage(count: Count) -> str:
    if not count.limit:
        made = f"{count.used} {_images(count.used)}"
        return f":office: This workspace has made {made} today; it has no daily limit."
    used = min(count.used, count.limit)
    return f":office: This workspace has used {used} of its {count.limit} images today."


def _images(n: int) -> str:
    return "image" if n == 1 else "images"


def _recent(n: int, item: Recent) -> Block:
    request = item.request
    details = [request.aspect, f"seed {request.seed}" if request.seed is not None else "random seed"]
    if request.operation is not None:  # what was done to which image: "Upscaled 4x"
        details.insert(0, done(request))
    if request.count > 1:
        details.append(f"{request.count} images")
    last = [_when(item.created_at), _where(item)]
    if _linkable(item.permalink):
        last.append(f"<{item.permalink}|open the result>")
    lines = [
        f"*{escape(_cut(request.prompt, PROMPT_CHARS))}*",
        " · ".join(details),
        " · ".join(part for part in last if part),
    ]
    block = {**_section("\n".join(lines)), "block_id": f"{RECENT_BLOCK}{n}"}
    if item.thumbnail:
        block["accessory"] = {
            "type": "image",
            "image_url": item.thumbnail,
            "alt_text": _cut(request.prompt, _ALT_CHARS),
        }
    return block


def _where(item: Recent) -> str:
    """The channel of the result, as a channel link: Slack renders ``<#C123>`` as the channel's
    name, and a click opens it. A direct message has no name to show."""
    if item.channel_id[:1] not in ("C", "G"):
        return ""
    return f"in a thread in <#{item.channel_id}>" if item.in_thread else f"in <#{item.channel_id}>"


def _linkable(url: str) -> bool:
    """A link Slack's ``<url|text>`` can carry as it is: https, with none of ``<``, ``>``, ``|``."""
    return url.startswith("https://") and not any(c in url for c in "<>| \n")


def _when(created_at: float) -> str:
    """The time in the reader's own time zone, with a UTC fallback
    (https://docs.slack.dev/messaging/formatting-message-text#date-formatting)."""
    fallback = datetime.fromtimestamp(created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(created_at)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut before it is escaped (never inside an entity)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
