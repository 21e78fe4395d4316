"""Block Kit payloads and mrkdwn escaping (pure).

Every piece of user text goes through :func:`escape` before it lands in mrkdwn, so a prompt
can never ping ``@channel``, mention someone or forge a link.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.blocks.buttons import follow_up_buttons, operation_buttons
from bot.model.operation import CHANGE, UPSCALE, VARY_STRONG, VARY_SUBTLE, ZOOM_OUT
from bot.model.prompt import MAX_GUIDANCE, MAX_IMAGES, MAX_SEED, MIN_GUIDANCE, ImageRequest
from bot.model.translation import language_name

Payload = dict[str, Any]
Block = dict[str, Any]

_SECTION_LIMIT = 3000  # Slack's cap on a section's text
_ALT_TEXT_LIMIT = 2000  # and on an image's alt text

USAGE = (
    "*Usage:* `/imagine <what you want to see> [options]`\n"
    "• `--ar W:H` aspect ratio, 1:4 to 4:1 (default 1:1)\n"
    f"• `--seed N` repeatable result, 0 to {MAX_SEED} (random when absent)\n"
    "• `--no TEXT` what to leave out\n"
    "• `--steps N` denoising steps (more is slower, default {default_steps}, up to {max_steps})\n"
    f"• `--cfg X` how closely to follow the prompt, {MIN_GUIDANCE:g} to {MAX_GUIDANCE:g}"
    " (default {default_guidance:g})\n"
    f"• `--n K` how many images, 1 to {MAX_IMAGES}\n"
    "Example: `/imagine a cyborg tiger in neon rain --ar 16:9 --no text`"
)


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.rfind("&") > cut.rfind(";"):  # never end inside an &amp; / &lt; / &gt; entity
        cut = cut[: cut.rfind("&")]
    return cut + "…"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, _SECTION_LIMIT)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(text, _SECTION_LIMIT)}]}


def usage(problem: str | None, *, default_steps: int, max_steps: int, default_guidance: float) -> Payload:
    """The ephemeral answer to help, an empty command or a malformed option."""
    help_text = USAGE.format(
        default_steps=default_steps, max_steps=max_steps, default_guidance=default_guidance
    )
    blocks = [_mrkdwn(f":warning: {escape(problem)}")] if problem else []
    blocks.append(_mrkdwn(help_text))
    text = escape(problem) if problem else "How to use /imagine"
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


REFINING = (
    "*In a result's thread*, `@imagine` starts from the thread's newest image:\n"
    "• `@imagine --ar 9:16`: the options you name change, the rest (seed included) stay\n"
    "• `@imagine a fox in the snow`: a new prompt, with the same options\n"
    "• `@imagine + at sunset, oil painting`: added to the prompt"
)


def mention_usage(
    problem: str | None, *, default_steps: int, max_steps: int, default_guidance: float
) -> Payload:
    """The answer to a mention that is not a request: the options, asked with ``@imagine``, and
    how a mention in a result's thread refines it."""
    help_text = USAGE.format(
        default_steps=default_steps, max_steps=max_steps, default_guidance=default_guidance
    ).replace("/imagine", "@imagine")
    blocks = [_mrkdwn(f":warning: {escape(problem)}")] if problem else []
    blocks += [_mrkdwn(help_text), _mrkdwn(REFINING)]
    return {"text": escape(problem) if problem else "How to use @imagine", "blocks": blocks}


def describe(request: ImageRequest) -> str:
    """The parameters, one line, as shown under a request and its result."""
    parts = [f"{request.width}×{request.height} ({request.aspect})"]
    if "seed" not in request.unused:
        parts.append(f"seed {request.seed}" if request.seed is not None else "random seed")
    if "steps" not in request.unused:
        parts.append(f"{request.steps} steps")
    if "cfg" not in request.unused:
        parts.append(f"cfg {request.guidance:g}")
    if request.count > 1:
        parts.append(f"{request.count} images")
    if request.negative_prompt and "no" not in request.unused:
        parts.append(f"no: {escape(request.negative_prompt)}")
    translation = request.translation
    if translation is not None and translation.failed:
        parts.append("not translated (the translation service failed): drawn as typed")
    elif translation is not None and translation.translated:
        english = translation.english + (
            f" (no: {translation.english_negative})" if translation.english_negative else ""
        )
        parts.append(f"translated from {language_name(translation.language)}: {escape(english)}")
    return " · ".join(parts)


def queued(request: ImageRequest) -> Payload:
    """The ephemeral acknowledgement: what was understood, and that it is on its way."""
    return {
        "response_type": "ephemeral",
        "text": f"Queued: {escape(request.prompt)}",
        "blocks": [
            _mrkdwn(f":hourglass_flowing_sand: Queued *{escape(request.prompt)}*"),
            _context(describe(request)),
        ],
    }


def _headline(user_id: str, request: ImageRequest) -> str:
    # user_id comes from Slack's signed payload and is checked by the job model.
    operation = request.operation
    if operation is None:
        return f"<@{user_id}> imagined *{escape(request.prompt)}*"
    which = f"image {operation.source_index + 1} of " if operation.source_count > 1 else ""
    return f"<@{user_id}>: {done(request)} from {which}*{escape(operation.source_prompt)}*"


def _title(request: ImageRequest) -> str:
    """A result's notification text: what was made, of which prompt."""
    said = done(request) if request.operation is not None else "Imagined"
    return f"{said}: {escape(request.prompt)}"


def done(request: ImageRequest) -> str:
    """What an operation did, in a few words: "Upscaled 4x", "Changed “the cat” into “a corgi”"."""
    operation = request.operation
    assert operation is not None
    if operation.kind == UPSCALE:
        return f"Upscaled {request.width / max(1, operation.source_width):.2g}×"
    if operation.kind == CHANGE:
        return f"Changed “{escape(operation.search)}” into “{escape(operation.replacement)}”"
    return {VARY_SUBTLE: "Varied (subtle)", VARY_STRONG: "Varied (strong)", ZOOM_OUT: "Zoomed out 2×"}[
        operation.kind
    ]


def waiting(user_id: str, request: ImageRequest, ahead: int) -> Payload:
    """The channel message while the job waits for the GPU, with about how many jobs are ahead."""
    place = "next in line" if ahead <= 0 else f"{ahead} job{'s' if ahead > 1 else ''} ahead"
    return {
        "text": f"Queued: {escape(request.prompt)}",
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":hourglass_flowing_sand: queued, {place} · {describe(request)}"),
        ],
    }


def _clock_time(epoch: float) -> str:
    """``epoch`` as each reader's local time of day (Slack's date formatting: the token
    {time_secs}, with a UTC fallback for clients that cannot show it;
    docs.slack.dev/messaging/formatting-message-text#date-formatting)."""
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")
    return f"<!date^{int(epoch)}^{{time_secs}}|{fallback}>"


def rendering(user_id: str, request: ImageRequest, started_at: float | None = None) -> Payload:
    """The channel message while the GPU works, saying since when (``started_at``, epoch
    seconds) when known. A start time, not a counter: a counter would need a chat.update every
    second, far past chat.update's rate limit (Tier 3, about 50 a minute)."""
    since = f" since {_clock_time(started_at)}" if started_at is not None else "…"
    return {
        "text": f"Painting: {escape(request.prompt)}",
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":art: painting{since} · {describe(request)}"),
        ],
    }


WARMING_UP = "warming up the GPU, usually a few minutes"  # while the asynchronous endpoint is at zero


def warming_up(user_id: str, request: ImageRequest) -> Payload:
    """The channel message while the endpoint starts an instance from zero (minutes, not
    seconds), so the requester knows the wait is expected."""
    return {
        "text": f"Warming up the GPU: {escape(request.prompt)}",
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":hourglass_flowing_sand: {WARMING_UP} · {describe(request)}"),
        ],
    }


def retrying(user_id: str, request: ImageRequest, reason: str, seconds: int) -> Payload:
    """The channel message while a failed attempt waits for its next try (not stuck)."""
    return {
        "text": f"Retrying: {escape(request.prompt)}",
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":repeat: retrying in about {seconds} s ({escape(reason)}) · {describe(request)}"),
        ],
    }


def _buttons(
    job_id: str | None, count: int, operations: tuple[str, ...], *, beside_images: bool = False
) -> list[Block]:
    """The result's own row, then the image operations' rows: one for a single image, one per
    image of several, unless each image has its rows beside it already (``beside_images``)."""
    if not job_id:
        return []
    rows = [follow_up_buttons(job_id)]
    if operations and not (beside_images and count > 1):
        indexes: list[int | None] = [None] if count == 1 else list(range(count))
        rows += [operation_buttons(job_id, operations, n) for n in indexes]
    return rows


def result(
    user_id: str,
    request: ImageRequest,
    links: list[str],
    seconds: float,
    *,
    job_id: str | None = None,
    operations: tuple[str, ...] = (),
) -> Payload:
    """The channel message once the images are stored, with the buttons when ``job_id`` is given:
    the result's own, and the image ``operations`` that are on, beside each image of several."""
    alt = _truncate(request.prompt, _ALT_TEXT_LIMIT - 10)
    images: list[Block] = []
    for n, link in enumerate(links):
        images.append(
            {"type": "image", "image_url": link, "alt_text": alt if len(links) == 1 else f"{alt} ({n + 1})"}
        )
        if job_id and len(links) > 1:
            images.append(follow_up_buttons(job_id, n))
            if operations:
                images.append(operation_buttons(job_id, operations, n))
    return {
        "text": _title(request),
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            *images,
            _context(f"{describe(request)} · rendered in {_duration(seconds)}"),
            *_buttons(job_id, len(links), operations, beside_images=True),
        ],
    }


def result_uploaded(
    user_id: str,
    request: ImageRequest,
    count: int,
    seconds: float,
    *,
    job_id: str | None = None,
    operations: tuple[str, ...] = (),
) -> Payload:
    """The channel message when the images were uploaded into its thread as Slack files."""
    where = "the image is" if count == 1 else f"the {count} images are"
    return {
        "text": _title(request),
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":frame_with_picture: {where} in the thread · {describe(request)}"
                     f" · rendered in {_duration(seconds)}"),
            *_buttons(job_id, count, operations),
        ],
    }  # fmt: skip


def result_links(
    user_id: str,
    request: ImageRequest,
    links: list[str],
    seconds: float,
    *,
    job_id: str | None = None,
    operations: tuple[str, ...] = (),
) -> Payload:
    """The result as plain links: what Slack always accepts, since it downloads nothing."""
    named = [f"<{link}|image {n + 1}>" for n, link in enumerate(links)]
    return {
        "text": _title(request),
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _mrkdwn(":frame_with_picture: " + " · ".join(named)),
            _context(f"{describe(request)} · rendered in {_duration(seconds)}"),
            *_buttons(job_id, len(links), operations),
        ],
    }


def shared(
    sharer_id: str,
    user_id: str,
    request: ImageRequest,
    links: list[str],
    seconds: float,
    *,
    job_id: str,
    permalink: str = "",
    images: bool = True,
    operations: tuple[str, ...] = (),
) -> Payload:
    """A result Share posted elsewhere: who shared it, the result (image blocks, or plain links
    when ``images`` is False; none when there are no links), where it came from, its buttons."""
    if not links:  # the images are Slack files in the original's thread: the link says where
        blocks = [
            _mrkdwn(_headline(user_id, request)),
            _context(f"{describe(request)} · rendered in {_duration(seconds)}"),
            *_buttons(job_id, request.count, operations),
        ]
    else:
        make = result if images else result_links
        blocks = make(user_id, request, links, seconds, job_id=job_id, operations=operations)["blocks"]
    # Only Slack's own permalink (https, no spaces or brackets) becomes a link, with & escaped
    # as everywhere in message text (docs.slack.dev/messaging/formatting-message-text).
    origin = f" · <{permalink.replace('&', '&amp;')}|see the original>" if _safe_link(permalink) else ""
    said_by = _context(f":outbox_tray: <@{sharer_id}> shared{origin}")
    return {
        "text": f"<@{sharer_id}> shared: {escape(request.prompt)}",
        "blocks": [said_by, *blocks],
    }


def _safe_link(url: str) -> bool:
    return url.startswith("https://") and not any(c in url for c in " <>|\n")


def sent_by_direct_message(user_id: str, request: ImageRequest) -> Payload:
    """The channel message when the images went to the requester by DM (files cannot be shared
    where the bot may not post)."""
    return {
        "text": _title(request),
        "blocks": [
            _mrkdwn(_headline(user_id, request)),
            _context(f":envelope: sent to <@{user_id}> as a direct message · {describe(request)}"),
        ],
    }


def upload_comment(user_id: str, request: ImageRequest) -> str:
    """The text Slack shows with uploaded images."""
    return _truncate(f"{_headline(user_id, request)}\n{describe(request)}", _SECTION_LIMIT)


def failed(user_id: str, request: ImageRequest) -> Payload:
    """The channel message when the render failed for good."""
    return {
        "text": f"Could not render: {escape(request.prompt)}",
        "blocks": ended(user_id, request, ":x: not rendered"),
    }


def ended(user_id: str, request: ImageRequest, outcome: str) -> list[Block]:
    """A job's message with no image: what was asked, and ``outcome`` (our own words) before its details."""
    return [_mrkdwn(_headline(user_id, request)), _context(f"{outcome} · {describe(request)}")]


def failure_reply(reason: str) -> Payload:
    """The thread reply that says what went wrong."""
    text = f":x: Sorry, this one could not be rendered: {escape(reason)}"
    return {"text": text, "blocks": [_mrkdwn(text)]}


def notice(text: str) -> Payload:
    """An ephemeral one-liner of our own words (never user text)."""
    return {"response_type": "ephemeral", "text": text}


def with_note_above(payload: Payload, note: str) -> Payload:
    """``payload`` with a line of our own words (``note``, never user text) above what it
    shows; a payload of text alone gets its text as a section, since blocks hide the text."""
    blocks = payload.get("blocks") or [_mrkdwn(str(payload.get("text", "")))]
    return {**payload, "blocks": [_context(note), *blocks]}
