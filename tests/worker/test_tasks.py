"""The tasks lane: Slack-side work queued after an acknowledgement, run by the worker from the
tasks queue as Lambda's SQS event source runs it, with the same partial-batch failures and
dead letters (with their reason) as jobs.

chat.postEphemeral takes ``channel``, ``user`` and, for a thread, the root's ``thread_ts``; an
ephemeral message in a thread shows only where the thread is active
(https://docs.slack.dev/reference/methods/chat.postEphemeral).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot.blocks import messages
from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.model.task import TEXT_LIMIT, Task
from bot.services import reset_process_services
from tests.conftest import Stack, ack_json, call_http, call_worker, command_event

ROOT_TS = "1700000000.000100"


def notice(text: str = "Nothing was queued.", **fields: Any) -> Task:
    where = {"team_id": "T0LOCAL", "channel_id": "C0LOCAL", "user_id": "U0LOCAL"} | fields
    return Task.notice(payload=messages.notice(text), **where)


def ephemerals(env: Stack) -> list[dict[str, Any]]:
    return [c.args for c in env.slack.calls_to("chat.postEphemeral") if c.ok]


def test_a_notice_is_an_ephemeral_message_to_its_user_in_the_thread(env: Stack) -> None:
    usage = messages.mention_usage("`--ar` must look like <16:9> & more", default_steps=30, max_steps=50,
                                   default_guidance=7.5)  # fmt: skip
    task = Task.notice(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0OTHER", payload=usage,
                       thread_ts=ROOT_TS)  # fmt: skip
    env.services.tasks.send(task)

    assert call_worker(env.tasks_event()) == {"batchItemFailures": []}
    [said] = ephemerals(env)  # accepted by the strict recorder: blocks and text valid
    assert (said["channel"], said["user"], said["thread_ts"]) == ("C0LOCAL", "U0OTHER", ROOT_TS)
    assert said["text"] == "`--ar` must look like &lt;16:9&gt; &amp; more"
    assert "@imagine + at sunset" in json.dumps(said["blocks"])
    assert env.dead_letters() == []


def test_a_notice_outside_a_thread_has_no_thread_ts(env: Stack) -> None:
    env.services.tasks.send(notice())
    env.settle()
    [said] = ephemerals(env)
    assert "thread_ts" not in said and said["text"] == "Nothing was queued."


def test_the_same_task_queued_twice_is_said_once(env: Stack) -> None:
    """A task made from the same key (Slack's retry of one event) runs once: Powertools
    Idempotency on the task id."""
    first, again = (notice(key="Ev0SAME", thread_ts=ROOT_TS) for _ in range(2))
    assert first.task_id == again.task_id
    env.services.tasks.send(first)
    env.services.tasks.send(again)
    assert env.settle() == 2
    assert len(ephemerals(env)) == 1


def test_a_task_slack_refuses_for_good_is_dead_lettered_with_its_reason(env: Stack) -> None:
    env.slack.fail("chat.postEphemeral", error="user_not_in_channel")
    env.services.tasks.send(notice())
    assert call_worker(env.tasks_event()) == {"batchItemFailures": []}  # settled: no retry helps
    [letter] = env.dead_letters()
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert (attributes["reason"], attributes["kind"]) == ("Slack refused it (user_not_in_channel)", "task")
    assert json.loads(letter["Body"])["task"] == "notice"


def test_a_task_that_may_succeed_later_is_handed_back_and_then_said(env: Stack) -> None:
    env.slack.fail("chat.postEphemeral")  # internal_error, once
    env.services.tasks.send(notice())
    event = env.tasks_event()
    [record] = event["Records"]
    assert call_worker(event) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    # Handed back with the first backoff step (10 s), not the queue's 720 s: hidden for now.
    assert env.receive(queue_url=env.resources.tasks_queue_url) == []
    env.services.sqs.change_message_visibility(  # its 10 s are over
        QueueUrl=env.resources.tasks_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
    )
    env.settle()
    assert len(ephemerals(env)) == 1
    assert env.dead_letters() == []


def test_the_last_delivery_of_a_failing_task_files_it_with_its_reason(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "1")
    reset_process_services()
    env.slack.fail("chat.postEphemeral")
    env.services.tasks.send(notice())
    assert call_worker(env.tasks_event()) == {"batchItemFailures": []}
    assert env.dead_letter_reasons() == ["Slack refused it (internal_error)"]


def test_a_batch_reports_only_the_task_that_failed(env: Stack) -> None:
    env.services.tasks.send(notice("first"))
    env.services.tasks.send(notice("second"))
    event: dict[str, Any] = {"Records": []}
    deadline = time.monotonic() + 5  # moto may hand the two over in separate receives
    while len(event["Records"]) < 2 and time.monotonic() < deadline:
        event["Records"] += env.tasks_event()["Records"]
    first, second = event["Records"]
    env.slack.fail("chat.postEphemeral")  # the first call fails, the second goes through
    assert call_worker(event) == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    [said] = ephemerals(env)
    assert said["text"] == json.loads(second["body"])["fields"]["text"]


def test_an_unreadable_task_is_dead_lettered_and_not_retried(env: Stack) -> None:
    body = json.dumps({"task": "notice", "task_id": "0" * 32, "fields": {"channel_id": "C0LOCAL"}})
    env.services.sqs.send_message(QueueUrl=env.resources.tasks_queue_url, MessageBody=body)
    assert call_worker(env.tasks_event()) == {"batchItemFailures": []}
    assert env.dead_letter_reasons() == ["the queued task could not be read"]
    assert ephemerals(env) == []


def test_a_task_redriven_into_the_jobs_queue_still_runs_as_a_task(env: Stack) -> None:
    """`imagine-bot redrive` sends whatever is dead-lettered to the jobs queue; the body says it
    is a task."""
    env.services.sqs.send_message(QueueUrl=env.resources.queue_url, MessageBody=notice().to_json())
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    assert len(ephemerals(env)) == 1
    assert env.slack.calls_to("chat.postMessage") == []  # nothing was taken for a job


def test_the_local_stack_makes_the_tasks_queue_as_the_template_does(env: Stack) -> None:
    sqs = env.services.sqs
    attributes = sqs.get_queue_attributes(QueueUrl=env.resources.tasks_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=env.resources.dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert attributes["VisibilityTimeout"] == "720"
    assert attributes["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letters
    assert int(redrive["maxReceiveCount"]) == 5  # the template's default: AWS's advice for a Lambda source


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"channel_id": "C0LOCAL", "user_id": "U0LOCAL", "text": "hi"}, "needs team_id"),
        ({"team_id": "T0LOCAL", "channel_id": "#general", "user_id": "U0LOCAL", "text": "hi"}, "channel_id"),
        ({"team_id": "T0LOCAL", "channel_id": "C0LOCAL", "user_id": "U0LOCAL", "text": " "}, "text"),
        ({"team_id": "T0LOCAL", "channel_id": "C0LOCAL", "user_id": "U0LOCAL",
          "text": "x" * (TEXT_LIMIT + 1)}, "text"),
        ({"team_id": "T0LOCAL", "channel_id": "C0LOCAL", "user_id": "U0LOCAL", "text": "hi",
          "thread_ts": "yesterday"}, "thread_ts"),
        ({"team_id": "T0LOCAL", "channel_id": "C0LOCAL", "user_id": "U0LOCAL", "text": "hi",
          "response_url": "https://hooks.slack.com/x"}, "takes no field"),
    ],
)  # fmt: skip
def test_a_task_is_validated(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Task("notice", fields)


def test_a_task_reads_back_what_it_wrote_and_refuses_what_it_does_not_know() -> None:
    task = notice("said", thread_ts=ROOT_TS, key="Ev0ONE")
    assert Task.from_json(task.to_json()) == task
    assert json.loads(task.to_json())["task"] == "notice"
    assert notice(key="Ev0ONE").task_id == task.task_id != notice(key="Ev0TWO").task_id
    assert notice().task_id != notice().task_id
    with pytest.raises(ValueError, match="kind"):
        Task("launch", {})
    with pytest.raises(ValueError, match="task_id"):
        Task("notice", task.fields, task_id="not-hex")


def test_the_tasks_queue_url_is_required() -> None:
    env = {"JOBS_QUEUE_URL": "http://127.0.0.1:1/q", "JOBS_TABLE": "t", "IMAGES_BUCKET": "b",
           "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-t", "LINK_SECRET": "l"}  # fmt: skip
    with pytest.raises(SettingsError, match="TASKS_QUEUE_URL is not set"):
        Settings.from_env(env)
    assert Settings.from_env(env | {"TASKS_QUEUE_URL": "http://127.0.0.1:1/t"}).tasks_queue_url.endswith("/t")


def test_tasks_and_jobs_in_one_worker_container_keep_their_own_idempotency_keys(env: Stack) -> None:
    """One worker runs both queues. Powertools configures an idempotency layer once, with the
    first config it sees, so a task run first must not make the next job's key its ``task_id``."""
    env.services.tasks.send(notice())
    env.settle()
    ack_json(call_http(command_event("a paper crane --seed 5", response_url=env.slack.response_url())))
    env.settle()
    assert len(ephemerals(env)) == 1
    updates = [c.args for c in env.slack.calls_to("chat.update") if c.ok]
    assert any(b["type"] == "image" for update in updates for b in update["blocks"])
    assert env.dead_letters() == []
