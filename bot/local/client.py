"""Talking to the local server from a terminal: signed commands posted to it, what the bot
answered (as the Slack stand-in recorded it) shown, and `imagine-bot send`."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.local.slack.recorder import Call


OUT = Path("imagine-out")
STATE = OUT / "local.json"  # where `run` tells `send` its address and signing secret


def final_call(calls: Sequence[Call], *, images: bool = False) -> Call | None:
    """The last message the bot posted or updated that Slack accepted, preferring a result's."""
    final = [c for c in calls if c.method in ("chat.update", "response_url") and c.ok]
    with_images = [c for c in final if image_links(c.args)]
    if images or with_images:
        return with_images[-1] if with_images else None
    return final[-1] if final else None


def image_links(message: dict[str, Any]) -> list[str]:
    return [b["image_url"] for b in message.get("blocks", []) if b.get("type") == "image"]


def show_result(calls: list[Any], fetches: Sequence[Any] = ()) -> int:
    # Only what Slack would have accepted: the recorder refuses what Slack refuses.
    final = final_call(calls)
    if final is None:
        print("no message was posted", file=sys.stderr)
        return 1
    return 0 if show_message(final, fetches) else 1


def show_message(final: Call, fetches: Sequence[Any] = ()) -> list[str]:
    """Print a posted message, its buttons and its images (each saved under imagine-out/); the
    image links."""
    message = final.args
    print(f"\nthe bot posted ({final.method}): {message.get('text')}")
    links = image_links(message)
    for block in message.get("blocks", []):
        if block.get("type") == "context":
            print(f"  {block['elements'][0]['text']}")
    for block in message.get("blocks", []):
        if block.get("type") == "actions":
            labels = " · ".join(e.get("text", {}).get("text", "") for e in block.get("elements", []))
            index = str(block.get("block_id", "")).rpartition("_")[2]
            under = f" (image {int(index) + 1})" if index.isdigit() else ""
            print(f"  buttons{under}: {labels}")
    OUT.mkdir(exist_ok=True)
    for link in links:
        jpeg, opened = open_link(link)
        path = OUT / link.rsplit("/", 2)[-2] / link.rsplit("/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)
        print(f"\nstable link: {link}")
        fetched = [f for f in fetches if f.url == link]
        if fetched:  # the recorder downloads each image_url when it accepts the message, as Slack does
            last = fetched[-1]
            print(f"  Slack got:  HTTP {last.status} {last.content_type or last.error}")
        print(f"  opens via:  {opened[:100]}...")
        print(f"  saved:      {path} ({len(jpeg)} bytes)")
    return links


def open_link(link: str) -> tuple[bytes, str]:
    """Fetch a stable link as a browser would, following the redirect to the presigned URL."""
    with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - our own loopback URL
        return response.read(), response.geturl()


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


NO_SERVER = "start one with `make run` (or `imagine-bot run`)"


def send_to_server(args: argparse.Namespace) -> int:
    if not STATE.exists():
        print(f"no local server found: {NO_SERVER}", file=sys.stderr)
        return 1
    state = json.loads(STATE.read_text())
    try:
        return _send_to(state, " ".join(args.prompt), args.wait)
    except OSError as error:  # urllib's URLError too: a server that was killed left its state file
        reason = getattr(error, "reason", error)
        why = getattr(reason, "strerror", None) or str(reason)
        print(f"no local server answers at {state['url']} ({why}): {NO_SERVER}", file=sys.stderr)
        return 1


def _send_to(state: dict[str, str], prompt: str, wait: float) -> int:
    # Each command has its own response_url, good for 5 messages in 30 minutes.
    response_url = f"{state['recorder']}/response/send-{time.time_ns()}" if state["recorder"] else ""
    earlier = len(_recorded(state["recorder"])) if state["recorder"] else 0
    status, ack = post_command(state["url"], state["signing_secret"], prompt, response_url)
    print(f"HTTP {status}: {ack.get('text', ack)}")
    if status != 200 or not state["recorder"] or not ack.get("text", "").startswith("Queued"):
        return 0 if status == 200 else 1
    return _wait_for_result(state["recorder"], earlier, wait)


def _wait_for_result(recorder: str, earlier: int, wait: float) -> int:
    """Show this command's result once the recorder has it (calls before ``earlier`` are older)."""
    from bot.local.slack.recorder import Call

    deadline = time.time() + wait
    while time.time() < deadline:
        calls = [Call(**c) for c in _recorded(recorder)[earlier:]]
        finals = [c for c in calls if c.method in ("chat.update", "response_url") and c.ok]
        if any(b.get("type") == "image" for c in finals for b in c.args.get("blocks", [])):
            return show_result(calls)
        time.sleep(0.3)
    print("no result yet; the server's window shows what happened", file=sys.stderr)
    return 1


def _recorded(recorder: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(recorder, timeout=5) as response:  # noqa: S310 - loopback recorder
        calls: list[dict[str, Any]] = json.loads(response.read())
        return calls


def post_command(app_url: str, secret: str, prompt: str, response_url: str) -> tuple[int, dict[str, Any]]:
    from bot.local.signing import command_body

    return post_signed(app_url, secret, command_body(prompt, response_url=response_url))


def post_signed(app_url: str, secret: str, body: str, content_type: str = "") -> tuple[int, dict[str, Any]]:
    """POST ``body`` to /slack/events signed as Slack signs it; the status and the JSON answer."""
    from bot.local.signing import FORM, signed_headers

    headers = signed_headers(secret, body, content_type=content_type or FORM)
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{app_url}/slack/events", data=body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, {"text": error.read().decode("utf-8", "replace")}
