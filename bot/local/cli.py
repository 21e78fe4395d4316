"""``imagine-bot``: the local stack's command line.

imagine-bot demo [PROMPT...]     the whole path on the local stack: /imagine, its result and
                                 buttons, Re-roll, Upscale, Vary (Subtle), a mention in the thread,
                                 Share, Delete; then, in a terminal, the playground until Ctrl-C
imagine-bot run [--port N]       the stack as a local server, with the playground at / (a Slack
                                 channel in the browser), until Ctrl-C (port: PORT, else 3000);
                                 --workspaces: installed with "Add to Slack", in two workspaces
imagine-bot send PROMPT...       a signed /imagine to the server `run` started
imagine-bot dev                  your own Slack workspace over Socket Mode, on the local stack
imagine-bot cost --images-per-day N   what each backend costs a month at that volume, and break-evens
imagine-bot sweep                the asynchronous backend's sweep, once (it also runs every 5 minutes)
imagine-bot provision            create bucket, queues and table where AWS settings point
imagine-bot doctor [--stack NAME] check a live deployment against Slack and AWS, one line a check
imagine-bot status [--stack NAME] [--hours 24]  what happened: images, time to image, failures,
                                 jobs waiting, dead letters, the model, an estimated cost (read-only)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from bot.local.client import OUT, STATE, interrupt, send_to_server
from bot.local.demo import run_demo
from bot.ops import cost


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
                  "imagine-bot run", "imagine-bot run --port 8080",
                  "imagine-bot run --workspaces")  # fmt: skip
    # A string default goes through type= too, so a bad PORT gets argparse's one-line error.
    run.add_argument(
        "--port", type=_port, default=os.environ.get("PORT") or "3000", help="default: PORT or 3000"
    )
    run.add_argument("--workspaces", action="store_true",
                     help='installed per workspace with "Add to Slack": the playground has two workspaces, '
                     "each installed through the OAuth flow")  # fmt: skip
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
    status = command("status", "what a deployment did: images, time to image, failures, waiting and "
                     "dead-lettered jobs, the model, an estimated cost (read-only)",
                     "imagine-bot status --stack imagine",
                     "imagine-bot status --stack imagine --hours 168")  # fmt: skip
    status.add_argument(
        "--stack", default="", help="the deployed stack's name (else the environment's settings)"
    )
    status.add_argument("--hours", type=int, default=24, choices=range(1, 24 * 63 + 1), metavar="HOURS",
                        help="the period, ending now (default 24; up to 63 days)")  # fmt: skip
    args = parser.parse_args(argv)
    _quiet_logs(verbose=args.command == "run", metrics=args.command != "demo")
    commands = {
        "demo": run_demo,
        "run": _run,
        "send": send_to_server,
        "dev": _dev,
        "provision": _provision,
        "manifest": _manifest,
        "redrive": _redrive,
        "sweep": _sweep,
        "cost": cost.run,
        "doctor": _doctor,
        "status": _status,
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
    stack = LocalStack(per_workspace=args.workspaces)
    stack.start(public_base_url=os.environ.get("PUBLIC_BASE_URL", server.url))
    server.ready(playground_for(server.url, stack.recorder, per_workspace=stack.per_workspace))
    if server.playground is not None:  # with a real workspace, Slack itself shows what the bot does
        print(f"open {server.url}/   the playground: #general with the bot in it, as your team would see it")
        if stack.per_workspace:
            print('             two workspaces, each with its "Add to Slack" link (the OAuth flow)')
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
    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        poller.run_forever()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        STATE.unlink(missing_ok=True)
        stack.stop()
        server.stop()
    return 0


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


def _status(args: argparse.Namespace) -> int:
    from bot.ops.status import run

    return run(stack=args.stack, hours=args.hours)


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
