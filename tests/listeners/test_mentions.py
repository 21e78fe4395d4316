"""``@imagine`` mentions (the ``app_mention`` event), through http_handler as Slack sends them: a
signed JSON ``event_callback`` (https://docs.slack.dev/reference/events/app_mention), then the
worker run on its jobs and tasks queues as Lambda's event sources run it.

In a result's thread a mention refines the thread's newest result; elsewhere it is a new
request. Bolt answers an Events API request only once the listener returns (on Lambda), so the
listener calls no Slack Web API: whatever the author must be told goes through the tasks queue.
Slack retries an event it thinks unanswered with the same ``event_id`` and an
``X-Slack-Retry-Num`` header (https://api.slack.com/apis/events-api#retries; the same event_id on
each retry: slackapi/bolt-python issue 1484).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.local.signing import JSON, app_mention, event_body, signed_headers
from bot.model.job import Job
from bot.model.task import Task
from bot.services import reset_process_services
from tests import slack_users
from tests.conftest import (
    SIGNING_SECRET,
    Stack,
    call_http,
    event_request,
    http_event,
    slack_event,
)
from tests.slack_users import job_id_on, queued_jobs

ORIGINAL = "a paper crane --seed 5 --ar 16:9 --steps 20 --cfg 9 --no text"


def imagine(env: Stack, text: str = ORIGINAL) -> tuple[str, str, str]:
    """A /imagine run to its result: the result's channel, its ts (its thread's root) and job id."""
    channel, ts, message = slack_users.imagine(env, text)
    return channel, ts, job_id_on(message)


def mention(env: Stack, text: str, **where: Any) -> dict[str, Any]:
    """Send ``@imagine text``; assert Slack got its answer with no Web API call made before it."""
    before = len(env.slack.snapshot())
    response = call_http(slack_event(app_mention(text, **where)))
    assert response["statusCode"] == 200, response
    assert env.slack.snapshot()[before:] == []
    return response


def queued_tasks(env: Stack) -> list[Task]:
    return [Task.from_json(body) for body in env.peek(env.resources.tasks_queue_url)]


def ephemerals(env: Stack) -> list[dict[str, Any]]:
    return [c.args for c in env.slack.calls_to("chat.postEphemeral") if c.ok]


def landed_in_thread(env: Stack, root_ts: str, job: Job) -> None:
    """The job's message went into the thread, and is now its result with the images."""
    in_thread = [
        c for c in env.slack.calls_to("chat.postMessage") if c.ok and c.args.get("thread_ts") == root_ts
    ]
    assert len(in_thread) == 1  # the job's message; the thread's root was posted in the channel
    results = [
        c.args
        for c in env.slack.calls_to("chat.update")
        if c.ok and c.args["ts"] != root_ts and any(b["type"] == "image" for b in c.args["blocks"])
    ]
    assert [job_id_on(result) for result in results] == [job.job_id]


@pytest.mark.parametrize(
    ("said", "prompt", "aspect"),
    [
        ("--ar 9:16", "a paper crane", "9:16"),  # options alone change only what they name
        ("a fox in the snow", "a fox in the snow", "16:9"),  # text replaces the prompt
        ("+ at sunset, oil painting", "a paper crane, at sunset, oil painting", "16:9"),  # adds to it
    ],
)
def test_a_mention_in_a_results_thread_refines_it_into_the_thread(
    env: Stack, said: str, prompt: str, aspect: str
) -> None:
    channel, root_ts, original_id = imagine(env)
    mention(env, said, channel_id=channel, thread_ts=root_ts)

    [job] = queued_jobs(env)
    request = job.request
    assert (request.prompt, request.aspect) == (prompt, aspect)
    assert (request.seed, request.steps, request.guidance, request.negative_prompt, request.count) == (
        5, 20, 9.0, "text", 1,
    )  # fmt: skip
    assert (request.width, request.height) == ((384, 680) if aspect == "9:16" else (680, 384))
    assert (job.thread_ts, job.parent_job_id, job.channel_id) == (root_ts, original_id, channel)
    assert [(t.kind, t.fields["job"]["job_id"]) for t in queued_tasks(env)] == [("status", job.job_id)]

    env.settle()
    landed_in_thread(env, root_ts, job)
    assert ephemerals(env) == []


def test_the_next_mention_starts_from_the_threads_newest_result(env: Stack) -> None:
    channel, root_ts, _ = imagine(env)
    mention(env, "--ar 9:16", channel_id=channel, thread_ts=root_ts)
    [portrait] = queued_jobs(env)
    env.settle()

    mention(env, "+ oil painting", channel_id=channel, thread_ts=root_ts)
    [job] = queued_jobs(env)
    assert job.parent_job_id == portrait.job_id
    assert (job.request.prompt, job.request.aspect, job.thread_ts) == (
        "a paper crane, oil painting",
        "9:16",
        root_ts,
    )


def test_a_mention_outside_any_results_thread_is_a_new_request_in_the_channel(env: Stack) -> None:
    mention(env, "a lighthouse at dusk --seed 3 --ar 2:1")
    [job] = queued_jobs(env)
    assert (job.request.prompt, job.request.seed, job.request.aspect) == ("a lighthouse at dusk", 3, "2:1")
    assert (job.thread_ts, job.parent_job_id, job.response_url) == ("", "", "")

    env.settle()
    [status] = [c for c in env.slack.calls_to("chat.postMessage") if c.ok]
    assert "thread_ts" not in status.args or not status.args["thread_ts"]
    [update] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    assert job_id_on(update.args) == job.job_id and any(b["type"] == "image" for b in update.args["blocks"])


def test_a_mention_in_a_thread_without_a_result_renders_into_that_thread(env: Stack) -> None:
    """A conversation's thread: the request starts afresh, and its result joins the conversation."""
    conversation = "1700000000.000100"
    mention(env, "a paper crane --seed 8", thread_ts=conversation)
    [job] = queued_jobs(env)
    assert (job.request.prompt, job.request.seed, job.request.aspect) == ("a paper crane", 8, "1:1")
    assert (job.thread_ts, job.parent_job_id) == (conversation, "")
    env.settle()
    landed_in_thread(env, conversation, job)

    # From now on it is a result's thread: the next mention refines that result.
    mention(env, "--ar 9:16", thread_ts=conversation)
    [refined] = queued_jobs(env)
    assert (refined.parent_job_id, refined.request.seed, refined.request.aspect) == (job.job_id, 8, "9:16")


def test_a_retried_event_queues_one_job(env: Stack) -> None:
    channel, root_ts, _ = imagine(env)
    body = event_body(app_mention("--ar 9:16", channel_id=channel, thread_ts=root_ts))
    assert call_http(event_request(body))["statusCode"] == 200
    assert call_http(event_request(body, retry=1))["statusCode"] == 200
    assert len(queued_jobs(env)) == 1
    # Only the job's queued message: the retry says nothing, the job's own message will.
    assert [t.kind for t in queued_tasks(env)] == ["status"]


def test_a_bad_option_queues_no_render_and_the_author_is_told_in_the_thread(env: Stack) -> None:
    channel, root_ts, _ = imagine(env)
    mention(env, "--ar 99:1", channel_id=channel, thread_ts=root_ts, user_id="U0OTHER")
    assert queued_jobs(env) == []
    [task] = queued_tasks(env)
    assert task.kind == "notice"

    posts_before = len(env.slack.calls_to("chat.postMessage"))
    env.settle()
    [said] = ephemerals(env)
    assert (said["channel"], said["user"], said["thread_ts"]) == (channel, "U0OTHER", root_ts)
    assert "`--ar` must look like `16:9`" in said["text"]
    assert "+ at sunset" in json.dumps(said["blocks"])  # how a result's thread is refined
    assert len(env.slack.calls_to("chat.postMessage")) == posts_before  # nothing rendered


def test_a_refusal_sent_again_by_slack_is_said_once(env: Stack) -> None:
    body = event_body(app_mention("--seed"))  # no prompt, no value: usage help
    call_http(event_request(body))
    call_http(event_request(body, retry=1))
    assert len(queued_tasks(env)) == 2 and queued_jobs(env) == []
    env.settle()
    [said] = ephemerals(env)
    assert "thread_ts" not in said  # a mention at the top of the channel: told in the channel


def test_an_over_quota_mention_queues_nothing_and_says_why(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "1")
    reset_process_services()
    mention(env, "a lighthouse", thread_ts="1700000000.000200")  # today's one image
    [job] = queued_jobs(env)
    mention(env, "a second lighthouse", thread_ts="1700000000.000200")
    assert queued_jobs(env) == [job]
    env.settle()
    [said] = ephemerals(env)
    assert (said["user"], said["channel"], said["thread_ts"]) == ("U0LOCAL", "C0LOCAL", "1700000000.000200")
    assert "of your 1 images today" in said["text"]
    assert len(env.slack.calls_to("chat.postMessage")) == 1  # the first lighthouse's only


def test_a_mention_in_a_channel_not_allowed_is_refused_to_its_author(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_CHANNEL_IDS", "C0ELSEWHERE")
    reset_process_services()
    mention(env, "a lighthouse")
    assert queued_jobs(env) == []
    env.settle()
    [said] = ephemerals(env)
    assert said["user"] == "U0LOCAL" and "not enabled in this channel" in said["text"]


def test_the_prompt_is_kept_as_typed_and_shown_escaped(env: Stack) -> None:
    """Slack escapes &, < and > in message text; the request undoes it, the result escapes again."""
    mention(env, "salt & pepper <b>shakers</b> --seed 2")
    [job] = queued_jobs(env)
    assert job.request.prompt == "salt & pepper <b>shakers</b>"
    env.settle()
    [update] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    assert "salt &amp; pepper &lt;b&gt;shakers&lt;/b&gt;" in update.args["text"]


def test_a_mention_by_another_bot_is_ignored(env: Stack) -> None:
    event = app_mention("a lighthouse") | {"bot_id": "B0OTHER"}
    assert call_http(slack_event(event))["statusCode"] == 200
    assert queued_jobs(env) == [] and queued_tasks(env) == []


def test_url_verification_is_still_answered(env: Stack) -> None:
    """Slack checks a new Events API request URL with a signed url_verification request and
    expects the challenge back (https://docs.slack.dev/reference/events/url_verification)."""
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})  # fmt: skip
    response = call_http(
        http_event(
            "http", "POST", "/slack/events", body, signed_headers(SIGNING_SECRET, body, content_type=JSON)
        )
    )
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["challenge"].startswith("3eZbrw1aBm")
    assert env.slack.snapshot() == []


def test_a_refusal_the_tasks_queue_cannot_take_is_left_to_slacks_retry(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never silence: with no way to tell the author, the request is answered with an error, so
    Slack sends the event again later (https://api.slack.com/apis/events-api#retries)."""
    body = event_body(app_mention("a fox --ar 99:1"))
    monkeypatch.setenv("TASKS_QUEUE_URL", env.resources.tasks_queue_url + "-gone")
    reset_process_services()
    assert call_http(event_request(body))["statusCode"] == 500
    assert queued_jobs(env) == [] and env.slack.snapshot() == []

    monkeypatch.setenv("TASKS_QUEUE_URL", env.resources.tasks_queue_url)
    reset_process_services()
    assert call_http(event_request(body, retry=1))["statusCode"] == 200
    env.settle()
    [said] = ephemerals(env)
    assert "`--ar` must look like" in said["text"]


def test_a_mention_without_a_person_is_answered_and_says_nothing(env: Stack) -> None:
    event = app_mention("--ar 99:1")
    del event["user"]
    assert call_http(slack_event(event))["statusCode"] == 200  # not an error Slack would retry
    assert queued_jobs(env) == [] and queued_tasks(env) == []
