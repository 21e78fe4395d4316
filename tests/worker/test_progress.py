"""Live progress: the job's one channel message says queued (with how many jobs are ahead), then
painting (since when), then shows the result (with its render time), one chat.update per state.

The queued message comes from the tasks lane (a "status" task queued with the job); the render
says painting. Each is an SQS event into worker_handler, driven here in every order: the status
first, the render first, and both at once (one of them held at the network boundary, as a Slack
that is slow to answer would hold it). Whatever the order, the job's record decides one message
and a second one posted meanwhile is deleted again (chat.delete: a bot deletes its own messages,
https://docs.slack.dev/reference/methods/chat.delete).

"Jobs ahead" is the jobs queue's ApproximateNumberOfMessages (waiting) plus
ApproximateNumberOfMessagesNotVisible (in flight: being rendered), less this job
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-resources-required-process-messages.html).
The painting time is Slack's date formatting, ``<!date^epoch^{time_secs}|fallback>``, shown in
each reader's own time zone (https://docs.slack.dev/messaging/formatting-message-text).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.local.signing import click_body, signed_headers
from bot.local.slack.recorder import Answer, Call, SlackRecorder
from bot.model.job import Job
from bot.model.task import Task
from bot.services import process_services, reset_process_services
from tests.conftest import (
    SIGNING_SECRET,
    Stack,
    ack_json,
    call_http,
    call_worker,
    command_event,
    http_event,
)
from tests.fakes.aws_faults import FaultProxy

PAINTING_SINCE = re.compile(r":art: painting since <!date\^(\d+)\^\{time_secs\}\|\d\d:\d\d:\d\d UTC>")
NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}


@dataclass
class HoldingSlack(SlackRecorder):
    """The strict Slack stand-in, noting the ts of each message it posts, and able to hold its
    answer to one chat.postMessage: Slack has posted the message, the poster has not heard back
    yet."""

    posted: list[tuple[str, str]] = field(default_factory=list)  # (ts, text) of each post
    held_prefix: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def posted_ts(self, text_prefix: str) -> list[str]:
        """The ts of each message posted whose text starts with ``text_prefix``, in order."""
        return [ts for ts, text in list(self.posted) if text.startswith(text_prefix)]

    def hold(self, prefix: str) -> None:
        """Hold the answer to the next chat.postMessage whose text starts with ``prefix``."""
        self.held_prefix = prefix
        self.arrived.clear()
        self.released.clear()

    def answer(self, path: str, content_type: str, raw: bytes | str, authorization: str) -> Answer:
        answered = super().answer(path, content_type, raw, authorization)
        body = answered[1]
        if not (path.endswith("/chat.postMessage") and isinstance(body, dict) and body.get("ok")):
            return answered
        text = str(body["message"]["text"])
        self.posted.append((str(body["ts"]), text))
        if self.held_prefix and text.startswith(self.held_prefix):
            self.held_prefix = ""
            self.arrived.set()
            self.released.wait(8)  # within the Web API client's 10 s timeout
        return answered


@pytest.fixture
def slack() -> Iterator[HoldingSlack]:
    recorder = HoldingSlack()
    recorder.start()
    yield recorder
    recorder.stop()


def imagine(
    text: str = "a lighthouse at dusk --seed 7",
    channel_id: str = "C0LOCAL",
    response_url: str = "",
) -> None:
    ack = ack_json(call_http(command_event(text, channel_id=channel_id, response_url=response_url)))
    assert ack["text"].startswith("Queued")


def run_status(env: Stack) -> None:
    """The tasks lane: the status task(s) queued so far."""
    assert call_worker(env.tasks_event()) == NO_FAILURES


def run_render(env: Stack) -> None:
    """The jobs queue's event source: the job(s) queued so far."""
    assert call_worker(env.sqs_event()) == NO_FAILURES


def posts(env: Stack) -> list[Call]:
    return [c for c in env.slack.calls_to("chat.postMessage") if c.ok]


def updates(env: Stack, ts: str) -> list[str]:
    """What each chat.update of the message at ``ts`` said first (its text up to the colon)."""
    return [c.args["text"].split(":", 1)[0] for c in env.slack.calls_to("chat.update") if c.args["ts"] == ts]


def context(payload: dict[str, Any]) -> str:
    return " ".join(e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"])


def posted_ts(env: Stack, text_prefix: str) -> str:
    """The ts of the one message posted whose text starts with ``text_prefix``."""
    assert isinstance(env.slack, HoldingSlack)
    [ts] = env.slack.posted_ts(text_prefix)
    return ts


def all_accepted(env: Stack, *allowed: str) -> None:
    """Every call the strict stand-in refused was one of the ``allowed`` errors."""
    refused = [(c.method, c.error) for c in env.slack.snapshot() if not c.ok]
    assert all(error in allowed for _, error in refused), refused


def record(job_id: str) -> dict[str, str]:
    found = process_services().store.find(job_id)
    assert found is not None
    return found[1].message


def queued_job(env: Stack) -> Job:
    [body] = env.peek()
    return Job.from_json(body)


def test_the_queued_message_says_how_many_jobs_are_ahead(env: Stack) -> None:
    imagine("first")
    run_status(env)
    in_flight = env.sqs_event()  # the worker takes the first job: it is rendering, still ahead
    imagine("second")
    run_status(env)
    imagine("third")
    run_status(env)

    said = {c.args["text"]: context(c.args) for c in posts(env)}
    assert list(said) == ["Queued: first", "Queued: second", "Queued: third"]
    assert said["Queued: first"].startswith(":hourglass_flowing_sand: queued, next in line · ")
    assert said["Queued: second"].startswith(":hourglass_flowing_sand: queued, 1 job ahead · ")
    assert said["Queued: third"].startswith(":hourglass_flowing_sand: queued, 2 jobs ahead · ")
    assert call_worker(in_flight) == NO_FAILURES
    all_accepted(env)


def test_the_message_goes_queued_then_painting_then_done_with_one_post(env: Stack) -> None:
    before = int(time.time())
    imagine()
    job = queued_job(env)
    run_status(env)
    [queued] = posts(env)
    assert queued.args["channel"] == "C0LOCAL" and "thread_ts" not in queued.args
    ts = posted_ts(env, "Queued:")
    assert record(job.job_id) == {"channel": "C0LOCAL", "ts": ts}

    run_render(env)

    assert posts(env) == [queued]  # the render reused it
    assert updates(env, ts) == ["Painting", "Imagined"]
    painting, done = env.slack.calls_to("chat.update")
    started = PAINTING_SINCE.match(context(painting.args))
    assert started and before <= int(started.group(1)) <= int(time.time())
    assert "rendered in" in context(done.args)
    shown = env.slack.message("C0LOCAL", ts)
    assert shown is not None and any(b["type"] == "image" for b in shown["blocks"])
    assert env.slack.calls_to("chat.delete") == []
    all_accepted(env)


def test_a_render_that_starts_first_posts_the_only_message_and_the_status_says_nothing(
    env: Stack,
) -> None:
    imagine()
    job = queued_job(env)
    run_render(env)
    run_status(env)  # late: the job is done

    [painting] = posts(env)
    assert painting.args["text"].startswith("Painting:")
    assert PAINTING_SINCE.match(context(painting.args))
    ts = posted_ts(env, "Painting:")
    assert updates(env, ts) == ["Imagined"]
    assert record(job.job_id) == {"channel": "C0LOCAL", "ts": ts}
    assert env.slack.calls_to("chat.delete") == []
    all_accepted(env)


def _at_once(env: Stack, held: str, first: Callable[[], None], meanwhile: Callable[[], None]) -> None:
    """Run ``first`` until Slack has posted its message whose text starts with ``held``, run
    ``meanwhile`` to its end, then let ``first`` hear back and finish."""
    slack = env.slack
    assert isinstance(slack, HoldingSlack)
    slack.hold(held)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            first()
        except BaseException as error:  # reported in the test's own thread
            failures.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert slack.arrived.wait(10), "the held message never arrived"
        meanwhile()
    finally:
        slack.released.set()
        worker.join(30)
    assert not worker.is_alive() and failures == []


def test_status_and_render_at_once_when_the_render_claims_first_the_queued_post_is_deleted(
    env: Stack,
) -> None:
    imagine()
    job = queued_job(env)
    status_event, render_event = env.tasks_event(), env.sqs_event()

    _at_once(
        env,
        "Queued:",
        lambda: assert_ok(call_worker(status_event)),
        lambda: assert_ok(call_worker(render_event)),
    )

    queued_ts, painting_ts = posted_ts(env, "Queued:"), posted_ts(env, "Painting:")
    [deleted] = env.slack.calls_to("chat.delete")
    assert deleted.ok and deleted.args["ts"] == queued_ts
    assert env.slack.message("C0LOCAL", queued_ts) is None  # no orphan
    assert record(job.job_id) == {"channel": "C0LOCAL", "ts": painting_ts}
    assert updates(env, painting_ts) == ["Imagined"] and updates(env, queued_ts) == []
    all_accepted(env)


def test_status_and_render_at_once_when_the_status_claims_first_the_render_keeps_its_message(
    env: Stack,
) -> None:
    imagine()
    job = queued_job(env)
    status_event, render_event = env.tasks_event(), env.sqs_event()

    _at_once(
        env,
        "Painting:",
        lambda: assert_ok(call_worker(render_event)),
        lambda: assert_ok(call_worker(status_event)),
    )

    queued_ts, painting_ts = posted_ts(env, "Queued:"), posted_ts(env, "Painting:")
    [deleted] = env.slack.calls_to("chat.delete")
    assert deleted.ok and deleted.args["ts"] == painting_ts
    assert env.slack.message("C0LOCAL", painting_ts) is None  # no orphan
    assert record(job.job_id) == {"channel": "C0LOCAL", "ts": queued_ts}
    assert updates(env, queued_ts) == ["Painting", "Imagined"]
    all_accepted(env)


def assert_ok(result: dict[str, Any]) -> None:
    assert result == NO_FAILURES


def test_a_re_roll_shows_its_queued_state_in_the_results_thread(env: Stack) -> None:
    imagine("a paper crane --seed 5")
    env.settle()
    [result] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    channel, root_ts = str(result.args["channel"]), str(result.args["ts"])
    env.slack.clear()

    body = click_body(result.args, channel, root_ts, action_id="imagine_reroll",
                      block_id="imagine_actions", user_id="U0LOCAL",
                      response_url=env.slack.response_url("click"))  # fmt: skip
    event = http_event("http", "POST", "/slack/events", body, signed_headers(SIGNING_SECRET, body),
                       base64_body=True)  # fmt: skip
    assert call_http(event)["statusCode"] == 200
    run_status(env)
    [queued] = posts(env)
    assert (queued.args["channel"], queued.args["thread_ts"]) == (channel, root_ts)
    assert context(queued.args).startswith(":hourglass_flowing_sand: queued, next in line · ")

    run_render(env)
    assert posts(env) == [queued]
    assert updates(env, posted_ts(env, "Queued:")) == ["Painting", "Imagined"]
    assert updates(env, root_ts) == []  # the original result stays as it was
    all_accepted(env)


def test_a_closed_channel_gets_no_queued_message_and_keeps_its_response_url_uses(env: Stack) -> None:
    """Behind a response_url (5 uses in 30 minutes) the queued state is left out: the requester
    saw "Queued" in the acknowledgement, and the uses are kept for painting, the result and any
    failure note."""
    env.slack.closed_channels.add("G0PRIVATE")
    imagine(channel_id="G0PRIVATE", response_url=env.slack.response_url("private"))
    job = queued_job(env)
    run_status(env)
    [refused] = env.slack.calls_to("chat.postMessage")
    assert refused.error == "not_in_channel"
    assert env.slack.calls_to("response_url") == [] and env.dead_letters() == []
    assert process_services().store.find(job.job_id) is None  # nothing claimed

    run_render(env)
    answers = env.slack.calls_to("response_url")
    assert [a.args["text"].split(":", 1)[0] for a in answers] == ["Painting", "Imagined"]
    all_accepted(env, "not_in_channel")


def test_upload_delivery_puts_the_files_under_the_queued_message(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    imagine()
    run_status(env)
    run_render(env)

    assert len(posts(env)) == 1
    ts = posted_ts(env, "Queued:")
    assert updates(env, ts) == ["Painting", "Imagined"]
    [shared] = env.slack.files
    assert shared.thread_ts == ts
    all_accepted(env)


def test_a_job_whose_status_task_could_not_be_queued_still_renders_and_says_painting(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKS_QUEUE_URL", env.resources.tasks_queue_url + "-gone")
    reset_process_services()
    imagine()
    monkeypatch.setenv("TASKS_QUEUE_URL", env.resources.tasks_queue_url)
    reset_process_services()
    assert env.peek(env.resources.tasks_queue_url) == []

    run_render(env)
    [painting] = posts(env)
    assert painting.args["text"].startswith("Painting:")
    assert updates(env, posted_ts(env, "Painting:")) == ["Imagined"]
    all_accepted(env)


def test_the_status_task_is_one_per_job(env: Stack) -> None:
    """Queued with the job, named by the job id: a second delivery of it is the same task."""
    imagine()
    job = queued_job(env)
    [body] = env.peek(env.resources.tasks_queue_url)
    task = Task.from_json(body)
    assert (task.kind, task.task_id) == ("status", Task.id_for("status", job.job_id))
    assert Job.from_json(json.dumps(task.fields["job"])) == job


@pytest.fixture
def flaky_dynamodb(env: Stack, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    reset_process_services()
    yield proxy
    proxy.stop()


def test_a_queued_message_the_job_store_could_not_record_is_taken_back_and_posted_again(
    env: Stack, flaky_dynamodb: FaultProxy
) -> None:
    """Unrecorded, the message would be left beside the one the next delivery posts."""
    imagine()
    job = queued_job(env)
    # The claim's PutItem, after the tasks' own idempotency record, fails past the client's
    # three attempts (botocore's standard retries).
    flaky_dynamodb.fail("PutItem", times=3, skip=1)
    event = env.tasks_event()
    [delivery] = event["Records"]
    assert call_worker(event) == {"batchItemFailures": [{"itemIdentifier": delivery["messageId"]}]}
    assert flaky_dynamodb.failed == ["PutItem"] * 3
    first = posted_ts(env, "Queued:")
    [deleted] = env.slack.calls_to("chat.delete")
    assert deleted.ok and deleted.args["ts"] == first

    env.services.sqs.change_message_visibility(  # its backoff is over
        QueueUrl=env.resources.tasks_queue_url, ReceiptHandle=delivery["receiptHandle"], VisibilityTimeout=0
    )
    run_status(env)
    run_render(env)

    assert isinstance(env.slack, HoldingSlack)
    _, kept = env.slack.posted_ts("Queued:")
    assert record(job.job_id) == {"channel": "C0LOCAL", "ts": kept}
    assert env.slack.message("C0LOCAL", first) is None
    assert updates(env, kept) == ["Painting", "Imagined"]
    all_accepted(env)


def test_the_queued_message_of_a_hostile_prompt_is_inert(env: Stack) -> None:
    imagine("<!channel> look <@U123> <https://evil.example|click> & <!here> --no <!everyone>")
    run_status(env)
    [queued] = posts(env)
    shown = json.dumps(queued.args["blocks"]).replace("<@U0LOCAL>", "")
    assert not re.search(r"<[!@#]|<https?:", shown), shown
    assert "&lt;!channel&gt; look &lt;@U123&gt;" in shown and "no: &lt;!everyone&gt;" in shown
    all_accepted(env)
