"""Fault injection: every accepted /imagine ends posted once, or told and dead-lettered.

Each case breaks one thing at the network boundary (the SageMaker stand-in, the Slack recorder,
or a proxy in front of moto), sends a signed command through http_handler, lets the worker run
the way Lambda's SQS event source would (redelivering what fails, up to the queue's receive
limit), and checks the exact end state: endpoint calls, channel posts, results, what the
requester was told, and what sits in the dead-letter queue. These cases give most rows of the
README's table of faults tried; the rest come from tests/worker/test_delivery.py (image downloads,
uploads, direct messages), tests/config/test_secrets.py (rotated secrets) and
tests/backends/test_sagemaker_contract.py (the endpoint's limits).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot import handlers
from bot.local.lambda_context import LocalContext, function_timeout
from bot.local.poller import Poller, to_event
from bot.model.guards import Guards
from bot.model.job import Job
from bot.model.prompt import ImageRequest
from bot.services import process_services, reset_process_services
from bot.worker.jobs_lane import INTERRUPTED
from tests.conftest import Stack, ack_json, call_http, command_event, http_event, use_up
from tests.fakes.aws_faults import FaultProxy
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn


@dataclass
class World:
    env: Stack
    sagemaker: SageMakerStandIn
    aws: FaultProxy
    monkeypatch: pytest.MonkeyPatch

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)
        reset_process_services()


@pytest.fixture
def world(
    env: Stack, sagemaker: SageMakerStandIn, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    proxy = FaultProxy(moto_url).start()
    for service in ("DYNAMODB", "S3", "SQS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", proxy.url)
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    reset_process_services()
    yield World(env, sagemaker, proxy, monkeypatch)
    proxy.stop()


@dataclass(frozen=True)
class Outcome:
    endpoint_calls: int
    channel_posts: int  # successful chat.postMessage outside threads (status or failure messages)
    results: int  # successful messages carrying the images
    told: int  # failure notes the requester received
    dead_letters: tuple[str, ...]  # reasons on the jobs in the dead-letter queue


def outcome(world: World) -> Outcome:
    calls = [c for c in world.env.slack.snapshot() if c.ok]
    texts = [json.dumps(c.args) for c in calls]
    return Outcome(
        endpoint_calls=len(world.sagemaker.invocations),
        channel_posts=sum(c.method == "chat.postMessage" and not c.args.get("thread_ts") for c in calls),
        results=sum('"type": "image"' in t for t in texts),
        told=sum("could not be rendered" in t for t in texts),
        dead_letters=tuple(world.env.dead_letter_reasons()),
    )


def run(world: World, text: str = "a cyborg tiger --seed 3") -> dict[str, object]:
    ack = ack_json(call_http(command_event(text, response_url=world.env.slack.response_url())))
    world.env.deliver_jobs()
    return ack


POSTED_ONCE = Outcome(endpoint_calls=1, channel_posts=1, results=1, told=0, dead_letters=())


def _throttled(world: World) -> None:
    throttle = Answer(400, b'{"message": "Rate exceeded"}', "ThrottlingException")
    world.sagemaker.scripted.extend([throttle, throttle])


def _always_unavailable(world: World) -> None:
    world.setenv("RENDER_BUDGET_SECONDS", "0")  # no retry inside a delivery: one call each
    # One for each delivery MAX_RECEIVE_COUNT allows (5 by default, as AWS advises for Lambda).
    world.sagemaker.scripted.extend([Answer(503, b'{"message": "busy"}', "ServiceUnavailable")] * 5)


def _model_error(world: World) -> None:
    world.sagemaker.scripted.append(Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError"))


def _validation_error(world: World) -> None:
    world.sagemaker.scripted.append(Answer(400, b'{"message": "width too large"}', "ValidationError"))


def _malformed(world: World) -> None:
    world.sagemaker.scripted.append(Answer(200, b"<html>upstream timed out</html>"))


def _not_jpeg(world: World) -> None:
    world.sagemaker.scripted.append(Answer(200, b'{"generated_images": ["iVBORw0KGgo="]}'))


def _slow_once(world: World) -> None:
    world.setenv("SAGEMAKER_TIMEOUT_SECONDS", "1")
    world.sagemaker.scripted.append(Answer(delay=2.5))


def _channel_rate_limited(world: World) -> None:
    # Slack limits posting to about one message a second per channel and answers 429 with
    # Retry-After (https://docs.slack.dev/apis/web-api/rate-limits): here the job's first post.
    world.env.slack.rate_limit("C0LOCAL", times=1, retry_after=0)


def _channel_rate_limited_past_retries(world: World) -> None:
    # slack_sdk's RateLimitErrorRetryHandler(max_retry_count=2): three answers of 429 in a row.
    world.env.slack.rate_limit("C0LOCAL", times=3, retry_after=0)


def _slack_update_failing(world: World) -> None:
    world.env.slack.fail("chat.update", times=3, status=500, error="internal_error")


def _closed_channel(world: World) -> None:
    world.env.slack.closed_channels.add("C0LOCAL")


def _closed_channel_expired_response_url(world: World) -> None:
    world.env.slack.closed_channels.add("C0LOCAL")
    world.env.slack.fail("response_url", times=2, status=404, error="expired_url")  # status and result


def _response_url_rate_limited(world: World) -> None:
    world.env.slack.closed_channels.add("C0LOCAL")
    world.env.slack.fail("response_url", status=429, error="ratelimited", retry_after=0)


def _crash_after_images_stored(world: World) -> None:
    # PutItems of a job: idempotency record, progress after the post, progress after the
    # images (fail this one, through the SDK's three attempts), progress when done.
    world.aws.fail("PutItem", skip=2, times=3)


def _s3_put_failing(world: World) -> None:
    world.aws.fail("PUT", times=3, status=503, code="SlowDown")


CASES: list[tuple[str, Callable[[World], None], Outcome]] = [
    ("no fault", lambda world: None, POSTED_ONCE),
    ("endpoint throttled twice", _throttled, Outcome(3, 1, 1, 0, ())),
    (
        "endpoint unavailable on every delivery",
        _always_unavailable,
        Outcome(5, 1, 0, 1, ("the image service is busy or failing (ServiceUnavailable)",)),
    ),
    ("endpoint model error", _model_error, Outcome(1, 1, 0, 1, ("the model could not render this request",))),
    (
        "endpoint rejects the request",
        _validation_error,
        Outcome(1, 1, 0, 1, ("the image service refused the request (ValidationError)",)),
    ),
    (
        "endpoint answers with something not JSON",
        _malformed,
        Outcome(1, 1, 0, 1, ("the image service answered with something that is not JSON",)),
    ),
    (
        "endpoint returns an image that is not a JPEG",
        _not_jpeg,
        Outcome(1, 1, 0, 1, ("the image service returned an image that is not a JPEG",)),
    ),
    ("endpoint slower than the client timeout once", _slow_once, Outcome(2, 1, 1, 0, ())),
    ("Slack rate-limits the channel (429, Retry-After)", _channel_rate_limited, POSTED_ONCE),
    ("Slack rate-limits the channel past the SDK's retries", _channel_rate_limited_past_retries, POSTED_ONCE),
    ("Slack chat.update fails with 500 past the SDK's retries", _slack_update_failing, POSTED_ONCE),
    ("channel closed to the bot: response_url", _closed_channel, Outcome(1, 0, 1, 0, ())),
    (
        "channel closed and response_url expired: a direct message",
        _closed_channel_expired_response_url,
        Outcome(1, 1, 1, 0, ()),  # the one post is the bot's DM to the requester, with the image
    ),
    ("crash between storing the images and posting", _crash_after_images_stored, POSTED_ONCE),
    ("S3 PutObject fails past the SDK's retries", _s3_put_failing, Outcome(2, 1, 1, 0, ())),
    (
        "channel closed and response_url rate-limited (429, Retry-After)",
        _response_url_rate_limited,
        Outcome(1, 0, 1, 0, ()),
    ),
]


@pytest.mark.parametrize(
    ("fault", "outcome_expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_fault_ends_posted_once_or_told_and_dead_lettered(
    world: World, fault: Callable[[World], None], outcome_expected: Outcome
) -> None:
    fault(world)
    ack = run(world)
    assert "Queued" in str(ack["text"])
    assert outcome(world) == outcome_expected
    # Every injected fault really happened.
    assert not world.sagemaker.scripted
    assert [f.times for f in world.env.slack.faults] == [0] * len(world.env.slack.faults)
    assert [r.times for r in world.aws.rules] == [0] * len(world.aws.rules)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [({"Retry-After": ["3"]}, 3.0, 4.0), ({"retry-after": ["0"]}, 0.0, 0.0), ({}, 1.0, 2.0)],
    ids=["Retry-After: 3", "Retry-After: 0", "none"],
)
def test_a_rate_limit_waits_what_slack_asked_for(
    headers: dict[str, str | list[str]], low: float, high: float
) -> None:
    """Slack's 429 carries Retry-After, in seconds (https://docs.slack.dev/apis/web-api/rate-limits):
    the next try waits that long, with at most a second of jitter and never more than the wait
    itself. The stand-ins in the other tests ask for 0, so the waits asked for are checked here
    and slept through nowhere."""
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState

    from bot.slack.client import RetryAfterHandler

    waits: list[float] = []
    handler = RetryAfterHandler(max_retry_count=2, sleep=waits.append)
    state = RetryState()
    request = HttpRequest(method="POST", url="https://slack.com/api/chat.update", headers={})
    response = HttpResponse(status_code=429, headers=headers)
    assert handler.can_retry(state=state, request=request, response=response)
    handler.prepare_for_next_attempt(state=state, request=request, response=response)
    [wait] = waits
    assert low <= wait <= high and state.current_attempt == 1


def test_rate_limited_response_url_is_sent_again_after_retry_after(world: World) -> None:
    """Slack answers a webhook posted too fast with 429 and Retry-After
    (https://api.slack.com/docs/rate-limits): the message is sent again after that wait, not
    dropped. Here the first use of the response_url (the status message) is refused."""
    _response_url_rate_limited(world)
    run(world)
    assert [c.ok for c in world.env.slack.calls_to("response_url")] == [False, True, True]
    assert outcome(world) == Outcome(1, 0, 1, 0, ())


def test_duplicate_deliveries_render_and_post_once(world: World) -> None:
    call_http(command_event("a cyborg tiger"))
    services = process_services()
    [message] = services.sqs.receive_message(QueueUrl=services.settings.jobs_queue_url)["Messages"]
    for _ in range(3):  # SQS delivers at least once: the same body three times
        services.sqs.send_message(QueueUrl=services.settings.jobs_queue_url, MessageBody=message["Body"])
    services.sqs.delete_message(
        QueueUrl=services.settings.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
    )
    world.env.deliver_jobs()
    assert outcome(world) == POSTED_ONCE


def test_slack_retry_of_a_command_queues_nothing_more(world: World) -> None:
    event = command_event("a cyborg tiger", shape="http")
    first = ack_json(call_http(event))
    retry = dict(
        event, headers={**event["headers"], "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    )
    again = ack_json(call_http(retry))
    assert "Queued" in str(first["text"])
    assert "Already received" in str(again["text"])
    world.env.deliver_jobs()
    assert outcome(world) == POSTED_ONCE


def test_queue_down_at_acknowledgement_is_said_and_not_counted(world: World) -> None:
    world.aws.fail("SendMessage", times=3)
    ack = ack_json(call_http(command_event("a cyborg tiger --n 4")))
    assert "nothing was queued" in str(ack["text"])
    assert "Traceback" not in json.dumps(ack)
    # The reservation was given back: the whole quota is still there.
    world.setenv("DAILY_IMAGES_PER_USER", "4")
    assert "Queued" in str(ack_json(call_http(command_event("a second try --n 4")))["text"])


def test_job_store_down_at_acknowledgement_is_said(world: World) -> None:
    world.aws.fail("TransactWriteItems", times=3)
    ack = ack_json(call_http(command_event("a cyborg tiger")))
    assert "nothing was queued" in str(ack["text"])
    world.env.deliver_jobs()
    assert outcome(world) == Outcome(0, 0, 0, 0, ())


# DynamoDB's answer when another transaction holds one of the items: the command's record was
# fine ("None"), the workspace's counter conflicted. The reason codes and message are the ones
# documented for TransactWriteItems (docs.aws.amazon.com/amazondynamodb/latest/APIReference/
# API_TransactWriteItems.html, "TransactionCanceledException"); botocore does not retry it.
CONFLICT: dict[str, object] = {
    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
    "[None, None, TransactionConflict]",
    "CancellationReasons": [
        {"Code": "None"},
        {"Code": "None"},
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
    ],
}


def test_a_command_meeting_another_on_the_workspace_counter_is_still_queued(world: World) -> None:
    """Commands arriving together all add to their workspace's counter, so real DynamoDB cancels
    some of their transactions with TransactionConflict (moto never does); the quota transaction
    is tried again, and the command queued and counted once."""
    world.aws.fail(
        "TransactWriteItems", times=2, status=400, code="TransactionCanceledException", fields=CONFLICT
    )
    world.setenv("DAILY_IMAGES_PER_USER", "2")
    ack = run(world, "a cyborg tiger --n 2")
    assert str(ack["text"]).startswith("Queued"), ack
    assert world.aws.failed == ["TransactWriteItems"] * 2
    assert outcome(world) == POSTED_ONCE
    # Counted once: the day's two images are used up.
    refused = ack_json(call_http(command_event("one more")))
    assert "Queued" not in str(refused["text"])


def test_a_conflict_that_does_not_clear_says_nothing_was_queued(world: World) -> None:
    world.aws.fail(
        "TransactWriteItems", times=10, status=400, code="TransactionCanceledException", fields=CONFLICT
    )
    ack = ack_json(call_http(command_event("a cyborg tiger")))
    assert "nothing was queued" in str(ack["text"])
    assert len(world.aws.failed) == 5  # the first try and four more
    world.env.deliver_jobs()
    assert outcome(world) == Outcome(0, 0, 0, 0, ())


def test_redrive_sends_dead_lettered_jobs_back_to_run_again(world: World) -> None:
    _model_error(world)
    run(world)
    assert outcome(world).dead_letters == ("the model could not render this request",)

    from bot.local.cli import main

    services = process_services()
    assert main(["redrive", "--queue-url", services.settings.jobs_queue_url,
                 "--dead-letter-queue-url", services.settings.dead_letter_queue_url]) == 0  # fmt: skip
    world.env.deliver_jobs()
    after = outcome(world)
    assert after.endpoint_calls == 2  # the fixed endpoint is asked once more
    assert after.results == 1 and after.dead_letters == ()
    assert after.channel_posts == 1  # the original message is updated, not posted again


def test_an_expired_image_behind_least_privilege_answers_404(world: World) -> None:
    """Without s3:ListBucket, S3 answers 403 for a key that is gone; the link says 404."""
    run(world)
    [update] = world.env.slack.calls_to("chat.update")
    image = next(b for b in update.args["blocks"] if b["type"] == "image")
    path = "/images/" + image["image_url"].split("/images/", 1)[1]
    world.aws.fail("HEAD", times=1, status=403, code="AccessDenied")
    response = call_http(http_event("http", "GET", path))
    assert response["statusCode"] == 404
    assert call_http(http_event("http", "GET", path))["statusCode"] == 302  # the object is really there


# ---- retries, redelivery and dead workers ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
THROTTLED = Answer(400, b'{"message": "Rate exceeded"}', "ThrottlingException")
# Every DynamoDB operation the bot could call, for "DynamoDB down": each one fails.
DYNAMODB_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
)


def _queue_counts(queue_url: str) -> tuple[int, int]:
    """(messages receivable now, messages in flight): what SQS itself says about the queue."""
    attributes = process_services().sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    receivable, in_flight = (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    )
    return int(receivable), int(in_flight)


def _receive(max_messages: int = 10) -> list[dict[str, Any]]:
    """Take queued jobs as Lambda's event source does (they stay hidden for the queue's 720 s)."""
    services = process_services()
    answer = services.sqs.receive_message(
        QueueUrl=services.settings.jobs_queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["All"],
    )
    return [dict(message) for message in answer.get("Messages", [])]


def _event(message: dict[str, Any]) -> dict[str, Any]:
    services = process_services()
    arn = services.sqs.get_queue_attributes(
        QueueUrl=services.settings.jobs_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return to_event([message], arn, "us-east-1")


def _visible_again(message: dict[str, Any]) -> None:
    """The message's visibility timeout has run out: SQS may deliver it again (here, at once)."""
    services = process_services()
    services.sqs.change_message_visibility(
        QueueUrl=services.settings.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def _max_receives(world: World, count: int) -> None:
    """MAX_RECEIVE_COUNT and the queue's redrive policy, kept equal as the template keeps them."""
    world.setenv("MAX_RECEIVE_COUNT", str(count))
    services = process_services()
    queue_url = services.settings.jobs_queue_url
    policy = json.loads(
        services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    policy["maxReceiveCount"] = count
    services.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": json.dumps(policy)})


def _deliver_until_settled(poller: Poller, polls: int = 4) -> None:
    """Run the poller, long-polling, until the queue holds nothing, hidden or not."""
    queue_url = process_services().settings.jobs_queue_url
    for _ in range(polls):
        poller.poll_once()
        if _queue_counts(queue_url) == (0, 0):
            return
    raise AssertionError(f"the job never settled: {_queue_counts(queue_url)} (receivable, in flight)")


def test_throttled_job_comes_back_after_a_short_backoff_saying_retrying(world: World) -> None:
    """A retryable failure hands the job back with ChangeMessageVisibility, to come back after
    a short backoff.

    With ReportBatchItemFailures Lambda leaves a failed message alone, so it would come back only
    when the queue's visibility timeout (720 s) ends
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). The poller
    here leaves visibility to the worker, as Lambda does.
    """
    world.setenv("RENDER_BUDGET_SECONDS", "0")  # one endpoint call per delivery
    world.setenv("RETRY_BACKOFF_SECONDS", "2,5")
    world.sagemaker.scripted.append(THROTTLED)
    services = process_services()
    queue_url = services.settings.jobs_queue_url
    visibility = services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    assert visibility["Attributes"]["VisibilityTimeout"] == "720"
    ack_json(call_http(command_event("a cyborg tiger")))
    poller = Poller(services.sqs, queue_url, wait_seconds=0)  # redeliver_after=None: as Lambda

    assert poller.poll_once() == 1
    assert _queue_counts(queue_url) == (0, 1)  # handed back, hidden for now
    [retrying] = world.env.slack.calls_to("chat.update")
    assert "retrying" in json.dumps(retrying.args, ensure_ascii=False)
    assert "ThrottlingException" in json.dumps(retrying.args)

    poller.wait_seconds = 20  # far shorter than 720 s: only the worker's backoff brings it back
    assert poller.poll_once() == 1
    assert _queue_counts(queue_url) == (0, 0)
    assert outcome(world) == Outcome(2, 1, 1, 0, ())
    assert world.env.slack.calls_to("chat.update")[-1].args["ts"] == retrying.args["ts"]


def test_a_retried_job_says_painting_again_while_it_renders(world: World) -> None:
    """The message said "retrying in about N s" after the first delivery; the next delivery
    says "painting" again before it calls the endpoint, then shows the result."""
    world.setenv("RENDER_BUDGET_SECONDS", "0")  # one endpoint call per delivery
    world.sagemaker.scripted.append(THROTTLED)

    run(world)

    updates = [c for c in world.env.slack.calls_to("chat.update") if c.ok]
    assert [c.args["text"].split(":", 1)[0] for c in updates] == ["Retrying", "Painting", "Imagined"]
    assert len({c.args["ts"] for c in updates}) == 1  # the one message, throughout
    assert outcome(world) == Outcome(2, 1, 1, 0, ())


def test_a_painting_note_slack_refuses_does_not_stop_the_render(world: World) -> None:
    """Saying "painting" again is best effort: with the channel rate-limited past the SDK's
    retries just then, the job still renders and its result is shown."""
    world.setenv("RENDER_BUDGET_SECONDS", "0")
    world.sagemaker.scripted.append(THROTTLED)
    ack_json(call_http(command_event("a cyborg tiger")))
    services = process_services()
    poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0)
    assert poller.poll_once() == 1  # throttled: handed back, "retrying" shown
    world.env.slack.rate_limit("C0LOCAL", times=3, retry_after=0)  # the "painting" note's three tries

    world.env.deliver_jobs()

    updates = world.env.slack.calls_to("chat.update")
    assert [(c.ok, c.error) for c in updates] == [(True, "")] + [(False, "ratelimited")] * 3 + [(True, "")]
    shown = [c.args["text"].split(":", 1)[0] for c in updates]
    assert shown == ["Retrying"] + ["Painting"] * 3 + ["Imagined"]  # the result in the same delivery
    assert outcome(world) == Outcome(2, 1, 1, 0, ())


@pytest.mark.parametrize("limited", [1, 3], ids=["once", "past the SDK's retries"])
def test_a_channel_rate_limited_when_the_result_is_shown_gets_it_once(world: World, limited: int) -> None:
    """Slack limits chat.update per channel too, answering 429 with Retry-After
    (https://docs.slack.dev/apis/web-api/rate-limits). The job's message and images exist from
    an earlier delivery (it stopped after storing them); the channel is rate-limited when the
    next delivery shows the result: it is sent again after Retry-After, or, past the SDK's
    retries, on the delivery after that, and never rendered again."""
    _crash_after_images_stored(world)
    ack_json(call_http(command_event("a cyborg tiger")))
    services = process_services()
    poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0)
    assert poller.poll_once() == 1  # posted, rendered, stored; the job store failed after that
    world.env.slack.rate_limit("C0LOCAL", times=limited, retry_after=0)

    world.env.deliver_jobs()

    updates = world.env.slack.calls_to("chat.update")
    retrying, result = updates[0], updates[-1]
    assert "retrying" in json.dumps(retrying.args)
    assert [(c.ok, c.error) for c in updates[1:]] == [(False, "ratelimited")] * limited + [(True, "")]
    assert result.args["text"].startswith("Imagined") and result.args["ts"] == retrying.args["ts"]
    assert outcome(world) == POSTED_ONCE
    assert [r.times for r in world.aws.rules] == [0]


def test_dynamodb_down_for_good_the_requester_is_still_told(world: World) -> None:
    """Every DynamoDB call fails from the moment the job is queued: the give-up path meets a
    DynamoDB still down, and the requester is told all the same."""
    ack = ack_json(call_http(command_event("a cyborg tiger")))
    assert "Queued" in str(ack["text"])
    for operation in DYNAMODB_OPERATIONS:
        world.aws.fail(operation, times=10_000)

    world.env.deliver_jobs()

    assert outcome(world) == Outcome(0, 1, 0, 1, ("a storage service failed (PutItem)",))
    [told] = [c for c in world.env.slack.calls_to("chat.postMessage") if c.ok]
    assert "could not be rendered" in told.args["text"]
    # The worker tried to claim, read, record and refund, and not one of those calls got through:
    # the table, read behind the proxy's back, holds only what the acknowledgement wrote.
    assert {r.operation for r in world.aws.rules if r.seen} >= {"PutItem", "GetItem", "UpdateItem"}
    table = boto3.client("dynamodb", endpoint_url=world.aws.upstream, region_name="us-east-1")
    items = table.scan(TableName=process_services().settings.jobs_table)["Items"]
    assert sorted(item["pk"]["S"].split("#")[0] for item in items) == ["command", "quota", "quota"]


def test_dynamodb_down_in_a_closed_channel_with_its_response_url_used_up_tells_by_dm(world: World) -> None:
    """No message was ever posted (the job store failed first), the channel is closed to the bot
    and its response_url used up: the failure note still reaches the requester, by DM."""
    world.env.slack.closed_channels.add("C0LOCAL")
    response_url = world.env.slack.response_url("used-up")
    use_up(response_url)
    ack_json(call_http(command_event("a cyborg tiger", response_url=response_url)))
    for operation in DYNAMODB_OPERATIONS:
        world.aws.fail(operation, times=10_000)

    world.env.deliver_jobs()

    dm = world.env.slack.dm_channel("U0LOCAL")
    [told] = [c for c in world.env.slack.calls_to("chat.postMessage") if c.ok]
    assert told.args["channel"] == dm and "could not be rendered" in told.args["text"]
    assert world.env.dead_letter_reasons() == ["a storage service failed (PutItem)"]


def test_two_deliveries_at_once_call_the_endpoint_once(world: World) -> None:
    """Two copies of one job delivered to two workers at the same moment: one renders, the
    other finds it claimed, is handed back, and on its next delivery finds it done."""
    world.sagemaker.scripted.append(Answer(delay=1.5))  # the render the second delivery meets
    call_http(command_event("a cyborg tiger"))
    services = process_services()
    queue_url = services.settings.jobs_queue_url
    [original] = _receive()
    for _ in range(2):
        services.sqs.send_message(QueueUrl=queue_url, MessageBody=original["Body"])
    services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=original["ReceiptHandle"])
    copies = _receive()
    while len(copies) < 2:
        copies += _receive()
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def deliver(message: dict[str, Any]) -> None:
        start.wait()
        results[message["MessageId"]] = handlers.worker_handler(
            _event(message), LocalContext("imagine-worker")
        )

    workers = [threading.Thread(target=deliver, args=(m,)) for m in copies]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    failed = {f["itemIdentifier"] for r in results.values() for f in r["batchItemFailures"]}
    for message in copies:
        if message["MessageId"] in failed:
            _visible_again(message)
        else:
            services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    world.env.deliver_jobs()
    assert len(results) == 2
    assert outcome(world) == POSTED_ONCE


def test_redrive_moves_more_than_ten_dead_lettered_jobs(world: World) -> None:
    """SQS hands out at most 10 messages a receive: redrive must keep going past the first 10."""
    jobs = 12
    world.sagemaker.scripted.extend([Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError")] * jobs)
    for n in range(jobs):
        ack_json(call_http(command_event(f"a cyborg tiger number {n}")))
    world.env.deliver_jobs(jobs + 5)
    services = process_services()
    dead_letter_queue_url = services.settings.dead_letter_queue_url
    assert _queue_counts(dead_letter_queue_url) == (jobs, 0)

    from bot.local.cli import main

    assert main(["redrive", "--queue-url", services.settings.jobs_queue_url,
                 "--dead-letter-queue-url", dead_letter_queue_url]) == 0  # fmt: skip
    assert _queue_counts(dead_letter_queue_url) == (0, 0)
    assert _queue_counts(services.settings.jobs_queue_url) == (jobs, 0)
    world.env.deliver_jobs(jobs + 5)
    after = outcome(world)
    assert after.endpoint_calls == 2 * jobs and after.results == jobs and after.dead_letters == ()
    assert after.channel_posts == jobs  # each original message updated, none posted again


def test_quota_release_after_midnight_gives_back_the_day_the_job_was_counted_on(world: World) -> None:
    """A job accepted at 23:59:59 UTC that fails after midnight gives its images back to the
    day it was counted on (job.created), not to the day it failed."""
    limit = 4
    world.setenv("DAILY_IMAGES_PER_USER", str(limit))
    services = process_services()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    before_midnight = today - timedelta(seconds=1)
    guards = Guards(daily_images_per_user=limit, daily_images_per_workspace=0)
    # What the acknowledgement did last night: count the images, queue the job.
    reservation = services.quotas.reserve(
        team_id="T0LOCAL",
        user_id="U0LOCAL",
        images=limit,
        command_id="last-night",
        guards=guards,
        now=before_midnight,
    )
    assert reservation.accepted
    request = ImageRequest(prompt="a cyborg tiger at midnight", count=limit, seed=3)
    job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request,
                  now=before_midnight.timestamp())  # fmt: skip
    services.queue.send(job)
    world.sagemaker.scripted.append(Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError"))

    world.env.deliver_jobs()  # today, after midnight

    assert outcome(world).dead_letters == ("the model could not render this request",)

    def room(now: datetime) -> bool:
        probe = f"probe-{now:%j}"
        return services.quotas.reserve(
            team_id="T0LOCAL", user_id="U0LOCAL", images=limit, command_id=probe, guards=guards, now=now
        ).accepted

    assert room(before_midnight)  # last night's count was given back
    assert room(today + timedelta(hours=1)) and not room(today + timedelta(hours=2))  # today untouched


# A worker killed mid-render. Lambda stops a function at its timeout, or when it runs
# out of memory or crashes, with no chance to clean up: Powertools' idempotency record then
# stays "in progress" until its in_progress_expiration, which Powertools sets from the Lambda
# context's remaining time (aws-powertools/powertools-lambda-python PR 1387).


def _killed_mid_render(world: World, timeout: float | None) -> dict[str, Any]:
    """Queue a job, deliver it to a worker process, SIGKILL it while the endpoint renders;
    return the SQS message it was handling (still hidden for the queue's visibility timeout)."""
    ack_json(call_http(command_event("a cyborg tiger")))
    [message] = _receive()
    world.sagemaker.scripted.append(Answer(delay=30.0))  # the render it dies in
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.run_worker", *([] if timeout is None else [str(timeout)])],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert worker.stdin is not None
    worker.stdin.write(json.dumps(_event(message)).encode())
    worker.stdin.close()
    for _ in range(1200):
        if world.sagemaker.invocations or worker.poll() is not None:
            break
        time.sleep(0.05)
    assert world.sagemaker.invocations, worker.stderr.read().decode() if worker.stderr else "no render"
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    return message


def _claims() -> list[dict[str, Any]]:
    """Powertools' idempotency records still "in progress", as DynamoDB holds them."""
    services = process_services()
    items: list[dict[str, Any]] = services.dynamodb.scan(
        TableName=services.settings.jobs_table,
        FilterExpression="#s = :inprogress",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":inprogress": {"S": "INPROGRESS"}},
    )["Items"]
    return items


@pytest.mark.spawns
def test_a_killed_workers_claim_lapses_before_its_message_comes_back(world: World) -> None:
    """The claim of a worker that died never outlives its delivery: it lapses within the
    function's timeout (infra/template.yaml), well before the queue's visibility timeout brings
    the job back. A claim outliving that would turn every redelivery away."""
    services = process_services()
    visibility = int(services.sqs.get_queue_attributes(
        QueueUrl=services.settings.jobs_queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"])  # fmt: skip
    received_at = time.time()

    _killed_mid_render(world, timeout=None)  # the local context, with its default timeout

    [claim] = _claims()
    lapses_at = int(claim["in_progress_expiration"]["N"]) / 1000
    assert received_at < lapses_at <= time.time() + function_timeout()
    assert lapses_at < received_at + visibility


@pytest.mark.spawns
@pytest.mark.parametrize("receives", [3, 2], ids=["claim lapses before the last delivery",
                                               "last delivery waits for the claim"])  # fmt: skip
def test_job_killed_mid_render_is_taken_over_and_posted_once(world: World, receives: int) -> None:
    """Killed mid-render, then delivered again before the dead worker's claim lapsed: the
    delivery that finds it claimed is handed back until the claim lapses (or, on the last
    delivery, waits for it), and the job is then rendered and posted once, never left
    "Rendering…" for SQS to dead-letter without a reason. The render budget and the endpoint's
    timeout are the deployed defaults, and the worker has the deployed function's timeout: a
    take-over on the last delivery fits in it by rendering with the time left."""
    _max_receives(world, receives)
    message = _killed_mid_render(world, timeout=3)
    assert len(_claims()) == 1

    _visible_again(message)
    services = process_services()
    _deliver_until_settled(Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=10))

    assert outcome(world) == Outcome(2, 1, 1, 0, ())  # the dead worker's call, then one render
    assert _claims() == []


def test_each_local_context_has_its_own_functions_timeout() -> None:
    """The http handler's context runs out with the http function's Timeout, the worker's with
    the worker's, as infra/template.yaml sets them: an http request must not get a render's
    time."""
    from bot.local.lambda_context import HTTP_RESOURCE, WORKER_RESOURCE
    from bot.local.template import load

    timeouts = {
        name: load()["Resources"][name]["Properties"]["Timeout"] for name in (HTTP_RESOURCE, WORKER_RESOURCE)
    }
    assert timeouts[HTTP_RESOURCE] < timeouts[WORKER_RESOURCE]
    for resource, timeout in timeouts.items():
        remaining = LocalContext("imagine-test", resource).get_remaining_time_in_millis() / 1000
        assert timeout - 1 < remaining <= timeout


@pytest.mark.spawns
def test_job_killed_mid_render_is_given_up_properly_when_it_cannot_be_taken_over(world: World) -> None:
    """The last delivery finds the job claimed for longer than it can wait and still render:
    it gives up in time: the requester is told, the job is dead-lettered with its reason, and
    its images go back to the quota."""
    _max_receives(world, 2)
    world.setenv("DAILY_IMAGES_PER_USER", "1")
    message = _killed_mid_render(world, timeout=60)
    _visible_again(message)
    services = process_services()
    poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=10, timeout_seconds=8)

    _deliver_until_settled(poller, polls=1)

    assert outcome(world) == Outcome(1, 1, 0, 1, (INTERRUPTED,))
    [update] = [c for c in world.env.slack.calls_to("chat.update") if c.ok]
    assert "not rendered" in json.dumps(update.args)
    assert "Queued" in str(ack_json(call_http(command_event("a second try")))["text"])  # quota given back
