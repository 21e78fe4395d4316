"""``imagine-bot``: the local stack's command line.

imagine-bot demo [PROMPT...]     one signed /imagine end to end, then exit
imagine-bot run [--port N]       the stack as a local server until Ctrl-C (port: PORT, else 3000)
imagine-bot send PROMPT...       a signed /imagine to the server `run` started
imagine-bot provision            create bucket, queues and table where AWS settings point
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUT = Path("imagine-out")
STATE = OUT / "local.json"  # where `run` tells `send` its address and signing secret
DEFAULT_PROMPT = "a cyborg tiger in neon rain --ar 16:9"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagine-bot", description="The imagine Slack bot, locally.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run one signed /imagine end to end on the local stack")
    demo.add_argument("prompt", nargs=argparse.REMAINDER)
    run = sub.add_parser("run", help="serve /slack/events and /images/ on 127.0.0.1 until Ctrl-C")
    # A string default goes through type= too, so a bad PORT gets argparse's one-line error.
    run.add_argument(
        "--port", type=_port, default=os.environ.get("PORT") or "3000", help="default: PORT or 3000"
    )
    send = sub.add_parser("send", help="send a signed /imagine to the server that `run` started")
    send.add_argument("prompt", nargs=argparse.REMAINDER)
    send.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the result")
    sub.add_parser("provision", help="create the bucket, queues and table the settings name")
    manifest = sub.add_parser("manifest", help="write the Slack app manifest with the request URL filled in")
    source = manifest.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the stack's SlackRequestUrl output")
    source.add_argument("--stack", help="read SlackRequestUrl from this deployed stack")
    redrive = sub.add_parser("redrive", help="move dead-lettered jobs back to the jobs queue, to run again")
    redrive.add_argument("--queue-url", default=os.environ.get("JOBS_QUEUE_URL", ""))
    redrive.add_argument("--dead-letter-queue-url", default=os.environ.get("DEAD_LETTER_QUEUE_URL", ""))
    redrive.add_argument("--stack", help="read both queue URLs from this deployed stack's outputs")
    args = parser.parse_args(argv)
    _quiet_logs(verbose=args.command == "run", metrics=args.command != "demo")
    commands = {
        "demo": _demo,
        "run": _run,
        "send": _send,
        "provision": _provision,
        "manifest": _manifest,
        "redrive": _redrive,
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
    from bot.handlers import services
    from bot.local.poller import EventSources
    from bot.local.server import LocalServer
    from bot.local.stack import LocalStack

    prompt = " ".join(args.prompt) or DEFAULT_PROMPT
    server = LocalServer().start()
    stack = LocalStack().start(public_base_url=server.url)
    server.ready()
    try:
        print(f"local stack: AWS at {os.environ['AWS_ENDPOINT_URL']}, app at {server.url}")
        response_url = stack.recorder.response_url() if stack.recorder else ""
        status, ack = _post_command(server.url, os.environ["SLACK_SIGNING_SECRET"], prompt, response_url)
        print(f"\n/imagine {prompt}\n-> HTTP {status}, ephemeral: {ack.get('text', ack)}")
        if status != 200 or not ack.get("text", "").startswith("Queued"):
            return 1
        EventSources.of(services()).drain()  # the jobs queue and the tasks queue, as Lambda polls them
        if stack.recorder is None:
            print("posted to the real Slack workspace; see the channel")
            return 0
        return _show_result(stack.recorder.snapshot(), stack.recorder.image_fetches)
    finally:
        stack.stop()
        server.stop()


def _show_result(calls: list[Any], fetches: Sequence[Any] = ()) -> int:
    # Only what Slack would have accepted: the recorder refuses what Slack refuses.
    final = [c for c in calls if c.method in ("chat.update", "response_url") and c.ok]
    if not final:
        print("no message was posted", file=sys.stderr)
        return 1
    message = final[-1].args
    print(f"\nthe bot posted ({final[-1].method}): {message.get('text')}")
    links = [b["image_url"] for b in message.get("blocks", []) if b.get("type") == "image"]
    for block in message.get("blocks", []):
        if block.get("type") == "context":
            print(f"  {block['elements'][0]['text']}")
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
    return 0 if links else 1


def _open_link(link: str) -> tuple[bytes, str]:
    """Fetch a stable link as a browser would, following the redirect to the presigned URL."""
    with urllib.request.urlopen(link, timeout=10) as response:  # noqa: S310 - our own loopback URL
        return response.read(), response.geturl()


def _run(args: argparse.Namespace) -> int:
    from bot.handlers import services
    from bot.local.poller import EventSources
    from bot.local.server import LocalServer
    from bot.local.stack import LocalStack

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
    server.ready()
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
    from bot.local.slack_recorder import Call

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
    from bot.local.signing import command_body, signed_headers

    body = command_body(prompt, response_url=response_url)
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{app_url}/slack/events", data=body.encode(), headers=signed_headers(secret, body), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, {"text": error.read().decode("utf-8", "replace")}


def _provision(args: argparse.Namespace) -> int:
    from bot.handlers import services
    from bot.local.provision import provision

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
    from bot.local.manifest import filled, stack_request_url

    url = args.url or stack_request_url(args.stack)
    try:
        text = filled(url)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    (OUT / "manifest.yml").write_text(text)
    print(text)
    print(f"# written to {OUT / 'manifest.yml'}: paste it at https://api.slack.com/apps", file=sys.stderr)
    return 0


def _redrive(args: argparse.Namespace) -> int:
    import boto3

    from bot.worker import redrive

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
