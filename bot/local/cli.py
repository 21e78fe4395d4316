"""``imagine-bot``: the local stack's command line.

imagine-bot demo [PROMPT...]     the whole path on the local stack: /imagine, its result and
                                 buttons, Re-roll, a mention in the thread, Share, Delete; then, in
                                 a terminal, the playground until Ctrl-C (else it exits)
imagine-bot run [--port N]       the stack as a local server, with the playground at / (a Slack
                                 channel in the browser), until Ctrl-C (port: PORT, else 3000)
imagine-bot send PROMPT...       a signed /imagine to the server `run` started
imagine-bot dev                  your own Slack workspace over Socket Mode, on the local stack
imagine-bot cost --images-per-day N   what each backend costs a month at that volume, and break-evens
imagine-bot sweep                the asynchronous backend's sweep, once (it also runs every 5 minutes)
imagine-bot provision            create bucket, queues and table where AWS settings point
imagine-bot doctor [--stack NAME] check a live deployment against Slack and AWS, one line a check
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ops import cost

if TYPE_CHECKING:
    from bot.local.poller import EventSources
    from bot.local.slack.recorder import Call, SlackRecorder
    from bot.model.job import Job

OUT = Path("imagine-out")
STATE = OUT / "local.json"  # where `run` tells `send` its address and signing secret
DEFAULT_PROMPT = "a cyborg tiger in neon rain --ar 16:9"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imagine-bot",
        description="The imagine Slack bot, locally, and the operator's commands for a deployment.",
        epilog="examples:\n  imagine-bot demo a cyborg tiger --ar 16:9\n"
        "  imagine-bot doctor --stack imagine\nthe manual: docs/ (README.md's table of contents)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, *examples: str) -> argparse.ArgumentParser:
        """A subcommand whose --help ends with its examples (each a whole command line)."""
        epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)
        raw = argparse.RawDescriptionHelpFormatter
        return sub.add_parser(name, help=help, epilog=epilog, formatter_class=raw)

    demo = command("demo", "walk the whole path, /imagine to Delete, on the local stack",
                   "imagine-bot demo", "imagine-bot demo a lighthouse in a storm --ar 2:3 --n 2")  # fmt: skip
    demo.add_argument("prompt", nargs=argparse.REMAINDER)
    run = command("run", "serve /slack/events and /images/ on 127.0.0.1 until Ctrl-C",
                  "imagine-bot run", "imagine-bot run --port 8080")  # fmt: skip
    # A string default goes through type= too, so a bad PORT gets argparse's one-line error.
    run.add_argument(
        "--port", type=_port, default=os.environ.get("PORT") or "3000", help="default: PORT or 3000"
    )
    send = command("send", "send a signed /imagine to the server that `run` started",
                   "imagine-bot send a paper crane --ar 3:2",
                   "imagine-bot send --wait 60 a lighthouse --n 4")  # fmt: skip
    send.add_argument("prompt", nargs=argparse.REMAINDER)
    send.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the result")
    command("dev", "run the bot in your Slack workspace over Socket Mode (SLACK_APP_TOKEN, SLACK_BOT_TOKEN)",
            "imagine-bot dev      (the tokens in .env)",
            "SLACK_APP_TOKEN=xapp-... SLACK_BOT_TOKEN=xoxb-... imagine-bot dev")  # fmt: skip
    command("provision", "create the bucket, queues and table the settings name",
            "AWS_ENDPOINT_URL=http://127.0.0.1:5000 imagine-bot provision")  # fmt: skip
    manifest = command("manifest", "write the Slack app manifest with the request URL filled in",
                       "imagine-bot manifest --stack imagine", "imagine-bot manifest --socket-mode",
                       "imagine-bot manifest --url https://abc.execute-api.eu-west-1.amazonaws.com/slack/events",
                       )  # fmt: skip
    source = manifest.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the stack's SlackRequestUrl output")
    source.add_argument("--stack", help="read SlackRequestUrl from this deployed stack")
    source.add_argument(
        "--socket-mode", action="store_true", help="for `make dev`: Socket Mode on, no request URLs"
    )
    command("sweep", "sagemaker-async: post answers whose notification was lost, give up overdue jobs",
            "imagine-bot sweep      (with the worker's settings in the environment)")  # fmt: skip
    redrive = command("redrive", "move dead-lettered jobs back to the jobs queue, to run again",
                      "imagine-bot redrive --stack imagine",
                      "imagine-bot redrive --queue-url URL --dead-letter-queue-url URL")  # fmt: skip
    redrive.add_argument("--queue-url", default=os.environ.get("JOBS_QUEUE_URL", ""))
    redrive.add_argument("--dead-letter-queue-url", default=os.environ.get("DEAD_LETTER_QUEUE_URL", ""))
    redrive.add_argument("--stack", help="read both queue URLs from this deployed stack's outputs")
    cost.add_parser(sub)
    doctor = sub.add_parser(
        "doctor",
        help="check a live deployment against Slack and AWS, one line a check (read-only)",
        description="Check a deployment: the Slack secret, token and scopes, Slack's request URL "
        "(with SLACK_APP_CONFIG_TOKEN and --app-id), the endpoint or Bedrock model, the queues and "
        "the image links. Exits 1 when a check fails. Reads the environment's settings when no "
        "stack is named.",
        epilog="examples:\n  imagine-bot doctor --stack imagine\n"
        "  SLACK_APP_CONFIG_TOKEN=xoxe... imagine-bot doctor --stack imagine --app-id A0123456789",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("--stack", default="", help="the deployed stack's name (make deploy's: imagine)")
    doctor.add_argument("--app-id", default="", help="the Slack app's id (A0...), for the request URL check")
    args = parser.parse_args(argv)
    _quiet_logs(verbose=args.command == "run", metrics=args.command != "demo")
    commands = {
        "demo": _demo,
        "run": _run,
        "send": _send,
        "dev": _dev,
        "provision": _provision,
        "manifest": _manifest,
        "redrive": _redrive,
        "sweep": _sweep,
        "cost": cost.run,
        "doctor": _doctor,
    }
    return commands[args.command](args)


def _port(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and int(raw) <= 65535):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number (0 to 65535)")
    return int(raw)


def _quiet_logs(*, verbose: bool, metrics: bool) -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    if not verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    if not metrics:
        # The handlers' CloudWatch metrics are EMF JSON lines on stdout; Powertools' documented
        # switch keeps them out of the demo's output.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def _demo(args: argparse.Namespace) -> int:
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
        signal.signal(signal.SIGTERM, _interrupt)
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
    status, ack = _post_command(app_url, os.environ["SLACK_SIGNING_SECRET"], prompt, "")
    print(f"\n/imagine {prompt}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
    if status != 200 or not ack.get("text", "").startswith("Queued"):
        return 1
    sources.drain()
    print("posted to the real Slack workspace; see the channel")
    return 0


# What `make demo` walks through, in this order (issue: "make demo shows the whole path").
DEMO_STEPS = ("command", "result with buttons", "re-roll", "mention", "share", "delete")
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
        self.mention(root, reroll)
        self.share(root, reroll)
        self.delete(root, links)

    # ---- the steps ----------------------------------------------------------------------------

    def command(self, prompt: str) -> tuple[Where, list[str]]:
        """Steps 1 and 2: /imagine, then its result in the channel with its buttons."""
        before = len(self.recorder.snapshot())
        response_url = self.recorder.response_url()
        status, ack = _post_command(self.app_url, self.secret, prompt, response_url)
        print(f"\n/imagine {prompt}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
        if status != 200 or not ack.get("text", "").startswith("Queued"):
            raise _StepFailed(1, "the command was not queued")
        self.work(lambda: _final(self.calls_since(before), images=True) is not None)
        final = _final(self.calls_since(before))
        if final is None:
            raise _StepFailed(2, "no message was posted")
        links = _show_message(final, self.recorder.image_fetches)
        if not links:
            raise _StepFailed(2, "the result has no images")
        if final.method != "chat.update":
            raise _StepFailed(2, f"the result is not a message in the channel ({final.method})")
        root = (str(final.args["channel"]), str(final.args["ts"]))
        missing = {"Re-roll", "Share", "Delete"} - set(_labels(self.message(2, root)))
        if missing:
            raise _StepFailed(2, f"the result has no {', '.join(sorted(missing))} button")
        return root, links

    def reroll(self, root: Where) -> Where:
        """Step 3: Re-roll on the result; a new render lands in its thread."""
        before = len(self.recorder.snapshot())
        status = self.click(3, root, "Re-roll")
        reply = self.work_into_thread(3, before, root)
        text, context = _headline(self.message(3, reply))
        print(f"\nclick Re-roll -> HTTP {status}; in the thread (chat.update): {text}\n  {context}")
        return reply

    def mention(self, root: Where, newest: Where) -> None:
        """Step 4: @imagine in the thread refines its newest result (the re-roll)."""
        from bot.local.signing import JSON, app_mention, event_body

        before = len(self.recorder.snapshot())
        body = event_body(app_mention(REFINEMENT, channel_id=root[0], thread_ts=root[1]))
        status, _ = _post_signed(self.app_url, self.secret, body, JSON)
        refined = self.work_into_thread(4, before, root)
        job = _job_on(self.message(4, refined))
        request = job.request if job else None
        if job is None or request is None or job.parent_job_id != _job_id_on(self.message(4, newest)):
            raise _StepFailed(4, "the refinement did not start from the thread's newest result")
        if request.aspect != "9:16" or not request.prompt.endswith("at sunset"):
            raise _StepFailed(4, f"the refined request is {request.prompt!r} at {request.aspect}")
        text, context = _headline(self.message(4, refined))
        print(f"\n@imagine {REFINEMENT} (in the thread) -> HTTP {status}; in the thread: {text}\n  {context}")

    def share(self, root: Where, reply: Where) -> None:
        """Step 5: Share on the re-roll in the thread posts it in the channel, linking back."""
        before = len(self.recorder.snapshot())
        status = self.click(5, reply, "Share")

        def shared() -> Call | None:
            posts = [c for c in self.calls_since(before) if c.method == "chat.postMessage" and c.ok]
            return next(
                (c for c in posts if c.args.get("channel") == root[0] and not c.args.get("thread_ts")), None
            )

        self.work(lambda: shared() is not None)
        post = shared()
        if post is None:
            raise self.failed(5, "nothing was posted in the channel", before)
        if _image_links(post.args) != _image_links(self.message(5, reply)):
            raise _StepFailed(5, "the channel got other images than the re-roll's")
        # A permalink names the message's ts without its dot, with ?thread_ts= for a thread reply
        # (api.slack.com/methods/chat.getPermalink).
        back = _permalinks(post.args)
        if not any(reply[1].replace(".", "") in link for link in back):
            raise _StepFailed(5, "the shared message has no permalink back to the re-roll")
        print(f"\nclick Share on the re-roll -> HTTP {status}; in the channel (chat.postMessage): "
              f"{post.args.get('text')}\n  links back: {back[0]}")  # fmt: skip

    def delete(self, root: Where, links: list[str]) -> None:
        """Step 6: Delete on the first result, by its requester; its links then answer 410 Gone."""
        before = len(self.recorder.snapshot())
        # The button's confirmation dialog asks first; this is the click its "Delete" sends
        # (docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
        status = self.click(6, root, "Delete")

        def deleted() -> bool:
            return any(
                c.method == "chat.delete" and c.ok and (c.args.get("channel"), c.args.get("ts")) == root
                for c in self.calls_since(before)
            )

        self.work(deleted)
        if not deleted() or self.recorder.message(*root) is not None:
            raise self.failed(6, "the message is still in the channel", before)
        print(f"\nclick Delete on the first result -> HTTP {status}; gone from the channel (chat.delete)")
        for link in links:
            code = _status_of(link)
            print(f"  GET {link} -> {code} {HTTPStatus(code).phrase}")
            if code != HTTPStatus.GONE:
                raise _StepFailed(6, f"its link answers {code}, not 410")

    # ---- as Slack does it ---------------------------------------------------------------------

    def click(self, step: int, where: Where, label: str) -> int:
        """A click by the requester on the button labelled ``label`` of the message at ``where``,
        as Slack holds it: the block_actions payload echoes that button back."""
        from bot.local.signing import click_body

        message = self.message(step, where)
        found = [
            (block["block_id"], element["action_id"])
            for block in message.get("blocks", [])
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("text", {}).get("text") == label
        ]
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
        status, _ = _post_signed(self.app_url, self.secret, body)
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
                if call.method == "chat.update" and where[1] != root[1] and _image_links(call.args):
                    job = _job_on(call.args)
                    if job is not None and job.thread_ts == root[1]:
                        return where
            return None

        self.work(lambda: landed() is not None)
        reply = landed()
        if reply is None:
            raise self.failed(step, "no result landed in the thread", before)
        return reply


def _final(calls: Sequence[Call], *, images: bool = False) -> Call | None:
    """The last message the bot posted or updated that Slack accepted, preferring a result's."""
    final = [c for c in calls if c.method in ("chat.update", "response_url") and c.ok]
    with_images = [c for c in final if _image_links(c.args)]
    if images or with_images:
        return with_images[-1] if with_images else None
    return final[-1] if final else None


def _image_links(message: dict[str, Any]) -> list[str]:
    return [b["image_url"] for b in message.get("blocks", []) if b.get("type") == "image"]


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


def _status_of(link: str) -> int:
    """The HTTP status a stable link answers now, as a browser opening it sees it."""
    try:
        with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - our own loopback URL
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _show_result(calls: list[Any], fetches: Sequence[Any] = ()) -> int:
    # Only what Slack would have accepted: the recorder refuses what Slack refuses.
    final = _final(calls)
    if final is None:
        print("no message was posted", file=sys.stderr)
        return 1
    return 0 if _show_message(final, fetches) else 1


def _show_message(final: Call, fetches: Sequence[Any] = ()) -> list[str]:
    """Print a posted message, its buttons and its images (each saved under imagine-out/); the
    image links."""
    message = final.args
    print(f"\nthe bot posted ({final.method}): {message.get('text')}")
    links = _image_links(message)
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
        jpeg, opened = _open_link(link)
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


def _open_link(link: str) -> tuple[bytes, str]:
    """Fetch a stable link as a browser would, following the redirect to the presigned URL."""
    with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - our own loopback URL
        return response.read(), response.geturl()


def _run(args: argparse.Namespace) -> int:
    from bot.local.playground import playground_for
    from bot.local.poller import EventSources
    from bot.local.server import LocalServer
    from bot.local.stack import LocalStack
    from bot.services import process_services as services

    try:
        server = LocalServer(args.port).start()
    except OSError as error:  # taken, or not ours to use: one line, no traceback
        print(
            f"port {args.port} on 127.0.0.1 is not available ({error.strerror}): "
            "choose another with `make run PORT=8080` (or `imagine-bot run --port 8080`)",
            file=sys.stderr,
        )
        return 1
    stack = LocalStack().start(public_base_url=os.environ.get("PUBLIC_BASE_URL", server.url))
    server.ready(playground_for(server.url, stack.recorder))
    if server.playground is not None:  # with a real workspace, Slack itself shows what the bot does
        print(f"open {server.url}/   the playground: #general with the bot in it, as your team would see it")
    OUT.mkdir(exist_ok=True)
    state = {
        "url": server.url,
        "signing_secret": os.environ["SLACK_SIGNING_SECRET"],
        "recorder": stack.recorder.url if stack.recorder else "",
    }
    STATE.write_text(json.dumps(state))
    STATE.chmod(0o600)
    print(f"imagine is listening on {server.url}/slack/events and {server.url}/images/")
    print("try: imagine-bot send a cyborg tiger --ar 16:9     (Ctrl-C stops)")
    # Both queues, in turn: a long poll on each would make a task wait out the jobs queue's.
    poller = EventSources.of(services(), wait_seconds=1)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        poller.run_forever()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        STATE.unlink(missing_ok=True)
        stack.stop()
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


NO_SERVER = "start one with `make run` (or `imagine-bot run`)"


def _send(args: argparse.Namespace) -> int:
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
    status, ack = _post_command(state["url"], state["signing_secret"], prompt, response_url)
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
            return _show_result(calls)
        time.sleep(0.3)
    print("no result yet; the server's window shows what happened", file=sys.stderr)
    return 1


def _recorded(recorder: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(recorder, timeout=5) as response:  # noqa: S310 - loopback recorder
        calls: list[dict[str, Any]] = json.loads(response.read())
        return calls


def _post_command(app_url: str, secret: str, prompt: str, response_url: str) -> tuple[int, dict[str, Any]]:
    from bot.local.signing import command_body

    return _post_signed(app_url, secret, command_body(prompt, response_url=response_url))


def _post_signed(app_url: str, secret: str, body: str, content_type: str = "") -> tuple[int, dict[str, Any]]:
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


def _dev(args: argparse.Namespace) -> int:
    from bot.local.dev import run_dev

    return run_dev()


def _provision(args: argparse.Namespace) -> int:
    from bot.local.provision import provision
    from bot.services import process_services as services

    if not (os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("JOBS_QUEUE_URL")):
        print("set AWS_ENDPOINT_URL (or JOBS_QUEUE_URL and AWS credentials) first", file=sys.stderr)
        return 1
    for name, value in {
        "SLACK_SIGNING_SECRET": "-",
        "SLACK_BOT_TOKEN": "-",
        "LINK_SECRET": "-",
    }.items():
        os.environ.setdefault(name, value)  # provisioning reads no secret; these only satisfy Settings
    from bot.local.stack import aws_defaults

    aws_defaults(os.environ)
    result = provision(services())
    print(json.dumps(result.__dict__, indent=2))
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from bot.local.manifest import filled, socket_mode, stack_request_url

    try:
        text = socket_mode() if args.socket_mode else filled(args.url or stack_request_url(args.stack))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    (OUT / "manifest.yml").write_text(text)
    print(text)
    print(f"# written to {OUT / 'manifest.yml'}: paste it at https://api.slack.com/apps", file=sys.stderr)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """One sweep of the stack the environment names (its settings as the notifier's), printing
    what became of each waiting job."""
    from bot.config.env import SettingsError
    from bot.services import process_services as services
    from bot.worker.async_answers import sweep

    try:
        swept_jobs = sweep(services())
    except SettingsError as error:  # one sentence, as the other commands say it
        print(f"imagine-bot sweep: {error} (the sweep reads the notifier's settings)", file=sys.stderr)
        return 1
    for swept in swept_jobs:
        print(f"{swept.job_id}  {swept.outcome}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from bot.ops.doctor import run

    return run(stack=args.stack, app_id=args.app_id)


def _redrive(args: argparse.Namespace) -> int:
    import boto3

    from bot.ops.redrive import redrive

    queue_url, dead_letter_queue_url = args.queue_url, args.dead_letter_queue_url
    if args.stack:
        from bot.local.manifest import stack_outputs

        outputs = stack_outputs(args.stack)
        queue_url, dead_letter_queue_url = outputs["JobsQueueUrl"], outputs["JobsDeadLetterQueueUrl"]
    if not (queue_url and dead_letter_queue_url):
        print("give --queue-url and --dead-letter-queue-url, or --stack NAME", file=sys.stderr)
        return 1
    moved = redrive(boto3.client("sqs"), dead_letter_queue_url, queue_url)
    for name, reason in moved:
        print(f"{name}: back in the queue (it had failed: {reason})")
    print(f"{len(moved)} job(s) redriven")
    return 0


if __name__ == "__main__":
    sys.exit(main())
