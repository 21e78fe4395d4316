"""IMAGE_BACKEND=sagemaker-async: the worker submits to an asynchronous endpoint and finishes at
once; the endpoint's notification comes back through SNS and the notifications queue, and
notifier_handler delivers the images exactly as the real-time path does.

The endpoint is tests/fakes/sagemaker_async.py, reached by boto3 at
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (InvokeEndpointAsync) and AWS_ENDPOINT_URL_SAGEMAKER
(DescribeEndpoint); it reads the request from moto's S3, writes its answer there and publishes to
SNS in moto, which delivers to the notifications queue provisioned as infra/template.yaml has it.
Both functions run through their Lambda entry points, with SQS events as their event sources
make them; the sweep runs as EventBridge's schedule invokes it.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import handlers
from bot.backends.sagemaker import ACCEPT, CONTENT_TYPE
from bot.blocks.messages import WARMING_UP
from bot.local.lambda_context import LocalContext
from bot.local.poller import NOTIFIER_FUNCTION, NOTIFIER_RESOURCE, scheduled_event
from bot.local.provision import Notifications, provision_notifications
from bot.model.job import Job
from bot.services import process_services, reset_process_services
from bot.worker.async_answers import parse
from tests.conftest import Stack, call_http, call_worker, command_event, open_link
from tests.fakes.aws_faults import FaultProxy
from tests.fakes.jumpstart_contract import request_problems
from tests.fakes.sagemaker_async import MODEL_FAILED, AsyncStandIn, Outcome

KEY = re.compile(r"^images/T0LOCAL/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}/\d\.jpg$")
NOTIFICATIONS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "sagemaker_async_notifications.json").read_text()
)
NO_FAILURES: dict[str, Any] = {"batchItemFailures": []}
ASYNC = "async-"  # async-inputs/, async-outputs/ and async-failures/: the endpoint's requests and answers
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notifications(env: Stack, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Notifications:
    """The notifications queue and the endpoint's two topics, as the stack makes them."""
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker-async")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    name = "notifications-" + env.resources.table.removeprefix("jobs-")
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", f"{moto_url}/123456789012/{name}")
    reset_process_services()
    made = provision_notifications(process_services())
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", made.queue_url)
    reset_process_services()
    return made


@pytest.fixture
def endpoint(
    env: Stack, moto_url: str, notifications: Notifications, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AsyncStandIn]:
    """The asynchronous endpoint, deployed with the stack's paths and topics, one instance up."""
    bucket = env.resources.bucket
    stand_in = AsyncStandIn(
        aws_url=moto_url,
        output_path=f"s3://{bucket}/async-outputs/",
        failure_path=f"s3://{bucket}/async-failures/",
        success_topic=notifications.success_topic_arn,
        error_topic=notifications.error_topic_arn,
        instances=1,
    ).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stand_in.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stand_in.url)
    reset_process_services()
    yield stand_in
    stand_in.stop()


def call_notifier(event: dict[str, Any]) -> dict[str, Any]:
    context = LocalContext(NOTIFIER_FUNCTION + "-test", NOTIFIER_RESOURCE)
    return dict(handlers.notifier_handler(event, context))


def notified(env: Stack, notifications: Notifications) -> dict[str, Any]:
    """What the notifications queue holds, as its event source hands it to the notifier."""
    return env.sqs_event(notifications.queue_url)


def queued(env: Stack, queue_url: str) -> int:
    attributes = env.services.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def sweep(at: float | None = None) -> dict[str, Any]:
    return call_notifier(scheduled_event(at))


def submit(env: Stack, text: str = "a cyborg tiger --seed 42") -> Job:
    """/imagine, and the worker's turn: the job as the worker got it."""
    assert call_http(command_event(text))["statusCode"] == 200
    event = env.sqs_event()
    job = Job.from_json(event["Records"][0]["body"])
    assert call_worker(event) == NO_FAILURES
    return job


def _results(env: Stack) -> list[dict[str, Any]]:
    """Every message update that shows images."""
    return [
        c.args
        for c in env.slack.calls_to("chat.update")
        if c.ok and any(b["type"] == "image" for b in c.args["blocks"])
    ]


# ---- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "in its SNS envelope"])
def test_the_documented_notifications_are_read(raw: bool) -> None:
    for name in ("completed", "failed"):
        notification = NOTIFICATIONS[name]
        body = json.dumps(notification)
        if not raw:  # as SNS delivers to SQS without raw message delivery
            body = json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn", "Message": body})
        note = parse(body)
        assert note.inference_id == "11111111-2222-3333-4444-555555555555"
        assert note.status == notification["invocationStatus"]
        assert note.seconds == pytest.approx(0.153)
    assert parse(json.dumps(NOTIFICATIONS["completed"])).output_location.endswith("/prediction.out")
    assert parse(json.dumps(NOTIFICATIONS["failed"])).failure_reason.startswith("ClientError: ")


def test_the_stand_in_notifies_in_the_documented_shape(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.scripted += [Outcome(), Outcome(failure="CUDA out of memory")]
    submit(env)
    submit(env, "a second tiger")
    assert endpoint.work() == 2
    completed, failed = endpoint.published
    assert set(completed) == set(NOTIFICATIONS["completed"])
    assert set(completed["requestParameters"]) == set(NOTIFICATIONS["completed"]["requestParameters"])
    assert set(failed) == set(NOTIFICATIONS["failed"])
    assert failed["failureReason"] == MODEL_FAILED == NOTIFICATIONS["failed"]["failureReason"]


# ---- the render, submitted and delivered ------------------------------------------------------


def test_a_job_is_submitted_then_delivered_by_the_notifier(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    job = submit(env, "a cyborg tiger --ar 16:9 --seed 42 --n 2 --no text, blurry --steps 25 --cfg 9")

    # The worker wrote the JumpStart request to S3 and queued it; nothing is rendered yet.
    [request] = endpoint.requests
    assert request.endpoint == "sd-21-base"
    assert request.inference_id == job.job_id
    assert request.input_location == f"s3://{env.resources.bucket}/async-inputs/{job.job_id}.json"
    assert request.headers["x-amzn-sagemaker-content-type"] == CONTENT_TYPE
    assert request.headers["x-amzn-sagemaker-accept"] == ACCEPT
    [(key, raw)] = env.stored("async-inputs/").items()
    assert f"s3://{env.resources.bucket}/{key}" == request.input_location
    body = json.loads(raw)
    assert body == {
        "prompt": "a cyborg tiger",
        "negative_prompt": "text, blurry",
        "width": 680,
        "height": 384,
        "num_inference_steps": 25,
        "guidance_scale": 9.0,
        "seed": 42,
        "num_images_per_prompt": 2,
    }
    assert request_problems(body) == []
    [posted] = env.slack.calls_to("chat.postMessage")
    assert "painting since" in json.dumps(posted.args["blocks"])
    assert env.slack.calls_to("chat.update") == []
    assert env.stored("images/") == {}
    progress = env.services.store.load(job.job_id)
    assert progress.status == "submitted"
    assert progress.inference is not None
    assert progress.inference.output_location == request.output_location
    assert progress.inference.failure_location == request.failure_location

    # The GPU's turn; then the notification reaches the notifier through SNS and SQS.
    assert endpoint.work() == 1
    assert call_notifier(notified(env, notifications)) == NO_FAILURES

    stored = env.stored("images/")
    assert len(stored) == 2 and all(KEY.match(k) for k in stored)
    head = env.services.s3.head_object(Bucket=env.resources.bucket, Key=sorted(stored)[0])
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"]["backend"] == "sagemaker-async" and head["Metadata"]["seed"] == "42"
    [result] = _results(env)
    assert result["ts"] == env.services.store.load(job.job_id).message["ts"]  # the message posted
    images = [b for b in result["blocks"] if b["type"] == "image"]
    assert {open_link(b["image_url"]) for b in images} == set(stored.values())
    context = json.dumps(result["blocks"], ensure_ascii=False)
    assert "seed 42" in context and "680×384" in context and "rendered in" in context
    assert any(b["type"] == "actions" for b in result["blocks"])  # the same result, buttons and all
    assert len(env.slack.calls_to("chat.postMessage")) == 1
    assert env.services.store.load(job.job_id).status == "done"
    assert env.dead_letters() == []


def test_the_message_says_the_gpu_is_warming_up_while_the_endpoint_is_at_zero(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.instances = 0
    job = submit(env)

    assert endpoint.described == 1
    [posted] = env.slack.calls_to("chat.postMessage")
    assert WARMING_UP in json.dumps(posted.args["blocks"]) and "Warming up the GPU" in posted.args["text"]
    assert "painting" not in json.dumps(posted.args["blocks"])

    endpoint.work()  # an instance starts, and renders
    assert endpoint.instances == 1
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    [result] = _results(env)
    assert result["ts"] == env.services.store.load(job.job_id).message["ts"]
    assert WARMING_UP not in json.dumps(result["blocks"])

    reset_process_services()  # a new container asks afresh: the endpoint is up now
    submit(env, "another tiger")
    latest = env.slack.calls_to("chat.postMessage")[-1]
    assert "painting since" in json.dumps(latest.args["blocks"]) and WARMING_UP not in json.dumps(latest.args)


def test_a_model_error_is_told_in_the_thread_and_dead_lettered_with_the_endpoints_reason(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.scripted.append(Outcome(failure="CUDA out of memory"))
    job = submit(env, "a tiger made of smaller tigers")
    endpoint.work()
    assert call_notifier(notified(env, notifications)) == NO_FAILURES

    [_posted, reply] = env.slack.calls_to("chat.postMessage")
    assert reply.args["thread_ts"] == env.services.store.load(job.job_id).message["ts"]
    said = "ClientError: Received server error (500) from model"
    assert "could not be rendered" in reply.args["text"] and said in reply.args["text"]
    assert "See the SageMaker" not in reply.args["text"]  # the pointer to the logs is for an admin
    [failed] = env.slack.calls_to("chat.update")
    assert "not rendered" in json.dumps(failed.args["blocks"])
    assert env.stored("images/") == {}
    [dead] = env.dead_letters()
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == f"the model could not render this request ({said})"
    assert Job.from_json(dead["Body"]).job_id == job.job_id  # `imagine-bot redrive` can send it back
    assert env.services.store.load(job.job_id).status == "failed"


def test_the_same_notification_delivered_twice_posts_once(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.scripted.append(Outcome(notifications=2))
    submit(env, "a tiger --n 2")
    endpoint.work()
    event = notified(env, notifications)
    assert len(event["Records"]) == 2

    assert call_notifier(event) == NO_FAILURES

    assert len(_results(env)) == 1
    assert len(env.stored("images/")) == 2
    assert len(env.slack.calls_to("chat.postMessage")) == 1
    assert sweep() == NO_FAILURES  # and the sweep finds nothing left to do
    assert len(_results(env)) == 1


def test_a_lost_notification_is_found_by_the_sweep_and_posted_once(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.scripted.append(Outcome(notifications=0))
    job = submit(env)
    endpoint.work()
    assert queued(env, notifications.queue_url) == 0
    assert len(env.stored("async-outputs/")) == 1  # the answer is there, nobody was told

    assert sweep() == NO_FAILURES

    [result] = _results(env)
    assert len([b for b in result["blocks"] if b["type"] == "image"]) == 1
    assert env.services.store.load(job.job_id).status == "done"
    assert env.stored(ASYNC) == {}  # the sweep deleted the request and the answer it used
    assert sweep() == NO_FAILURES
    assert len(_results(env)) == 1 and len(env.slack.calls_to("chat.postMessage")) == 1


def test_an_overdue_job_is_given_up_by_the_sweep_and_its_late_answer_posts_nothing(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    job = submit(env)
    assert sweep() == NO_FAILURES  # not yet overdue: left waiting
    assert env.slack.calls_to("chat.update") == [] and env.dead_letters() == []

    ttl = env.services.settings.async_request_ttl_seconds
    assert sweep(time.time() + ttl + 3600) == NO_FAILURES

    [_posted, reply] = env.slack.calls_to("chat.postMessage")
    assert "did not answer within" in reply.args["text"]
    [dead] = env.dead_letters()
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith(
        "the image service did not answer within"
    )
    assert env.services.store.load(job.job_id).status == "failed"

    assert env.stored(ASYNC) == {}  # the request went with the job

    endpoint.work()  # the endpoint answers after all
    assert env.stored(ASYNC)
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    assert _results(env) == [] and env.stored("images/") == {}
    assert len(env.dead_letters()) == 1
    assert env.stored(ASYNC) == {}  # an answer nobody will use is deleted on arrival


def test_the_same_job_delivered_twice_is_submitted_once(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    assert call_http(command_event("a tiger"))["statusCode"] == 200
    event = env.sqs_event()
    assert call_worker(event) == NO_FAILURES
    assert call_worker(event) == NO_FAILURES  # SQS delivers at least once
    assert len(endpoint.requests) == 1
    assert len(env.slack.calls_to("chat.postMessage")) == 1


def test_an_endpoint_that_does_not_exist_is_said_and_dead_lettered(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.endpoints = ("SD-21-Base",)  # created with capitals, which the setting leaves out
    submit(env)
    reply = env.slack.calls_to("chat.postMessage")[-1]
    assert "the image endpoint does not exist" in reply.args["text"]
    [dead] = env.dead_letters()
    assert "SAGEMAKER_ENDPOINT_NAME" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert endpoint.queued == []


def test_an_unreadable_notification_is_dead_lettered_and_one_for_another_client_is_let_go(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    sqs = env.services.sqs
    sqs.send_message(QueueUrl=notifications.queue_url, MessageBody="not json")
    other = {**NOTIFICATIONS["completed"], "inferenceId": "not-one-of-ours"}
    sqs.send_message(QueueUrl=notifications.queue_url, MessageBody=json.dumps(other))

    assert call_notifier(notified(env, notifications)) == NO_FAILURES

    [dead] = env.dead_letters()
    assert dead["Body"] == "not json"
    assert (
        dead["MessageAttributes"]["reason"]["StringValue"]
        == "the image endpoint's notification could not be read"
    )
    assert env.slack.snapshot() == []


def test_the_local_event_sources_feed_the_notifier(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """bot/local/poller.py, as `make run` drives it: the jobs, tasks and notifications queues."""
    assert call_http(command_event("a lighthouse at dusk"))["statusCode"] == 200
    env.settle()
    assert len(endpoint.requests) == 1
    endpoint.work()
    env.settle()
    [result] = _results(env)
    [image] = [b for b in result["blocks"] if b["type"] == "image"]
    assert open_link(image["image_url"]).startswith(b"\xff\xd8\xff")
    assert queued(env, notifications.queue_url) == 0


def test_the_images_are_the_endpoints_own(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """What is posted is the JPEG the endpoint wrote, byte for byte: nothing is drawn again."""
    submit(env, "a red fox --seed 9")
    endpoint.work()
    [answer] = env.stored("async-outputs/").values()  # read now: the notifier deletes it once used
    call_notifier(notified(env, notifications))
    [jpeg] = env.stored("images/").values()
    assert base64.b64decode(json.loads(answer)["generated_images"][0]) == jpeg


def test_the_same_notification_delivered_to_two_notifiers_at_once_posts_once(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """Two invocations, one record each, side by side: whichever claims the job first delivers;
    the other finds it done, or claimed and hands its record back for a later delivery."""
    endpoint.scripted.append(Outcome(notifications=2))
    submit(env)
    endpoint.work()
    records = notified(env, notifications)["Records"]
    assert len(records) == 2
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda r=r: answers.append(call_notifier({"Records": [r]}))) for r in records
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    handed_back = [failure for answer in answers for failure in answer["batchItemFailures"]]
    again = [r for r in records if {"itemIdentifier": r["messageId"]} in handed_back]
    if again:  # the next delivery of what was handed back finds the job done
        assert call_notifier({"Records": again}) == NO_FAILURES
    assert len(_results(env)) == 1 and len(env.slack.calls_to("chat.postMessage")) == 1
    assert env.dead_letters() == []


# ---- the requests and answers do not outlive their use (issue 14, defect 5) --------------------


def test_a_delivered_job_leaves_neither_its_request_nor_its_answer_in_the_bucket(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """async-inputs/ holds the prompt and async-outputs/ the answer: once the JPEGs are stored
    under images/ and recorded, neither is needed, and the notifier deletes both."""
    job = submit(env, "a cyborg tiger --n 2")
    endpoint.work()
    assert sorted(env.stored(ASYNC)) == sorted(
        [f"async-inputs/{job.job_id}.json", endpoint.requests[0].output_location.split("/", 3)[3]]
    )

    assert call_notifier(notified(env, notifications)) == NO_FAILURES

    assert env.stored(ASYNC) == {}
    assert len(env.stored("images/")) == 2 and len(_results(env)) == 1


def test_a_failed_job_leaves_neither_its_request_nor_its_failure_in_the_bucket(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    endpoint.scripted.append(Outcome(failure="CUDA out of memory"))
    job = submit(env)
    endpoint.work()
    assert len(env.stored("async-failures/")) == 1 and len(env.stored("async-inputs/")) == 1

    assert call_notifier(notified(env, notifications)) == NO_FAILURES

    assert env.services.store.load(job.job_id).status == "failed"  # recorded first, then deleted
    assert env.stored(ASYNC) == {}


def test_delete_removes_what_the_endpoint_left_of_the_job(
    env: Stack,
    endpoint: AsyncStandIn,
    notifications: Notifications,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The notifier's deletes are best effort (S3 refusing them must not cost the delivery):
    whatever they left, the Delete button's task removes with the images."""
    from tests.slack_users import click, latest_result

    proxy = FaultProxy(moto_url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
    reset_process_services()
    try:
        proxy.fail("DELETE", times=10_000, status=403, code="AccessDenied")  # S3 refuses every delete
        job = submit(env)
        endpoint.work()
        assert call_notifier(notified(env, notifications)) == NO_FAILURES
        assert len(_results(env)) == 1  # delivered all the same
        assert len(env.stored(ASYNC)) == 2  # the request and the answer, left behind
        proxy.rules.clear()

        click(env, latest_result(env), "imagine_delete")
        env.settle()

        assert env.services.store.load(job.job_id).deleted_at > 0
        assert env.stored(ASYNC) == {} and env.stored("images/") == {}
        assert env.dead_letters() == []
    finally:
        proxy.stop()
        reset_process_services()


# ---- the two races (issue 14, defect 7) ----------------------------------------------------------


def _as_last_delivery(env: Stack, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as SQS delivers it for the last time: a last delivery that finds the job
    claimed by a worker that died waits for that claim to lapse and takes the job over
    (bot/worker/jobs_lane.py), so the test waits for nothing itself."""
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(env.services.settings.max_receive_count)
    return event


def _worker_process(event: dict[str, Any], timeout_seconds: float | None = None) -> subprocess.Popen[bytes]:
    """worker_handler on ``event`` in a process of its own (tests/run_worker.py), which a test
    can kill as Lambda stops a worker: with no chance to clean up."""
    timeout = [] if timeout_seconds is None else [str(timeout_seconds)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.run_worker", *timeout],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert worker.stdin is not None
    worker.stdin.write(json.dumps(event).encode())
    worker.stdin.close()
    worker.stdin = None  # all written: communicate() only reads
    return worker


@pytest.mark.spawns
def test_a_worker_that_dies_once_the_endpoint_queued_its_request_renders_once_and_delivers(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """The worker is killed after the endpoint has queued its request and before its 202
    arrives, so the submission's locations are never recorded. The job comes back to a worker;
    it must not submit again (the same InferenceId queues a second render: the id is only a
    label), and the one answer is delivered."""
    assert call_http(command_event("a cyborg tiger --seed 42"))["statusCode"] == 200
    event = env.sqs_event()
    job = Job.from_json(event["Records"][0]["body"])
    queued_at_endpoint, dead = threading.Event(), threading.Event()

    def die_waiting(_request: Any) -> None:
        queued_at_endpoint.set()
        dead.wait(30)

    endpoint.before_answer = die_waiting
    endpoint.unanswered = 1  # the 202 goes nowhere: its worker is dead
    worker = _worker_process(event, timeout_seconds=1)  # its claim lapses a second after it starts
    try:
        assert queued_at_endpoint.wait(60), worker.stderr.read().decode() if worker.stderr else ""
    finally:
        worker.kill()
        worker.wait(10)
        dead.set()
    progress = env.services.store.load(job.job_id)
    assert progress.status == "submitted" and progress.inference is not None
    assert progress.inference.output_location == ""  # the endpoint's answer never recorded

    assert call_worker(_as_last_delivery(env, event)) == NO_FAILURES  # SQS delivers it again

    assert len(endpoint.requests) == 1  # the GPU renders it once
    endpoint.work()
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    [result] = _results(env)
    assert result["ts"] == env.services.store.load(job.job_id).message["ts"]
    assert len(env.slack.calls_to("chat.postMessage")) == 1
    assert env.services.store.load(job.job_id).status == "done"
    assert env.dead_letters() == [] and env.stored(ASYNC) == {}


def test_a_submission_dynamodb_will_not_record_is_not_made_again(
    env: Stack,
    endpoint: AsyncStandIn,
    notifications: Notifications,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DynamoDB refuses the write that follows InvokeEndpointAsync (all three of botocore's
    attempts): the request is queued all the same, so the job waits for its answer. Delivered
    again (as SQS does when a worker dies there), it is not submitted a second time."""
    proxy = FaultProxy(moto_url).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    reset_process_services()
    try:
        proxy.fail_when(lambda operation: operation in {"PutItem", "UpdateItem"} and bool(endpoint.requests),
                        times=3)  # fmt: skip
        assert call_http(command_event("a cyborg tiger --seed 42"))["statusCode"] == 200
        event = env.sqs_event()
        call_worker(event)
        assert len(proxy.failed) == 3
        call_worker(event)

        assert len(endpoint.requests) == 1
        endpoint.work()
        assert call_notifier(notified(env, notifications)) == NO_FAILURES
        assert len(_results(env)) == 1 and len(env.slack.calls_to("chat.postMessage")) == 1
        assert env.dead_letters() == [] and env.stored(ASYNC) == {}
    finally:
        proxy.stop()
        reset_process_services()


def test_a_submission_whose_answer_is_lost_on_the_way_waits_for_its_render(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """The endpoint queues the request and the connection closes before its 202 (botocore:
    ConnectionClosedError): the request may well be queued, so the job waits for its answer
    instead of submitting again, and a delivery of the job again changes nothing."""
    endpoint.unanswered = 1
    assert call_http(command_event("a cyborg tiger --seed 42"))["statusCode"] == 200
    event = env.sqs_event()
    job = Job.from_json(event["Records"][0]["body"])
    assert call_worker(event) == NO_FAILURES
    assert env.services.store.load(job.job_id).status == "submitted"
    assert call_worker(event) == NO_FAILURES

    assert len(endpoint.requests) == 1
    endpoint.work()
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    assert len(_results(env)) == 1
    assert env.services.store.load(job.job_id).status == "done"
    assert env.dead_letters() == [] and env.stored(ASYNC) == {}


def test_a_refused_submission_is_made_again_on_the_next_delivery(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """An error the endpoint answers with means nothing was queued: the job's "submitted" is
    taken back and the request deleted, so the next delivery submits it, once."""
    endpoint.refuse = 1
    assert call_http(command_event("a cyborg tiger --seed 42"))["statusCode"] == 200
    event = env.sqs_event()
    job = Job.from_json(event["Records"][0]["body"])
    [handed_back] = call_worker(event)["batchItemFailures"]
    assert handed_back == {"itemIdentifier": event["Records"][0]["messageId"]}
    progress = env.services.store.load(job.job_id)
    assert (progress.status, progress.inference) == ("rendering", None)
    assert env.services.store.waiting() == [] and env.stored(ASYNC) == {}

    assert call_worker(event) == NO_FAILURES

    assert endpoint.refused == 1 and len(endpoint.requests) == 1
    endpoint.work()
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    assert len(_results(env)) == 1 and env.services.store.load(job.job_id).status == "done"


@pytest.mark.spawns
def test_what_the_notifier_records_before_the_submission_is_recorded_is_kept(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer can come back before InvokeEndpointAsync's 202 does. Here the notifier stores
    the images, uploads them (IMAGE_DELIVERY=upload) and records both before Slack refuses its
    last message, all while the worker waits for the 202; the worker then records the
    submission. That must not erase the keys or the file ids: the notifier's next delivery
    would upload again, and Delete would not find the first files."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    env.slack.fail("chat.update", times=1)  # the message saying where the files went
    answered: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def answered_before_the_202(_request: Any) -> None:
        endpoint.work()
        event = notified(env, notifications)
        answered.append((event, call_notifier(event)))

    endpoint.before_answer = answered_before_the_202
    assert call_http(command_event("a cyborg tiger --seed 42"))["statusCode"] == 200
    event = env.sqs_event()
    job = Job.from_json(event["Records"][0]["body"])
    worker = _worker_process(event)  # its own process, as the worker and the notifier are
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err.decode()
    assert json.loads(out.decode().strip().splitlines()[-1]) == NO_FAILURES  # its answer, after its logs

    [(notification, first)] = answered
    assert len(first["batchItemFailures"]) == 1  # handed back after the upload, to finish later
    [upload] = [c for c in env.slack.calls_to("files.completeUploadExternal") if c.ok]
    progress = env.services.store.load(job.job_id)
    assert progress.status == "submitted" and len(progress.keys) == 1 and len(progress.files) == 1
    assert progress.inference is not None
    assert progress.inference.output_location == endpoint.requests[0].output_location  # recorded too

    assert call_notifier(notification) == NO_FAILURES  # the notification, delivered again

    assert [c for c in env.slack.calls_to("files.completeUploadExternal") if c.ok] == [upload]
    done = env.services.store.load(job.job_id)
    assert done.status == "done" and done.files == progress.files and done.keys == progress.keys


def test_a_job_stored_but_never_delivered_is_delivered_by_the_sweep_without_its_answer(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications
) -> None:
    """The notifier stores the images and deletes the answer, then Slack refuses the result and
    the notification never comes back (filed in its dead-letter queue): the sweep delivers
    from the stored images, since the answer it would have looked for is gone."""
    job = submit(env)
    endpoint.work()
    env.slack.fail("chat.update", times=1)
    [handed_back] = call_notifier(notified(env, notifications))["batchItemFailures"]
    assert handed_back and env.stored(ASYNC) == {}
    assert len(env.services.store.load(job.job_id).keys) == 1

    assert sweep() == NO_FAILURES

    assert len(_results(env)) == 1 and env.services.store.load(job.job_id).status == "done"


def test_an_image_operation_is_drawn_at_once_by_its_own_model_not_submitted(
    env: Stack, endpoint: AsyncStandIn, notifications: Notifications, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the asynchronous endpoint drawing from prompts, Upscale (here on the placeholder) is
    drawn by the worker in the same delivery: nothing more is submitted to the endpoint."""
    from tests.slack_users import click, latest_result

    monkeypatch.setenv("UPSCALE_MODEL", "placeholder")
    reset_process_services()
    submit(env, "a cyborg tiger --seed 42")
    assert endpoint.work() == 1
    assert call_notifier(notified(env, notifications)) == NO_FAILURES
    where = latest_result(env)

    click(env, where, "imagine_upscale", block_id="imagine_edits")
    assert call_worker(env.sqs_event()) == NO_FAILURES

    assert len(endpoint.requests) == 1  # the first render's only
    upscaled = latest_result(env)
    assert upscaled[1] != where[1] and "Upscaled 4×" in upscaled[2]["blocks"][0]["text"]["text"]
    assert len(env.stored("images/")) == 2
