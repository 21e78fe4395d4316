"""Fixtures: real servers at the network boundary, the project's own code everywhere else.

moto's server plays S3, SQS and DynamoDB; the Slack recorder plays the Slack Web API and
response_urls; a small HTTP server plays the SageMaker runtime. Each test gets its own bucket,
queues and table, provisioned through the same code the local stack uses. ``http_handler`` is
served on loopback too, as PUBLIC_BASE_URL: the recorder downloads every image link in a
message the way Slack does, so the links must really work.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot import handlers
from bot.local.lambda_context import HTTP_RESOURCE, WORKER_RESOURCE, LocalContext
from bot.local.moto_server import MotoServer
from bot.local.poller import EventSources, Poller, to_event
from bot.local.provision import Provisioned, provision
from bot.local.rekognition import ModerationStandIn
from bot.local.server import LocalServer
from bot.local.signing import JSON, command_body, event_body, signed_headers
from bot.local.slack.recorder import SlackRecorder
from bot.local.translate import TranslateStandIn
from bot.services import process_services, reset_process_services
from tests.fakes.bedrock_runtime import BedrockStandIn
from tests.fakes.sagemaker_runtime import SageMakerStandIn

ROOT = Path(__file__).resolve().parents[1]  # the repository
SIGNING_SECRET = "test-signing-secret-" + "a" * 12
BOT_TOKEN = "xoxb-test-token-000"
LINK_SECRET = "test-link-secret-" + "b" * 20
STAGE = "/prod"  # links carry a stage prefix, as an API Gateway REST stage's do
# A deployed-looking base URL, for tests that build links but never post them to the recorder
# (it downloads every image link, and this host is not reachable from here).
PUBLIC_BASE_URL = f"https://imagine.example{STAGE}"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = MotoServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app_server() -> Iterator[LocalServer]:
    """http_handler on 127.0.0.1, reading each test's settings from the environment."""
    server = LocalServer().start().ready()  # the env fixture sets the settings it reads
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[SlackRecorder]:
    recorder = SlackRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def sagemaker() -> Iterator[SageMakerStandIn]:
    stand_in = SageMakerStandIn().start()
    yield stand_in
    stand_in.stop()


@dataclass
class Stack:
    resources: Provisioned
    slack: SlackRecorder
    public_base_url: str  # where image links point: app_server, under STAGE

    @property
    def services(self) -> Any:
        return process_services()

    def queued_bodies(self, queue_url: str | None = None) -> list[str]:
        return [m["Body"] for m in self.receive(queue_url=queue_url)]

    def peek(self, queue_url: str | None = None) -> list[str]:
        """The bodies waiting in the jobs queue (or ``queue_url``), left there for the worker."""
        messages = self.services.sqs.receive_message(
            QueueUrl=queue_url or self.resources.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return [str(m["Body"]) for m in messages]

    def queued_tasks(self) -> list[str]:
        """The bodies waiting in the tasks queue (taken: they come back after its visibility)."""
        return self.queued_bodies(self.resources.tasks_queue_url)

    def receive(self, max_messages: int = 10, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Messages from the jobs queue, or from ``queue_url``."""
        sqs = self.services.sqs
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=queue_url or self.resources.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def dead_letters(self) -> list[dict[str, Any]]:
        """The jobs in the dead-letter queue with their attributes (``reason`` ...), looked at
        without being taken: they stay visible for the next look."""
        messages: list[dict[str, Any]] = self.services.sqs.receive_message(
            QueueUrl=self.resources.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return messages

    def dead_letter_reasons(self) -> list[str]:
        return [
            m.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
            for m in self.dead_letters()
        ]

    def sqs_event(self, queue_url: str | None = None) -> dict[str, Any]:
        """The messages queued in the jobs queue (or ``queue_url``) as Lambda's SQS event source
        hands them to the worker."""
        queue_url = queue_url or self.resources.queue_url
        messages = self.receive(queue_url=queue_url)
        assert messages, "nothing was queued"
        arn = self.services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return to_event(messages, arn, "us-east-1")

    def stored(self, prefix: str = "") -> dict[str, bytes]:
        """The images bucket's objects under ``prefix``, by key."""
        s3 = self.services.s3
        listing = s3.list_objects_v2(Bucket=self.resources.bucket, Prefix=prefix).get("Contents", [])
        return {
            o["Key"]: s3.get_object(Bucket=self.resources.bucket, Key=o["Key"])["Body"].read()
            for o in listing
        }

    def tasks_event(self) -> dict[str, Any]:
        return self.sqs_event(self.resources.tasks_queue_url)

    def deliver_jobs(self, deliveries: int = 10) -> None:
        """Deliver the queued jobs to worker_handler as Lambda's event source would, a failed one
        again at once, until none is left; fail when they have not settled after ``deliveries``."""
        services = self.services
        poller = Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0)
        for _ in range(deliveries):
            if not poller.poll_once():
                return
        raise AssertionError("the job never settled")

    def settle(self) -> int:
        """Run the worker on both of its queues, jobs and tasks, as Lambda's event sources do,
        until neither holds anything (failed messages come back at once); messages handled."""
        sources = EventSources.of(self.services, wait_seconds=0, redeliver_after=0)
        return sources.drain()


# What the bot, its AWS and Slack clients and Powertools read from the environment, by prefix:
# the one list of what a test clears, so that the machine's own settings never leak in.
SETTING_PREFIXES = (
    "AWS_", "SLACK_", "SAGEMAKER_", "BEDROCK_", "IMAGE_", "JOBS_", "TASKS_", "LINK_", "PUBLIC_BASE_URL",
    "DEAD_LETTER_", "NOTIFICATIONS_", "DAILY_", "ALLOWED_", "BLOCKED_", "RENDER_", "RETRY_", "SECRETS_",
    "ASYNC_", "PRESIGNED_", "PLACEHOLDER_", "MAX_", "DEFAULT_", "POWERTOOLS_", "UPSCALE_", "VARY_", "ZOOM_",
    "CHANGE_", "MODERATION_", "TRANSLATE_", "INSTALL_",
)  # fmt: skip


def clear_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget any bot or AWS setting the machine's environment carries."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)


def environ_without_settings(*more: str) -> dict[str, str]:
    """This process's environment less every setting (and the names in ``more``): a child
    process started with it is someone's with no AWS account and no Slack workspace."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES) and k not in more}


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, slack: SlackRecorder, app_server: LocalServer
) -> Iterator[Stack]:
    suffix = secrets.token_hex(4)
    public_base_url = f"{app_server.url}{STAGE}"
    clear_settings(monkeypatch)
    settings = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "JOBS_QUEUE_URL": f"{moto_url}/123456789012/jobs-{suffix}",
        "TASKS_QUEUE_URL": f"{moto_url}/123456789012/tasks-{suffix}",
        "JOBS_TABLE": f"jobs-{suffix}",
        "IMAGES_BUCKET": f"images-{suffix}",
        "PUBLIC_BASE_URL": public_base_url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "LINK_SECRET": LINK_SECRET,
        "IMAGE_BACKEND": "placeholder",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # No real waits: a test that needs them sets its own (and checks what was asked for).
        "IMAGE_DOWNLOAD_RETRY_SECONDS": "0,0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_services()
    resources = provision(process_services())
    monkeypatch.setenv("JOBS_QUEUE_URL", resources.queue_url)
    monkeypatch.setenv("TASKS_QUEUE_URL", resources.tasks_queue_url)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", resources.dead_letter_queue_url)
    reset_process_services()
    yield Stack(resources, slack, public_base_url)
    reset_process_services()


@pytest.fixture
def image_check(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationStandIn]:
    """The stack with every image checked (IMAGE_MODERATION=rekognition) by Rekognition's stand-in,
    which the test can make flag any image (``decide``) or throttle (``fail``, ``down``)."""
    stand_in = ModerationStandIn().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", stand_in.url)
    monkeypatch.setenv("IMAGE_MODERATION", "rekognition")
    monkeypatch.setenv("MODERATION_RETRY_SECONDS", "0,0")  # no real waits
    reset_process_services()
    yield stand_in
    stand_in.stop()
    reset_process_services()


@pytest.fixture
def translate(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[TranslateStandIn]:
    """The stack translating prompts not in English (TRANSLATE_PROMPTS=auto) with Translate's stand-in."""
    stand_in = TranslateStandIn().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_TRANSLATE", stand_in.url)
    monkeypatch.setenv("TRANSLATE_PROMPTS", "auto")
    reset_process_services()
    yield stand_in
    stand_in.stop()
    reset_process_services()


@pytest.fixture
def screening_endpoints() -> Iterator[dict[str, str]]:
    """Rekognition's and Translate's stand-ins, for a deployed stack, whose template turns the
    image check and the translation on: the endpoint variables its functions are given."""
    check, translate = ModerationStandIn().start(), TranslateStandIn().start()
    yield {"AWS_ENDPOINT_URL_REKOGNITION": check.url, "AWS_ENDPOINT_URL_TRANSLATE": translate.url}
    check.stop()
    translate.stop()


@pytest.fixture
def bedrock(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockStandIn]:
    """Bedrock's runtime in us-west-2, where the stack's BEDROCK_REGION sends every call."""
    stand_in = BedrockStandIn().start()
    monkeypatch.setenv("BEDROCK_REGION", stand_in.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stand_in.url)
    yield stand_in
    stand_in.stop()


@pytest.fixture
def installs(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack with "Add to Slack" on: the app's client id and secret, and no one token."""
    workspaces = env.slack.workspaces
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_CLIENT_ID", workspaces.client_id)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", workspaces.client_secret)
    workspaces.redirect_url = f"{env.public_base_url}/slack/oauth_redirect"
    reset_process_services()
    yield env
    reset_process_services()


def http_event(
    shape: str,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An http_handler event in one of the three shapes Lambda delivers."""
    headers = dict(headers or {})
    encoded = base64.b64encode(body.encode()).decode() if base64_body else body
    if shape == "rest":  # API Gateway REST API, payload 1.0
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None,
            "requestContext": {"httpMethod": method, "path": f"/prod{path}", "stage": "prod"},
            "body": encoded or None,
            "isBase64Encoded": base64_body,
        }
    event: dict[str, Any] = {  # HTTP API payload 2.0; a Function URL event has the same shape
        "version": "2.0",
        "routeKey": "$default" if shape == "url" else f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"}},
        "body": encoded,
        "isBase64Encoded": base64_body,
    }
    if shape == "url":
        event["requestContext"]["domainName"] = "abc.lambda-url.us-east-1.on.aws"
    return event


def command_event(
    text: str,
    *,
    shape: str = "http",
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    **fields: str,
) -> dict[str, Any]:
    body = command_body(text, **fields)
    return http_event(
        shape,
        "POST",
        "/slack/events",
        body,
        signed_headers(secret, body, timestamp),
        base64_body=shape != "rest",
    )


def slack_event(
    event: dict[str, Any], *, event_id: str | None = None, team_id: str = "T0LOCAL"
) -> dict[str, Any]:
    """An Events API request for ``event`` in its event_callback wrapper, signed."""
    return event_request(event_body(event, event_id=event_id, team_id=team_id))


def event_request(body: str, *, retry: int = 0, secret: str = SIGNING_SECRET) -> dict[str, Any]:
    """An Events API body (JSON), signed, as API Gateway's HTTP API hands it over. ``retry`` > 0
    sends it as Slack sends its retry number ``retry`` of the same body, event_id included
    (X-Slack-Retry-Num, X-Slack-Retry-Reason: https://api.slack.com/apis/events-api#retries)."""
    headers = signed_headers(secret, body, content_type=JSON)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return http_event("http", "POST", "/slack/events", body, headers)


def call_http(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handlers.http_handler(event, LocalContext("imagine-http-test", HTTP_RESOURCE))
    return response


def call_worker(event: dict[str, Any]) -> dict[str, Any]:
    return dict(handlers.worker_handler(event, LocalContext("imagine-worker-test", WORKER_RESOURCE)))


def open_link(link: str) -> bytes:
    """Resolve a stable link through http_handler, then follow its redirect like a browser."""
    path = urlsplit(link).path.removeprefix(STAGE)
    response = call_http(http_event("http", "GET", path))
    assert response["statusCode"] == 302, response
    with urllib.request.urlopen(response["headers"]["Location"], timeout=10) as presigned:
        data: bytes = presigned.read()
        return data


def use_up(response_url: str) -> None:
    """Spend a response_url's five uses, as five earlier answers would have."""
    from slack_sdk.webhook import WebhookClient

    for n in range(5):
        assert WebhookClient(response_url).send(text=f"earlier answer {n}").status_code == 200


def ack_json(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200, response
    parsed: dict[str, Any] = json.loads(response["body"])
    return parsed
