"""Fault injection: every accepted /imagine ends posted once, or told and dead-lettered.

Each case breaks one thing at the network boundary (the SageMaker stand-in, the Slack recorder,
or a proxy in front of moto), sends a signed command through http_handler, lets the worker run
the way Lambda's SQS event source would (redelivering what fails, up to the queue's receive
limit), and checks the exact end state: endpoint calls, channel posts, results, what the
requester was told, and what sits in the dead-letter queue. The README's reliability table is
this list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot import handlers
from bot.local.poller import Poller
from tests.conftest import Stack, ack_json, call_http, command_event, http_event
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
        handlers.reset()


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
    handlers.reset()
    yield World(env, sagemaker, proxy, monkeypatch)
    proxy.stop()


@dataclass(frozen=True)
class Outcome:
    endpoint_calls: int
    channel_posts: int  # successful chat.postMessage outside threads (status or failure messages)
    results: int  # successful messages carrying the images
    told: int  # failure notes the requester received
    dead_letters: tuple[str, ...]  # reasons on the jobs in the dead-letter queue


def settle(world: World, deliveries: int = 10) -> None:
    """Deliver queued jobs to worker_handler until none is left, failed ones again at once."""
    services = handlers.services()
    poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0)
    for _ in range(deliveries):
        if not poller.poll_once():
            return
    raise AssertionError("the job never settled")


def outcome(world: World) -> Outcome:
    calls = [c for c in world.env.slack.snapshot() if c.ok]
    texts = [json.dumps(c.args) for c in calls]
    services = handlers.services()
    dead: list[Any] = services.sqs.receive_message(
        QueueUrl=services.settings.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,  # look without taking
    ).get("Messages", [])
    return Outcome(
        endpoint_calls=len(world.sagemaker.invocations),
        channel_posts=sum(c.method == "chat.postMessage" and not c.args.get("thread_ts") for c in calls),
        results=sum('"type": "image"' in t for t in texts),
        told=sum("could not be rendered" in t for t in texts),
        dead_letters=tuple(
            m.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "") for m in dead
        ),
    )


def run(world: World, text: str = "a cyborg tiger --seed 3") -> dict[str, object]:
    ack = ack_json(call_http(command_event(text, response_url=world.env.slack.response_url())))
    settle(world)
    return ack


POSTED_ONCE = Outcome(endpoint_calls=1, channel_posts=1, results=1, told=0, dead_letters=())


def _throttled(world: World) -> None:
    throttle = Answer(400, b'{"message": "Rate exceeded"}', "ThrottlingException")
    world.sagemaker.scripted.extend([throttle, throttle])


def _always_unavailable(world: World) -> None:
    world.setenv("RENDER_BUDGET_SECONDS", "0")  # no retry inside a delivery: one call each
    world.sagemaker.scripted.extend([Answer(503, b'{"message": "busy"}', "ServiceUnavailable")] * 3)


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


def _slack_rate_limited(world: World) -> None:
    world.env.slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=1)


def _slack_update_failing(world: World) -> None:
    world.env.slack.fail("chat.update", times=3, status=500, error="internal_error")


def _closed_channel(world: World) -> None:
    world.env.slack.closed_channels.add("C0LOCAL")


def _closed_channel_expired_response_url(world: World) -> None:
    world.env.slack.closed_channels.add("C0LOCAL")
    world.env.slack.fail("response_url", times=2, status=404, error="expired_url")  # status and result


def _crash_after_images_stored(world: World) -> None:
    # PutItems of a job: idempotency record, progress after the post, progress after the
    # images (fail this one, through the SDK's three attempts), progress when done.
    world.aws.fail("PutItem", skip=2, times=3)


def _s3_put_failing(world: World) -> None:
    world.aws.fail("PUT", times=3, status=503, code="SlowDown")


def _dynamodb_down_for_the_job(world: World) -> None:
    world.aws.fail("GetItem", times=9)  # three deliveries of three SDK attempts each


CASES: list[tuple[str, Callable[[World], None], Outcome]] = [
    ("no fault", lambda world: None, POSTED_ONCE),
    ("endpoint throttled twice", _throttled, Outcome(3, 1, 1, 0, ())),
    (
        "endpoint unavailable on every delivery",
        _always_unavailable,
        Outcome(3, 1, 0, 1, ("the image service is busy or failing (ServiceUnavailable)",)),
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
    ("Slack rate-limits chat.postMessage (429, Retry-After)", _slack_rate_limited, POSTED_ONCE),
    ("Slack chat.update fails with 500 past the SDK's retries", _slack_update_failing, POSTED_ONCE),
    ("channel closed to the bot: response_url", _closed_channel, Outcome(1, 0, 1, 0, ())),
    (
        "channel closed and response_url expired",
        _closed_channel_expired_response_url,
        Outcome(1, 0, 0, 0, ()),
    ),
    ("crash between storing the images and posting", _crash_after_images_stored, POSTED_ONCE),
    ("S3 PutObject fails past the SDK's retries", _s3_put_failing, Outcome(2, 1, 1, 0, ())),
    (
        "DynamoDB down for every delivery",
        _dynamodb_down_for_the_job,
        Outcome(0, 1, 0, 1, ("a storage service failed (GetItem)",)),
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


def test_duplicate_deliveries_render_and_post_once(world: World) -> None:
    call_http(command_event("a cyborg tiger"))
    services = handlers.services()
    [message] = services.sqs.receive_message(QueueUrl=services.settings.jobs_queue_url)["Messages"]
    for _ in range(2):  # SQS delivers at least once: the same body again
        services.sqs.send_message(QueueUrl=services.settings.jobs_queue_url, MessageBody=message["Body"])
    services.sqs.delete_message(
        QueueUrl=services.settings.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
    )
    settle(world)
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
    settle(world)
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
    settle(world)
    assert outcome(world) == Outcome(0, 0, 0, 0, ())


def test_redrive_sends_dead_lettered_jobs_back_to_run_again(world: World) -> None:
    _model_error(world)
    run(world)
    assert outcome(world).dead_letters == ("the model could not render this request",)

    from bot.local.cli import main

    services = handlers.services()
    assert main(["redrive", "--queue-url", services.settings.jobs_queue_url,
                 "--dead-letter-queue-url", services.settings.dead_letter_queue_url]) == 0  # fmt: skip
    settle(world)
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
