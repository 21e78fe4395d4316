"""A burst of signed /imagine commands through the local stack, drained by the worker lanes.

    .venv/bin/python -m bench.run_all --only burst      (part of `make bench`)

Senders (processes, as concurrent http functions) send COMMANDS signed commands into
``http_handler`` within SPAN_SECONDS, spread over many users and channels of one workspace. Job
workers (N processes, as the jobs queue's event source invokes at most MaximumConcurrency =
MaxConcurrentRenders workers at once, each with the template's batch size) render them with the
placeholder backend delayed to imitate GPU time; one poller drains the tasks queue (the "queued,
N ahead" messages), as bot/local/poller.py does. Every process is a fresh interpreter, as each
Lambda execution environment is.

Required, or the run fails saying what: every command acknowledged within Slack's 3 seconds
with a "Queued" answer, none lost (the Slack recorder got exactly one result message with images
per command) and none duplicated (one render and one result post per command).

Reported: the drain time (first command sent to last result posted) against the ideal
``ceil(COMMANDS / N) * delay``, the acknowledgement latency during the burst, and the peak RSS
of each kind of process.

The local stack's moto answers every TransactWriteItems (the quota check of each command) after
copying the whole jobs table, so acknowledgements slow down as the burst fills it: on a small
machine the commands go out over more than SPAN_SECONDS, which ``sent_within_s`` shows.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

COMMANDS = 500
SPAN_SECONDS = 10.0
DELAY_SECONDS = 0.5  # the placeholder's stand-in for GPU time per render
USERS = 100  # 5 commands each: the default quota (50 a day) would refuse a one-user burst
CHANNELS = 10  # Slack limits chat.postMessage to about one a second per channel
# (docs.slack.dev/reference/methods/chat.postMessage, "Rate limits"): a real burst spreads too.
TEAM = "T0LOCAL"
# Raised for the run: the default workspace quota (500 images a day) leaves no room for anything
# else once a 500-command burst is in.
QUOTAS = {"DAILY_IMAGES_PER_USER": "1000", "DAILY_IMAGES_PER_WORKSPACE": "100000"}
# A command not answered within 3 seconds shows the user a timeout error: for Slack it was never
# acknowledged (docs.slack.dev/tools/java-slack-sdk/guides/slash-commands).
ACK_DEADLINE_SECONDS = 3.0
RESULT_METHODS = ("chat.postMessage", "chat.update", "response_url")


class BurstFailed(Exception):
    """The burst broke a requirement; ``figures`` are what it measured all the same."""

    def __init__(self, problems: Sequence[str], figures: dict[str, float]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.figures = figures


@dataclass(frozen=True)
class Lane:
    batch_size: int
    concurrency: int  # the event source's ScalingConfig.MaximumConcurrency


def lanes() -> dict[str, Lane]:
    """The worker's SQS event sources as infra/template.yaml configures them (parameter defaults)."""
    from bot.local.template import properties

    events = properties("WorkerFunction")["Events"]
    found = {}
    for name, event in (("jobs", events["Jobs"]), ("tasks", events["Tasks"])):
        props = event["Properties"]
        found[name] = Lane(int(props["BatchSize"]), int(props["ScalingConfig"]["MaximumConcurrency"]))
    return found


@dataclass(frozen=True)
class Command:
    index: int
    at: float  # seconds after the burst's start when it is sent

    @property
    def prompt(self) -> str:  # distinct per command, so neither dedupe nor anyone could merge two
        return f"burst {self.index} a lighthouse in a storm"

    @property
    def user(self) -> str:
        return f"U0BURST{self.index % USERS:03d}"

    @property
    def channel(self) -> str:
        return f"C0BURST{self.index % CHANNELS:02d}"


def plan(count: int, span: float) -> list[Command]:
    """``count`` commands evenly spread over ``span`` seconds."""
    return [Command(n, span * n / count) for n in range(count)]


@dataclass(frozen=True)
class Ack:
    index: int
    prompt: str
    sent_at: float  # epoch seconds
    seconds: float
    status: int
    text: str

    @property
    def queued(self) -> bool:
        return self.status == 200 and self.text.startswith("Queued")


@dataclass(frozen=True)
class Posted:
    """One result message as the Slack recorder answered it: ok, with the result's text."""

    prompt: str
    job_ids: frozenset[str]
    images: int
    where: tuple[str, str] | None  # (channel, ts) of a chat.update; None for a new message


def results(calls: Sequence[dict[str, Any]]) -> list[Posted]:
    """The result messages among the recorder's calls (its GET listing), minus any deleted."""
    deleted = {
        (str(call["args"].get("channel")), str(call["args"].get("ts")))
        for call in calls
        if call["method"] == "chat.delete" and call["ok"]
    }
    found = []
    for call in calls:
        args = call["args"]
        text = str(args.get("text", ""))
        if not call["ok"] or call["method"] not in RESULT_METHODS or not text.startswith("Imagined: "):
            continue
        blocks = args.get("blocks") if isinstance(args.get("blocks"), list) else []
        where = (str(args["channel"]), str(args["ts"])) if call["method"] == "chat.update" else None
        if where in deleted:
            continue
        found.append(
            Posted(
                prompt=text.removeprefix("Imagined: "),
                job_ids=frozenset(
                    str(element.get("value", ""))
                    for block in blocks
                    if block.get("type") == "actions"
                    for element in block.get("elements", [])
                ),
                images=sum(1 for block in blocks if block.get("type") == "image"),
                where=where,
            )
        )
    return found


@dataclass
class Tally:
    acked: int = 0
    lost: list[str] = field(default_factory=list)  # prompts with no result carrying images
    duplicated: list[str] = field(default_factory=list)  # prompts rendered or posted more than once
    problems: list[str] = field(default_factory=list)


def tally(acks: Sequence[Ack], posted: Sequence[Posted], renders: Counter[str]) -> Tally:
    """Hold the burst to its requirements: each command acknowledged in time, then rendered
    once and posted once, with its images."""
    counted = Tally()
    by_prompt: dict[str, list[Posted]] = {}
    for result in posted:
        by_prompt.setdefault(result.prompt, []).append(result)
    late = [ack for ack in acks if ack.queued and ack.seconds > ACK_DEADLINE_SECONDS]
    refused = [ack for ack in acks if not ack.queued]
    counted.acked = len(acks) - len(refused) - len(late)
    sent = {ack.prompt for ack in acks}
    for ack in acks:
        mine = by_prompt.get(ack.prompt, [])
        if not ack.queued:
            continue
        if not any(result.images for result in mine):
            counted.lost.append(ack.prompt)
        jobs = {job for result in mine for job in result.job_ids}
        if len(mine) > 1 or len(jobs) > 1 or renders[ack.prompt] > 1:
            counted.duplicated.append(ack.prompt)
    problems = counted.problems
    if refused:
        first = refused[0]
        problems.append(f"{len(refused)} commands not acknowledged as queued "
                        f"(first: HTTP {first.status} {first.text[:80]!r})")  # fmt: skip
    if late:
        slowest = max(ack.seconds for ack in late)
        problems.append(f"{len(late)} commands acknowledged after Slack's {ACK_DEADLINE_SECONDS:g} s "
                        f"(slowest {slowest:.2f} s)")  # fmt: skip
    if counted.lost:
        problems.append(f"{len(counted.lost)} lost: no result with images for {counted.lost[:3]}")
    if counted.duplicated:
        problems.append(f"{len(counted.duplicated)} duplicated: rendered or posted more than once: "
                        f"{counted.duplicated[:3]}")  # fmt: skip
    strays = sorted(set(by_prompt) - sent) + sorted(set(renders) - sent)
    if strays:
        problems.append(f"results for commands never sent: {strays[:3]}")
    return counted


# ---- the processes: senders and pollers ---------------------------------------------------------


def _protocol() -> IO[str]:
    """The real stdout, for the lines the parent reads; the handlers' log and EMF lines (which
    Powertools writes to stdout) go to stderr instead. Call before importing the bot."""
    protocol = sys.stdout
    sys.stdout = sys.stderr
    return protocol


def _say(protocol: IO[str], message: object) -> None:
    protocol.write(json.dumps(message) + "\n")
    protocol.flush()


def _signed(text: str, user: str, channel: str) -> dict[str, Any]:
    """A slash command event as Slack would sign it, with a fresh trigger_id."""
    from bot.local.server import to_event
    from bot.local.signing import command_body, signed_headers

    body = command_body(text, team_id=TEAM, channel_id=channel, user_id=user)
    headers = signed_headers(os.environ["SLACK_SIGNING_SECRET"], body)
    return to_event("POST", "/slack/events", headers, body.encode())


def _answer_text(response: dict[str, Any]) -> str:
    body = response.get("body") or ""
    try:
        return str(json.loads(body).get("text", ""))
    except (ValueError, AttributeError):
        return str(body)


def sender() -> None:
    """Read the commands (a JSON line), warm up, say ready, read the start time, then send each
    command at its time and report every acknowledgement."""
    protocol = _protocol()
    commands = [Command(**spec) for spec in json.loads(sys.stdin.readline())]
    from bench.child import _max_rss_mb
    from bot.handlers import http_handler
    from bot.local.lambda_context import HTTP_RESOURCE, LocalContext

    def context() -> LocalContext:
        return LocalContext("imagine-http", resource=HTTP_RESOURCE)

    # Help queues nothing, yet goes through signature checks, Bolt and the command listener.
    assert http_handler(_signed("help", "U0BURST000", "C0BURST00"), context())["statusCode"] == 200
    _say(protocol, "ready")
    start = float(sys.stdin.readline())
    acks = []
    for command in commands:
        event = _signed(f"{command.prompt} --seed {command.index}", command.user, command.channel)
        time.sleep(max(0.0, start + command.at - time.time()))
        sent_at, started = time.time(), time.perf_counter()
        response = http_handler(event, context())
        seconds = time.perf_counter() - started
        acks.append(Ack(command.index, command.prompt, sent_at, seconds, int(response["statusCode"]),
                        _answer_text(response)).__dict__)  # fmt: skip
    _say(protocol, {"acks": acks, "max_rss_mb": _max_rss_mb()})


class _CountedBackend:
    """The configured backend, counting its renders by prompt: a render twice is a duplicate."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.renders: Counter[str] = Counter()
        self._lock = threading.Lock()

    def generate(self, request: Any) -> list[bytes]:
        with self._lock:
            self.renders[request.prompt] += 1
        images: list[bytes] = self.inner.generate(request)
        return images


def poller(lane: str) -> None:
    """One event-source poller of ``lane`` ("jobs" or "tasks"): receive a batch, run
    ``worker_handler`` on it, settle it (bot/local/poller.py), until stdin says stop."""
    protocol = _protocol()
    from bench.child import _max_rss_mb
    from bot.local.poller import Poller
    from bot.services import process_services as services

    built = services()
    counted = _CountedBackend(built.backend)
    built.backend = counted
    url = built.settings.jobs_queue_url if lane == "jobs" else built.settings.tasks_queue_url
    source = Poller(built.sqs, url, batch_size=lanes()[lane].batch_size)
    import bot.worker.jobs_lane
    import bot.worker.tasks_lane  # noqa: F401 - imported now, as a warm container would have them

    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()  # a line, or the parent gone
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    _say(protocol, "ready")
    handled, last_done = 0, 0.0
    while not stop.is_set():
        count = source.poll_once()
        if count:
            handled, last_done = handled + count, time.time()
    _say(protocol, {"handled": handled, "last_done": last_done, "renders": dict(counted.renders),
                    "max_rss_mb": _max_rss_mb()})  # fmt: skip


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class _Child:
    role: str
    process: subprocess.Popen[str]
    log: Path

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the {self.role} exited ({self.process.returncode}):\n{tail}")
        return json.loads(line)

    def write(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


@contextmanager
def _children() -> Iterator[list[_Child]]:
    """A list to start children into; each is stopped on the way out, however the run ends."""
    started: list[_Child] = []
    try:
        yield started
    finally:
        for child in started:
            if child.process.poll() is None:
                child.process.terminate()
            try:
                child.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def _start(started: list[_Child], env: dict[str, str], logs: Path, role: str, *args: str) -> _Child:
    log = logs / f"{role}-{len(started)}.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.burst", role, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    child = _Child(role, process, log)
    started.append(child)
    return child


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _waiting(sqs: Any, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]  # fmt: skip
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def _dead_letter_url(sqs: Any, queue_url: str) -> str:
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    target = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"]
    return str(sqs.get_queue_url(QueueName=target.rsplit(":", 1)[-1])["QueueUrl"])


def _drained(sqs: Any, queues: Sequence[str], deadline: float) -> bool:
    """Until every queue holds nothing (waiting, in flight or delayed) twice running."""
    empty = 0
    while time.time() < deadline:
        empty = empty + 1 if all(_waiting(sqs, url) == 0 for url in queues) else 0
        if empty >= 2:
            return True
        time.sleep(0.5)
    return False


def recorded_calls(slack_api_url: str) -> list[dict[str, Any]]:
    """Every call the Slack recorder answered (its GET listing; bot/local/slack/recorder.py)."""
    base = slack_api_url.removesuffix("/").removesuffix("/api")
    with urllib.request.urlopen(base + "/", timeout=60) as answer:  # the recorder, on loopback
        calls: list[dict[str, Any]] = json.loads(answer.read())
    return calls


@dataclass
class Run:
    """What a burst left behind, for :func:`tally` and the figures."""

    acks: list[Ack]
    renders: Counter[str]
    last_done: float
    peaks: dict[str, list[float]]  # max RSS (MB) by role
    drained: bool
    dead_lettered: int
    logs: Path  # each process's stderr: the handlers' log lines


def burst(
    *,
    commands: int = COMMANDS,
    span: float = SPAN_SECONDS,
    workers: int | None = None,
    delay: float = DELAY_SECONDS,
    senders: int | None = None,
) -> tuple[Run, list[dict[str, Any]]]:
    """Run a burst against the stack the environment names; what it left, and the recorder's calls."""
    import boto3

    workers = workers or lanes()["jobs"].concurrency
    senders = senders or max(2, math.ceil(commands / 100))
    env = dict(os.environ, PLACEHOLDER_DELAY_SECONDS=str(delay), **QUOTAS)
    sqs = boto3.client("sqs")
    queues = [env["JOBS_QUEUE_URL"], env["TASKS_QUEUE_URL"]]
    dead_letters = [_dead_letter_url(sqs, url) for url in queues]
    logs = Path(tempfile.mkdtemp(prefix="imagine-burst-"))  # kept when the run fails, to read why
    with _children() as started:
        jobs = [_start(started, env, logs, "poller", "jobs") for _ in range(workers)]
        tasks = _start(started, env, logs, "poller", "tasks")  # one poller, as bot/local/poller.py
        pollers = [*jobs, tasks]
        sending = [_start(started, env, logs, "sender") for _ in range(senders)]
        schedule = plan(commands, span)
        for n, child in enumerate(sending):
            child.write(json.dumps([command.__dict__ for command in schedule[n::senders]]))
        for child in pollers + sending:
            assert child.read() == "ready"
        start = time.time() + 0.5
        for child in sending:
            child.write(repr(start))
        sent = [child.read() for child in sending]
        ideal = math.ceil(commands / workers) * delay
        drained = _drained(sqs, queues, time.time() + 4 * ideal + 120)
        for child in pollers:
            child.write("stop")
        polled = [child.read() for child in pollers]
        calls = recorded_calls(env["SLACK_API_URL"])
    renders: Counter[str] = Counter()
    for report in polled:
        renders.update(report["renders"])
    *rendered, tasks_report = polled
    run = Run(
        acks=sorted((Ack(**ack) for report in sent for ack in report["acks"]), key=lambda a: a.index),
        renders=renders,
        last_done=max(report["last_done"] for report in rendered),
        peaks={
            "worker": [report["max_rss_mb"] for report in rendered],
            "tasks": [tasks_report["max_rss_mb"]],
            "http": [report["max_rss_mb"] for report in sent],
        },
        drained=drained,
        dead_lettered=sum(_waiting(sqs, url) for url in dead_letters),
        logs=logs,
    )
    return run, calls


def measure(
    *,
    commands: int = COMMANDS,
    span: float = SPAN_SECONDS,
    workers: int | None = None,
    delay: float = DELAY_SECONDS,
    senders: int | None = None,
) -> dict[str, float]:
    """A burst's figures; :class:`BurstFailed` (with them) if it broke a requirement."""
    workers = workers or lanes()["jobs"].concurrency
    run, calls = burst(commands=commands, span=span, workers=workers, delay=delay, senders=senders)
    counted = tally(run.acks, results(calls), run.renders)
    first_sent = min(ack.sent_at for ack in run.acks)
    ideal = math.ceil(commands / workers) * delay
    drain = run.last_done - first_sent
    latencies = [ack.seconds * 1000 for ack in run.acks]
    figures = {
        "commands": float(commands),
        "sent_within_s": max(ack.sent_at for ack in run.acks) - first_sent,
        "workers": float(workers),
        "placeholder_delay_s": delay,
        "acknowledged": float(counted.acked),
        "lost": float(len(counted.lost)),
        "duplicated": float(len(counted.duplicated)),
        "dead_lettered": float(run.dead_lettered),
        "drain_s": drain,
        "ideal_s": ideal,
        "drain_ratio_vs_ideal": drain / ideal,
        "ack_p50_ms": _percentile(latencies, 0.5),
        "ack_p99_ms": _percentile(latencies, 0.99),
        "ack_max_ms": max(latencies),
        "worker_peak_rss_mb": max(run.peaks["worker"]),
        "tasks_poller_peak_rss_mb": max(run.peaks["tasks"]),
        "http_peak_rss_mb": max(run.peaks["http"]),
        "sum_of_peaks_rss_mb": sum(sum(peaks) for peaks in run.peaks.values()),  # every process's
    }
    problems = list(counted.problems)
    if not run.drained:
        problems.append("the queues did not drain in time")
    if run.dead_lettered:
        problems.append(f"{run.dead_lettered} messages in the dead-letter queues")
    if problems:
        raise BurstFailed([*problems, f"the processes' logs are in {run.logs}"], figures)
    shutil.rmtree(run.logs)
    return figures


def note(commands: int) -> str:
    """What the run changed from the defaults, printed with its figures."""
    raised = " and ".join(f"{name}={value}" for name, value in QUOTAS.items())
    return (f"{commands} commands from {min(USERS, commands)} users in {min(CHANNELS, commands)} channels "
            f"of one workspace, with {raised} for the run")  # fmt: skip


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "sender":
        sender()
    elif role == "poller":
        poller(sys.argv[2])
    else:
        raise SystemExit(f"unknown role {role!r}")
