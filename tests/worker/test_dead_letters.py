"""Jobs and tasks that SQS itself moved to the dead-letter queue (bot/worker/dead_letters.py).

SQS moves a message to the dead-letter queue once its receive count passes the redrive
policy's maxReceiveCount; a receive whose Lambda invocation was throttled counts too, and never
reaches the worker (https://docs.aws.amazon.com/lambda/latest/dg/sqs-retries.html; AWS Knowledge
Center, "Why is my Lambda function retrying valid Amazon SQS messages and placing them in my
dead-letter queue?", updated 2021-11-01). moto implements the redrive policy the same way: a
receive that finds the count reached moves the message, body and attributes as they were, with
no reason of ours. Here each such receive is one taken without deleting, visibility 0, as a
throttled invocation leaves it; then the worker's schedule runs through ``worker_handler``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.config.settings import Settings
from bot.local.poller import EventSources, Sweeper, dead_letter_watch, scheduled_event
from bot.model.task import Task
from bot.ops.redrive import redrive
from bot.services import reset_process_services
from bot.worker.dead_letters import NOT_RUN, TASK_NOT_RUN, TELL_BY_KIND
from tests.conftest import Stack, ack_json, call_http, call_worker, command_event


def _redriven_by_sqs(env: Stack, queue_url: str) -> str:
    """Receive the queue's one message, never received before, as often as its redrive policy
    allows without deleting it (each receive a throttled invocation), and once more: SQS moves
    it to the dead-letter queue. Returns its body."""
    sqs = env.services.sqs
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    received: list[dict[str, Any]] = []
    for _ in range(int(policy["maxReceiveCount"])):
        [message] = sqs.receive_message(
            QueueUrl=queue_url, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
        )["Messages"]
        received.append(dict(message))
    assert sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages", []) == []
    assert env.queued_bodies(queue_url) == []
    return str(received[-1]["Body"])


def _watch() -> dict[str, Any]:
    """The worker's DeadLetters schedule, as EventBridge invokes it (infra/template.yaml)."""
    return call_worker(scheduled_event())


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}


def _posted(env: Stack) -> list[dict[str, Any]]:
    return [c.args for c in env.slack.calls_to("chat.postMessage") if c.ok]


def test_the_default_receive_count_is_what_aws_advises_for_lambda_sources(env: Stack) -> None:
    """MAX_RECEIVE_COUNT and the local stack's queues follow the template's default of 5."""
    assert Settings.from_env({"JOBS_QUEUE_URL": "q", "TASKS_QUEUE_URL": "t", "JOBS_TABLE": "j",
                              "IMAGES_BUCKET": "b", "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "x",
                              "LINK_SECRET": "l"}).max_receive_count == 5  # fmt: skip
    for queue_url in (env.resources.queue_url, env.resources.tasks_queue_url):
        attributes = env.services.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        )
        assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 5


def test_a_job_sqs_dead_lettered_on_its_own_reaches_its_requester_and_is_filed_with_its_reason(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every receive of the job was throttled: the worker never saw it, and SQS moved it. The
    watch tells the requester in the channel, marks the job failed with the reason, gives the
    images back to the quota and files the job again with that reason, which redrive reports."""
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "1")
    reset_process_services()
    assert "Queued" in str(ack_json(call_http(command_event("a lighthouse at dusk")))["text"])
    body = json.loads(_redriven_by_sqs(env, env.resources.queue_url))
    [moved] = env.dead_letters()
    assert _attributes(moved) == {}  # as SQS left it: no reason

    assert _watch() == {"batchItemFailures": []}

    reason = NOT_RUN.format(tries=5)
    [told] = [p for p in _posted(env) if reason in p["text"]]
    assert told["channel"] == body["channel_id"]
    assert told["text"] == f":x: Sorry, this one could not be rendered: {reason}"
    progress = env.services.store.load(body["job_id"])
    assert (progress.status, progress.reason) == ("failed", reason)
    [filed] = env.dead_letters()
    assert json.loads(filed["Body"]) == body  # the job as queued: redrive runs it again as it came
    attributes = _attributes(filed)
    assert (attributes["reason"], attributes["moved_by"], attributes["receive_count"]) == (reason, "sqs", "5")
    assert attributes["source_message_id"] == moved["MessageId"]
    assert "Queued" in str(ack_json(call_http(command_event("a second try")))["text"])  # quota given back

    moved_back = redrive(env.services.sqs, env.resources.dead_letter_queue_url, env.resources.queue_url)
    assert moved_back == [(body["job_id"], reason)]  # never "(no reason recorded)"


def test_a_second_watch_neither_tells_again_nor_files_twice(env: Stack) -> None:
    call_http(command_event("a quiet harbour"))
    _redriven_by_sqs(env, env.resources.queue_url)
    _watch()
    told = len(_posted(env))
    _watch()
    assert len(_posted(env)) == told
    assert len(env.dead_letters()) == 1


def test_a_job_the_worker_filed_with_its_reason_is_left_alone(env: Stack) -> None:
    """The worker gave up on it and told the requester itself: the watch leaves the message as it
    was, visible at once for operators and redrive."""
    env.services.sqs.send_message(QueueUrl=env.resources.queue_url, MessageBody="{not a job")
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [filed] = env.dead_letters()
    env.slack.clear()

    _watch()

    [still] = env.dead_letters()  # visible again: the watch's look did not hide it
    assert (still["MessageId"], _attributes(still)) == (filed["MessageId"], _attributes(filed))
    assert env.slack.snapshot() == []


def test_a_job_delivered_before_sqs_moved_it_is_only_removed(env: Stack) -> None:
    """A duplicate delivery (SQS is at-least-once) of a job already posted, throttled until SQS
    moved it: nobody is told anything, and nothing is filed."""
    call_http(command_event("a red fox"))
    event = env.sqs_event()  # its first delivery, rendered and posted
    assert call_worker(event) == {"batchItemFailures": []}
    env.services.sqs.delete_message(  # as the event source does after a success
        QueueUrl=env.resources.queue_url, ReceiptHandle=event["Records"][0]["receiptHandle"]
    )
    body = event["Records"][0]["body"]
    job_id = json.loads(body)["job_id"]
    assert env.services.store.load(job_id).status == "done"
    env.services.sqs.send_message(QueueUrl=env.resources.queue_url, MessageBody=body)
    _redriven_by_sqs(env, env.resources.queue_url)
    env.slack.clear()

    _watch()

    assert env.dead_letters() == []
    assert _posted(env) == []
    assert env.services.store.load(job_id).status == "done"


def _share_task() -> Task:
    return Task(
        "share",
        {
            "team_id": "T0LOCAL",
            "user_id": "U0LOCAL",
            "job_id": "0" * 32,
            "channel_id": "C0OTHER",
            "from_channel_id": "C0LOCAL",
            "thread_ts": "1700000000.000100",
        },
    )


def test_a_share_sqs_dead_lettered_tells_the_sharer_where_they_clicked_once_and_is_filed(env: Stack) -> None:
    """Run by the local stack's equivalent of the schedule (bot/local/poller.py)."""
    task = _share_task()
    env.services.tasks.send(task)
    _redriven_by_sqs(env, env.resources.tasks_queue_url)

    dead_letter_watch(every=0).poll_once()
    dead_letter_watch(every=0).poll_once()  # a second run: said once, filed once

    reason = TASK_NOT_RUN.format(tries=5)
    [said] = [c.args for c in env.slack.calls_to("chat.postEphemeral") if c.ok]
    assert (said["channel"], said["user"], said["thread_ts"]) == ("C0LOCAL", "U0LOCAL", "1700000000.000100")
    assert said["text"] == TELL_BY_KIND["share"].format(reason=reason)
    [filed] = env.dead_letters()
    assert json.loads(filed["Body"]) == json.loads(task.to_json())
    attributes = _attributes(filed)
    assert attributes["reason"] == f"share: {reason}"
    assert (attributes["kind"], attributes["moved_by"]) == ("task", "sqs")


def test_a_home_task_sqs_dead_lettered_is_filed_with_its_reason_and_nobody_is_messaged(env: Stack) -> None:
    env.services.tasks.send(Task("home", {"team_id": "T0LOCAL", "user_id": "U0LOCAL"}))
    _redriven_by_sqs(env, env.resources.tasks_queue_url)

    _watch()

    assert env.slack.snapshot() == []
    assert env.dead_letter_reasons() == [f"home: {TASK_NOT_RUN.format(tries=5)}"]


def test_the_local_event_sources_run_the_watch_on_the_schedules_cadence_only(env: Stack) -> None:
    """As a rate schedule: not at once (a short drain never runs it), then every period."""
    [watch] = [p for p in EventSources.of(env.services).pollers if isinstance(p, Sweeper)]
    call_http(command_event("a lighthouse"))
    _redriven_by_sqs(env, env.resources.queue_url)

    watch.poll_once()
    assert env.dead_letter_reasons() == [""]  # not yet: its first period has not passed

    watch.last -= watch.every  # one period later
    watch.poll_once()
    assert env.dead_letter_reasons() == [NOT_RUN.format(tries=5)]
