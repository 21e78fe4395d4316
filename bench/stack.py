"""Servers for the benchmarks, each in its own process so they do not share the measured
process's interpreter: moto's server for S3/SQS/DynamoDB, the Slack recorder, and
``http_handler`` serving the image links the recorder downloads, as Slack would."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

SIGNING_SECRET = "bench-signing-secret"
RECORDER = (
    "from bot.local.slack.recorder import SlackRecorder; import sys, time; "
    "SlackRecorder().start(int(sys.argv[1])); time.sleep(86400)"
)
# moto's DynamoDB served one request at a time: its TransactWriteItems deep-copies every table it
# touches (for its rollback) while other threads write to them, and under concurrent commands it
# answers HTTP 500 "dictionary changed size during iteration" (moto 5.2,
# moto/dynamodb/models/__init__.py transact_write_items), which DynamoDB never does.
DYNAMODB = (
    "import gc; gc.disable(); "  # as MOTO below
    "from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, "
    "create_backend_app; from werkzeug.serving import run_simple; import sys; "
    "run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), "
    "threaded=False, request_handler=MotoRequestHandler)"
)
# moto's server with its cyclic garbage collector off. Its heap grows with every item the run
# stores, and each full collection then pauses it for longer (measured: 150 ms at 6 s into a run,
# 680 ms at 39 s, one pause every few seconds), landing on whichever request is in flight: the
# p99s of two kinds measured side by side then say which kind drew the pauses. DynamoDB and SQS
# pause no client that way; reference counting still frees what a request leaves behind.
MOTO = "import gc, sys; gc.disable(); from moto.server import main; main(sys.argv[1:])"
APP_SERVER = (
    "from bot.local.server import LocalServer; import sys, time; "
    "LocalServer(int(sys.argv[1])).start().ready(); time.sleep(86400)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, process: subprocess.Popen[bytes], statuses: tuple[int, ...] = ()) -> None:
    """Until ``url`` answers 2xx (or one of ``statuses``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError as error:
            if error.code in statuses:
                return
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@contextmanager
def servers(placeholder_delay: float = 0.0, *, dynamodb_apart: bool = False) -> Iterator[dict[str, str]]:
    """Start moto and the recorder, provision, and yield the environment that points at them.

    ``dynamodb_apart``: DynamoDB from a moto server of its own that answers one request at a
    time (see DYNAMODB), for benchmarks whose commands reach it concurrently."""
    moto_port, slack_port, app_port = free_port(), free_port(), free_port()
    moto = subprocess.Popen(
        [sys.executable, "-c", MOTO, "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    slack = subprocess.Popen([sys.executable, "-c", RECORDER, str(slack_port)])
    dynamodb_port = free_port()
    dynamodb: subprocess.Popen[bytes] | None = None
    if dynamodb_apart:
        dynamodb = subprocess.Popen(
            [sys.executable, "-c", DYNAMODB, str(dynamodb_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    app: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(f"http://127.0.0.1:{moto_port}/moto-api/", moto)
        _wait_for(f"http://127.0.0.1:{slack_port}/", slack)
        if dynamodb:
            _wait_for(f"http://127.0.0.1:{dynamodb_port}/moto-api/", dynamodb)
        suffix = secrets.token_hex(3)
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "JOBS_QUEUE_URL": f"http://127.0.0.1:{moto_port}/123456789012/jobs-{suffix}",
            "TASKS_QUEUE_URL": f"http://127.0.0.1:{moto_port}/123456789012/tasks-{suffix}",
            "JOBS_TABLE": f"jobs-{suffix}",
            "IMAGES_BUCKET": f"images-{suffix}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{app_port}",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
            "LINK_SECRET": secrets.token_hex(16),
            "IMAGE_BACKEND": "placeholder",
            "PLACEHOLDER_DELAY_SECONDS": str(placeholder_delay),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            # Quotas high enough never to refuse, so every command is counted and queued.
            "DAILY_IMAGES_PER_USER": "1000000",
            "DAILY_IMAGES_PER_WORKSPACE": "10000000",
        }
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # an earlier run's
        if dynamodb:  # every AWS client honours the service's own endpoint setting
            env["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{dynamodb_port}"
        os.environ.update(env)
        from bot.local.provision import provision
        from bot.services import process_services, reset_process_services

        reset_process_services()
        provisioned = provision(process_services())
        env["JOBS_QUEUE_URL"] = provisioned.queue_url
        env["TASKS_QUEUE_URL"] = provisioned.tasks_queue_url
        os.environ.update(env)
        reset_process_services()
        app = subprocess.Popen([sys.executable, "-c", APP_SERVER, str(app_port)])
        _wait_for(f"http://127.0.0.1:{app_port}/", app, statuses=(404,))
        yield env
    finally:
        for process in (moto, slack, *([app] if app else []), *([dynamodb] if dynamodb else [])):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
