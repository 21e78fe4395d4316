"""`imagine-bot demo`: the whole path on the local stack, /imagine to Delete, each step checked
and shown; then, in a terminal, the playground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.local.poller import EventSources
    from bot.local.slack.recorder import Call, SlackRecorder
    from bot.model.job import Job

from bot.local.client import final_call, image_links, interrupt, post_command, post_signed, show_message

DEFAULT_PROMPT = "a cyborg tiger in neon rain --ar 16:9"
IN_CHINESE = "一只赛博朋克风格的老虎 --seed 9"  # "a tiger in cyberpunk style"


def run_demo(args: argparse.Namespace) -> int:
    from bot.local.playground import playground_for
    from bot.local.poller import EventSources
    from bot.local.server import LocalServer
    from bot.local.stack import LocalStack
    from bot.services import process_services as services

    prompt = " ".join(args.prompt) or DEFAULT_PROMPT
    # The playground's usual address when it is free, so the link printed at the end is the one
    # `make run` uses; any free port otherwise (a `make run` already there, another demo).
    wanted = os.environ.get("PORT", "")
    try:
        server = LocalServer(int(wanted) if wanted.isdigit() and int(wanted) < 65536 else 3000).start()
    except OSError:
        server = LocalServer().start()
    stack = LocalStack().start(public_base_url=server.url)
    server.ready(playground_for(server.url, stack.recorder))
    try:
        print(f"local stack: AWS at {os.environ['AWS_ENDPOINT_URL']}, app at {server.url}")
        # The jobs queue and the tasks queue, as Lambda's two event sources poll them.
        sources = EventSources.of(services())
        if stack.recorder is None:
            return _demo_in_slack(server.url, prompt, sources)
        tour = _Tour(server.url, os.environ["SLACK_SIGNING_SECRET"], stack.recorder, sources)
        try:
            tour.run(prompt)
        except _StepFailed as failed:
            print(
                f"\ndemo step {failed.step} ({DEMO_STEPS[failed.step - 1]}) failed: {failed}", file=sys.stderr
            )
            return 1
        if not (sys.stdin.isatty() and sys.stdout.isatty()):  # tests, CI: nobody to open a browser
            print(
                "\nSee it as your team would: `make run`, then open http://127.0.0.1:3000/", file=sys.stderr
            )
            return 0
        print(f"\nSee it as your team would: {server.url}/ (Ctrl-C stops)")
        signal.signal(signal.SIGTERM, interrupt)
        try:
            sources.run_forever()  # results of what is done on the page keep arriving
        except KeyboardInterrupt:
            print("stopping")
        return 0
    finally:
        stack.stop()
        server.stop()


def _demo_in_slack(app_url: str, prompt: str, sources: EventSources) -> int:
    """A real workspace: the command only, since only Slack sees what the bot posts there."""
    status, ack = post_command(app_url, os.environ["SLACK_SIGNING_SECRET"], prompt, "")
    print(f"\n/imagine {prompt}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
    if status != 200 or not ack.get("text", "").startswith("Queued"):
        return 1
    sources.drain()
    print("posted to the real Slack workspace; see the channel")
    return 0


# What `make demo` walks through, in this order (issue: "make demo shows the whole path").
DEMO_STEPS = (
    "command", "result with buttons", "re-roll", "upscale", "vary (subtle)", "mention", "share", "delete",
)  # fmt: skip


REFINEMENT = "+ at sunset --ar 9:16"  # "+" adds to the thread's prompt; an option changes only itself


Where = tuple[str, str]  # a message's channel and ts


class _StepFailed(Exception):
    def __init__(self, step: int, why: str) -> None:
        super().__init__(why)
        self.step = step


class _Tour:
    """The whole path, driven as Slack drives the bot: signed requests built from the messages the
    Slack stand-in accepted (clicks echo the buttons as posted), the worker run on both queues
    after each, and every outcome read back from what Slack holds and what the links answer."""

    def __init__(self, app_url: str, secret: str, recorder: SlackRecorder, sources: EventSources) -> None:
        self.app_url = app_url
        self.secret = secret
        self.recorder = recorder
        self.sources = sources
        self.clicks = 0

    def run(self, prompt: str) -> None:
        root, links = self.command(prompt)
        reroll = self.reroll(root)
        self.operation(4, root, reroll, "Upscale")
        varied = self.operation(5, root, reroll, "Vary (Subtle)")
        self.mention(root, varied)
        self.share(root, reroll)
        self.delete(root, links)
        self.in_another_language()

    # ---- the steps ----------------------------------------------------------------------------

    def command(self, prompt: str) -> tuple[Where, list[str]]:
        """Steps 1 and 2: /imagine, then its result in the channel with its buttons."""
        before = len(self.recorder.snapshot())
        response_url = self.recorder.response_url()
        status, ack = post_command(self.app_url, self.secret, prompt, response_url)
        print(f"\n/imagine {prompt}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
        if status != 200 or not ack.get("text", "").startswith("Queued"):
            raise _StepFailed(1, "the command was not queued")
        self.work(lambda: final_call(self.calls_since(before), images=True) is not None)
        final = final_call(self.calls_since(before))
        if final is None:
            raise _StepFailed(2, "no message was posted")
        links = show_message(final, self.recorder.image_fetches)
        if not links:
            raise _StepFailed(2, "the result has no images")
        if final.method != "chat.update":
            raise _StepFailed(2, f"the result is not a message in the channel ({final.method})")
        root = (str(final.args["channel"]), str(final.args["ts"]))
        missing = {"Re-roll", "Share", "Delete"} - set(_labels(self.message(2, root)))
        if missing:
            raise _StepFailed(2, f"the result has no {', '.join(sorted(missing))} button")
        print(f"\nwhere the time went: {_time_went(self.message(2, root))}")
        return root, links

    def reroll(self, root: Where) -> Where:
        """Step 3: Re-roll on the result; a new render lands in its thread."""
        before = len(self.recorder.snapshot())
        status = self.click(3, root, "Re-roll")
        reply = self.work_into_thread(3, before, root)
        text, context = _headline(self.message(3, reply))
        print(f"\nclick Re-roll -> HTTP {status}; in the thread (chat.update): {text}\n  {context}")
        return reply

    def operation(self, step: int, root: Where, source: Where, label: str) -> Where:
        """Steps 4 and 5: an image operation on the re-roll's image; its result lands in the same
        thread, saying what was done from which image."""
        before = len(self.recorder.snapshot())
        status = self.click(step, source, label)
        done = self.work_into_thread(step, before, root)
        job, parent = _job_on(self.message(step, done)), _job_on(self.message(step, source))
        if (
            job is None
            or parent is None
            or job.request.operation is None
            or job.parent_job_id != parent.job_id
        ):
            raise _StepFailed(step, f"{label} did not start from the re-roll's image")
        wide, was = job.request.width, parent.request.width
        if label == "Upscale" and wide < 2 * was:
            raise _StepFailed(step, f"the upscale is {wide} px wide, from {was}")
        headline = self.message(step, done)["blocks"][0]["text"]["text"]
        _, context = _headline(self.message(step, done))
        print(f"\nclick {label} on the re-roll -> HTTP {status}; in the thread: {headline}\n  {context}")
        return done

    def mention(self, root: Where, newest: Where) -> None:
        """Step 6: @imagine in the thread refines its newest result (the variation), from its prompt."""
        from bot.local.signing import JSON, app_mention, event_body

        before = len(self.recorder.snapshot())
        body = event_body(app_mention(REFINEMENT, channel_id=root[0], thread_ts=root[1]))
        status, _ = post_signed(self.app_url, self.secret, body, JSON)
        refined = self.work_into_thread(6, before, root)
        job = _job_on(self.message(6, refined))
        request = job.request if job else None
        if job is None or request is None or job.parent_job_id != _job_id_on(self.message(6, newest)):
            raise _StepFailed(6, "the refinement did not start from the thread's newest result")
        if request.aspect != "9:16" or not request.prompt.endswith("at sunset"):
            raise _StepFailed(6, f"the refined request is {request.prompt!r} at {request.aspect}")
        text, context = _headline(self.message(6, refined))
        print(f"\n@imagine {REFINEMENT} (in the thread) -> HTTP {status}; in the thread: {text}\n  {context}")

    def share(self, root: Where, reply: Where) -> None:
        """Step 7: Share on the re-roll in the thread posts it in the channel, linking back."""
        before = len(self.recorder.snapshot())
        status = self.click(7, reply, "Share")

        def shared() -> Call | None:
            posts = [c for c in self.calls_since(before) if c.method == "chat.postMessage" and c.ok]
            return next(
                (c for c in posts if c.args.get("channel") == root[0] and not c.args.get("thread_ts")), None
            )

        self.work(lambda: shared() is not None)
        post = shared()
        if post is None:
            raise self.failed(7, "nothing was posted in the channel", before)
        if image_links(post.args) != image_links(self.message(7, reply)):
            raise _StepFailed(7, "the channel got other images than the re-roll's")
        # A permalink names the message's ts without its dot, with ?thread_ts= for a thread reply
        # (api.slack.com/methods/chat.getPermalink).
        back = _permalinks(post.args)
        if not any(reply[1].replace(".", "") in link for link in back):
            raise _StepFailed(7, "the shared message has no permalink back to the re-roll")
        print(f"\nclick Share on the re-roll -> HTTP {status}; in the channel (chat.postMessage): "
              f"{post.args.get('text')}\n  links back: {back[0]}")  # fmt: skip

    def delete(self, root: Where, links: list[str]) -> None:
        """Step 8: Delete on the first result, by its requester; its links then answer 410 Gone."""
        before = len(self.recorder.snapshot())
        # The button's confirmation dialog asks first; this is the click its "Delete" sends
        # (docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
        status = self.click(8, root, "Delete")

        def deleted() -> bool:
            return any(
                c.method == "chat.delete" and c.ok and (c.args.get("channel"), c.args.get("ts")) == root
                for c in self.calls_since(before)
            )

        self.work(deleted)
        if not deleted() or self.recorder.message(*root) is not None:
            raise self.failed(8, "the message is still in the channel", before)
        print(f"\nclick Delete on the first result -> HTTP {status}; gone from the channel (chat.delete)")
        for link in links:
            code = _status_of(link)
            print(f"  GET {link} -> {code} {HTTPStatus(code).phrase}")
            if code != HTTPStatus.GONE:
                raise _StepFailed(8, f"its link answers {code}, not 410")

    def in_another_language(self) -> None:
        """Step 9: a prompt in Chinese, drawn from its English (TRANSLATE_PROMPTS=auto: Translate's
        stand-in on the local stack), shown as typed with the English under it."""
        before = len(self.recorder.snapshot())
        status, ack = post_command(self.app_url, self.secret, IN_CHINESE, self.recorder.response_url())
        print(f"\n/imagine {IN_CHINESE}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
        self.work(lambda: final_call(self.calls_since(before), images=True) is not None)
        final = final_call(self.calls_since(before))
        if final is None or not show_message(final, self.recorder.image_fetches):
            raise self.failed(9, "the prompt in Chinese has no result", before)
        contexts = [b for b in final.args.get("blocks", []) if b.get("type") == "context"]
        said = " ".join(str(e.get("text", "")) for b in contexts for e in b.get("elements", []))
        translating = os.environ.get("TRANSLATE_PROMPTS", "off") != "off"
        if translating and "translated from Chinese" not in said:
            raise self.failed(9, "the prompt in Chinese was not drawn from its English", before)

    # ---- as Slack does it ---------------------------------------------------------------------

    def click(self, step: int, where: Where, label: str) -> int:
        """A click by the requester on the button labelled ``label`` of the message at ``where``,
        as Slack holds it: the block_actions payload echoes that button back."""
        from bot.local.signing import click_body

        message = self.message(step, where)
        buttons = {
            element.get("text", {}).get("text"): (block["block_id"], element["action_id"])
            for block in reversed(message.get("blocks", []))
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        }
        # The result's own button, else image 1's (the image operations are on each image's row).
        found = [buttons[name] for name in (label, f"{label} 1") if name in buttons]
        if not found:
            raise _StepFailed(step, f"the message has no {label} button")
        block_id, action_id = found[0]
        self.clicks += 1
        body = click_body(
            message,
            where[0],
            where[1],
            action_id=action_id,
            block_id=block_id,
            response_url=self.recorder.response_url(f"demo-click-{self.clicks}"),
            trigger_id=self.recorder.trigger_id(),
        )
        status, _ = post_signed(self.app_url, self.secret, body)
        if status != 200:
            raise _StepFailed(step, f"the click was answered HTTP {status}")
        return status

    def message(self, step: int, where: Where) -> dict[str, Any]:
        message = self.recorder.message(*where)
        if message is None:
            raise _StepFailed(step, f"Slack has no message {where[1]} in {where[0]}")
        return message

    def calls_since(self, before: int) -> list[Call]:
        return self.recorder.snapshot()[before:]

    def failed(self, step: int, why: str, before: int) -> _StepFailed:
        """``why``, with what the bot told the person since ``before`` (a refusal says why)."""
        said = [
            str(c.args.get("text", ""))
            for c in self.calls_since(before)
            if c.method in ("chat.postEphemeral", "response_url") and c.ok and c.args.get("text")
        ]
        return _StepFailed(step, f"{why} (the bot said: {said[-1]})" if said else why)

    def work(self, done: Callable[[], bool]) -> bool:
        """Run the worker on its queues in turn until ``done()``, or until they are empty. Each
        queue is emptied before the next: an empty one costs a long poll, whereas tasks left by
        earlier steps (a job's "queued" message...) are many small ones."""
        while True:
            handled = 0
            for poller in self.sources.pollers:
                while count := poller.poll_once():
                    handled += count
                    if done():
                        return True
            if not handled:
                return done()

    def work_into_thread(self, step: int, before: int, root: Where) -> Where:
        """Run the worker until a new result (images and buttons) is in ``root``'s thread."""

        def landed() -> Where | None:
            calls = [c for c in self.calls_since(before) if c.ok]
            if not any(c.method == "chat.postMessage" and c.args.get("thread_ts") == root[1] for c in calls):
                return None
            for call in reversed(calls):
                where = (str(call.args.get("channel")), str(call.args.get("ts")))
                if call.method == "chat.update" and where[1] != root[1] and image_links(call.args):
                    job = _job_on(call.args)
                    if job is not None and job.thread_ts == root[1]:
                        return where
            return None

        self.work(lambda: landed() is not None)
        reply = landed()
        if reply is None:
            raise self.failed(step, "no result landed in the thread", before)
        return reply


def _labels(message: dict[str, Any]) -> list[str]:
    return [
        e.get("text", {}).get("text", "")
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def _headline(message: dict[str, Any]) -> tuple[str, str]:
    """A message's text and its first context line."""
    context = [b["elements"][0]["text"] for b in message.get("blocks", []) if b.get("type") == "context"]
    return str(message.get("text", "")), context[0] if context else ""


def _permalinks(message: dict[str, Any]) -> list[str]:
    """The https links in a message's context lines, as mrkdwn writes them (``<url|label>``)."""
    texts = [e.get("text", "") for b in message.get("blocks", []) if b.get("type") == "context"
             for e in b.get("elements", [])]  # fmt: skip
    return [link.replace("&amp;", "&") for text in texts for link in re.findall(r"<(https://[^|>]+)\|", text)]


def _job_id_on(message: dict[str, Any]) -> str:
    """The job id a result's buttons carry (their only value)."""
    values = {e.get("value", "") for b in message.get("blocks", []) if b.get("type") == "actions"
              for e in b.get("elements", [])}  # fmt: skip
    return values.pop() if len(values) == 1 else ""


def _job_on(message: dict[str, Any]) -> Job | None:
    """The job record behind a result, as the bot keeps it (where it went, what it was asked)."""
    from bot.services import process_services as services

    job_id = _job_id_on(message)
    found = services().store.find(job_id) if job_id else None
    return found[0] if found else None


def _time_went(message: dict[str, Any]) -> str:
    """The job's timings as its record keeps them (the worker's, as its trace has them)."""
    from bot.services import process_services as services

    job_id = _job_id_on(message)
    found = services().store.find(job_id) if job_id else None
    timings = found[1].timings if found else {}
    steps = ("queued", "rendering", "checking", "storing", "posting")
    return (
        " · ".join(f"{step} {timings[step] * 1000:.0f} ms" for step in steps if step in timings)
        or "not recorded"
    )


def _status_of(link: str) -> int:
    """The HTTP status a stable link answers now, as a browser opening it sees it."""
    try:
        with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - our own loopback URL
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
