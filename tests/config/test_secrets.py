"""Secrets: none (signing secret, bot token, link secret) appears in any log line, message,
answer or error, across a full run; a new value stored in Secrets Manager is in use without a
restart (through the refresh interval, or at once after a failed signature or ``invalid_auth``);
and a missing or malformed setting is named, never shown.

Secrets Manager is moto's, behind a proxy that counts the bot's GetSecretValue calls; a rotation
is a put_secret_value mid-run, as ``aws secretsmanager put-secret-value`` in the README does.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from bot.local.loopback import Loopback, QuietHandler, Served
from bot.services import process_services, reset_process_services
from bot.stores.images import key_from_link_path, link_token, split_link_path
from tests.conftest import (
    BOT_TOKEN,
    LINK_SECRET,
    PUBLIC_BASE_URL,
    SIGNING_SECRET,
    Stack,
    ack_json,
    call_http,
    call_worker,
    command_event,
)
from tests.conftest import http_event as make_event
from tests.fakes.aws_faults import FaultProxy, Rule
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn

SECRETS = (SIGNING_SECRET, BOT_TOKEN, LINK_SECRET)


def test_a_full_run_never_shows_a_secret(
    env: Stack,
    sagemaker: SageMakerStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "2")
    reset_process_services()
    caplog.set_level(logging.DEBUG)
    # A module's child logger takes POWERTOOLS_LOG_LEVEL when the module is imported, and use
    # cases are imported when their first request comes: whichever came under an earlier test's
    # level speaks at DEBUG here too.
    for name, child in list(logging.root.manager.loggerDict.items()):
        if name.startswith("imagine.") and isinstance(child, logging.Logger):
            request.addfinalizer(functools.partial(child.setLevel, child.level))
            child.setLevel(logging.DEBUG)
    # The structured JSON lines exactly as Lambda would ship them, with every appended key.
    structured = io.StringIO()
    powertools = logging.getLogger("imagine")
    json_lines = logging.StreamHandler(structured)
    json_lines.setFormatter(powertools.handlers[0].formatter)
    powertools.addHandler(json_lines)

    answers = [call_http(command_event("a cyborg tiger --seed 1"))]
    answers.append(call_worker(env.sqs_event()))
    [update] = env.slack.calls_to("chat.update")
    image = next(b for b in update.args["blocks"] if b["type"] == "image")
    answers.append(
        call_http(make_event("http", "GET", urlsplit(image["image_url"]).path.removeprefix("/prod")))
    )
    answers.append(call_http(command_event("too many --n 4")))  # refused by the quota
    answers.append(call_http(command_event("bad --ar 99:1")))  # usage
    answers.append(call_http(command_event("forged", secret="not-the-secret")))  # 401
    sagemaker.scripted.append(Answer(424, b'{"Message": "boom"}', "ModelError"))
    answers.append(call_http(command_event("a failing one")))
    answers.append(call_worker(env.sqs_event()))
    answers.append({"settings": repr(process_services().settings)})

    powertools.removeHandler(json_lines)
    out, err = capfd.readouterr()
    seen = {
        "structured logs": structured.getvalue(),
        "stdout": out,
        "stderr": err,
        "log records": "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records),
        "slack messages": json.dumps([c.args for c in env.slack.snapshot()]),
        "http answers": json.dumps(answers, default=str),
    }
    assert '"message":"job queued"' in structured.getvalue()  # the logs were captured
    assert "job failed for good" in caplog.text
    assert len(env.slack.snapshot()) >= 4
    for where, text in seen.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret appears in the {where}"


# ---- secrets that change while a container lives -----------------------------------------------

NEW_SIGNING_SECRET = "rotated-signing-secret-" + "c" * 12
NEW_BOT_TOKEN = "xoxb-rotated-token-111"
NEW_LINK_SECRET = "rotated-link-secret-" + "d" * 20


@dataclass
class CountingProxy(FaultProxy):
    """moto behind a proxy that notes every operation asked of it (X-Amz-Target's suffix)."""

    operations: list[str] = field(default_factory=list)

    def _match(self, operation: str) -> Rule | None:
        with self._lock:
            self.operations.append(operation)
        return super()._match(operation)


@dataclass
class TokenGate(Served):
    """Slack's token check in front of the recorder: only the app's current bot token passes.

    Slack answers a call made with a token it does not accept (replaced, revoked) with HTTP 200
    and ``{"ok": false, "error": "invalid_auth"}`` (https://github.com/slackhq/slack-api-docs/blob/
    master/index_web.md; "invalid_auth: the provided token is invalid"); the recorder itself
    accepts any bearer token, so the gate plays that part.
    """

    upstream: str
    accepted: str
    refused: list[str] = field(default_factory=list)  # the methods called with another token

    def start(self) -> TokenGate:
        gate = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {gate.accepted}":
                    gate.refused.append(self.path.rsplit("/", 1)[-1])
                    self._send(200, b'{"ok": false, "error": "invalid_auth"}')
                    return
                names = ("Content-Type", "Authorization")
                headers = {n: self.headers[n] for n in names if self.headers.get(n)}
                request = urllib.request.Request(gate.upstream + self.path, body, headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        self._send(answer.status, answer.read())
                except urllib.error.HTTPError as error:
                    self._send(error.code, error.read())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = Loopback(Handler)
        return self


@dataclass
class Rotation:
    """The stack's two secrets in moto's Secrets Manager, and what the bot asked of it."""

    client: Any  # straight to moto: the test's own writes are not counted
    slack_secret_id: str
    link_secret_id: str
    counter: CountingProxy
    gate: TokenGate

    def store_slack(self, signing_secret: str, bot_token: str) -> None:
        value = {"SLACK_SIGNING_SECRET": signing_secret, "SLACK_BOT_TOKEN": bot_token}
        self.client.put_secret_value(SecretId=self.slack_secret_id, SecretString=json.dumps(value))

    def store_link(self, value: str) -> None:
        self.client.put_secret_value(SecretId=self.link_secret_id, SecretString=value)

    def reads(self) -> int:
        """GetSecretValue calls the bot made, counted at the network boundary."""
        return self.counter.operations.count("GetSecretValue")


@pytest.fixture
def rotation(env: Stack, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rotation]:
    """The deployed stack's shape: both secrets in Secrets Manager, none in the environment."""
    counter = CountingProxy(upstream=moto_url)
    counter.start()
    gate = TokenGate(upstream=env.slack.url, accepted=BOT_TOKEN).start()
    client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1")
    suffix = secrets.token_hex(4)
    slack_value = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    slack_id = client.create_secret(Name=f"imagine-slack-{suffix}", SecretString=json.dumps(slack_value))
    link_id = client.create_secret(Name=f"imagine-link-{suffix}", SecretString=LINK_SECRET)
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "LINK_SECRET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_SECRET_ID", slack_id["ARN"])
    monkeypatch.setenv("LINK_SECRET_ID", link_id["ARN"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", counter.url)
    monkeypatch.setenv("SLACK_API_URL", f"{gate.url}/api/")
    reset_process_services()
    yield Rotation(client, slack_id["ARN"], link_id["ARN"], counter, gate)
    reset_process_services()
    gate.stop()
    counter.stop()


def _image_links(env: Stack) -> list[str]:
    return [
        block["image_url"]
        for update in env.slack.calls_to("chat.update")
        for block in update.args.get("blocks", [])
        if block.get("type") == "image"
    ]


def test_a_command_signed_with_a_new_signing_secret_is_accepted_at_once(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack starts the Slack secret as a placeholder; the first command after the real one is
    pasted must work, though the container already holds the old value and its cadence is long."""
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "3600")
    ack_json(call_http(command_event("before the rotation")))

    rotation.store_slack(NEW_SIGNING_SECRET, BOT_TOKEN)
    after = call_http(command_event("after the rotation", secret=NEW_SIGNING_SECRET))

    assert ack_json(after)["response_type"] == "ephemeral"
    assert len(env.queued_bodies()) == 2
    # The old secret is no longer accepted, and its refusal reads nothing more (within 5 s).
    reads = rotation.reads()
    assert call_http(command_event("signed with the old secret"))["statusCode"] == 401
    assert rotation.reads() == reads


def test_new_values_are_used_once_the_refresh_interval_has_passed(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cadence path alone: nothing fails, the worker simply uses the new token and link key."""
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "1")
    call_http(command_event("first --seed 1"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [first_link] = _image_links(env)
    assert key_from_link_path(LINK_SECRET, urlsplit(first_link).path)

    rotation.store_slack(SIGNING_SECRET, NEW_BOT_TOKEN)
    rotation.store_link(NEW_LINK_SECRET)
    rotation.gate.accepted = NEW_BOT_TOKEN  # the old token is refused from now on
    time.sleep(1.5)  # past the 1-second max_age; no call is made meanwhile

    call_http(command_event("second --seed 2"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    assert rotation.gate.refused == []  # the old token was not tried first
    [_, second_link] = _image_links(env)
    path = urlsplit(second_link).path
    assert key_from_link_path(NEW_LINK_SECRET, path)
    assert key_from_link_path(LINK_SECRET, path) is None
    # The http function, too, now checks links with the new key.
    served = call_http(make_event("http", "GET", path.removeprefix(urlsplit(PUBLIC_BASE_URL).path)))
    assert served["statusCode"] == 302, served


def test_forged_requests_cause_at_most_one_secrets_manager_read_per_interval(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "3600")
    monkeypatch.setenv("SECRETS_FORCED_REFRESH_SECONDS", "3600")
    ack_json(call_http(command_event("a real one")))
    reads = rotation.reads()

    answers = [call_http(command_event(f"forged {n}", secret="guessed-secret")) for n in range(25)]

    assert {a["statusCode"] for a in answers} == {401}
    assert rotation.reads() == reads + 1  # the first failure looked; the other 24 did not
    [queued] = env.queued_bodies()  # only the real one
    assert "a real one" in queued


def test_the_worker_retries_once_with_the_new_token_after_invalid_auth(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "3600")
    call_http(command_event("a cyborg tiger --seed 3"))
    rotation.store_slack(SIGNING_SECRET, NEW_BOT_TOKEN)
    rotation.gate.accepted = NEW_BOT_TOKEN
    reads = rotation.reads()

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    assert rotation.gate.refused == ["chat.postMessage"]  # once, with the old token
    assert rotation.reads() == reads + 1
    [post] = [c for c in env.slack.calls_to("chat.postMessage") if c.ok]
    assert "cyborg tiger" in post.args["text"]
    assert len(_image_links(env)) == 1
    assert env.dead_letters() == []


def test_secrets_manager_down_leaves_the_values_in_hand_and_is_not_asked_on_every_request(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "1")
    monkeypatch.setenv("SECRETS_FORCED_REFRESH_SECONDS", "3600")  # the pause after a failed read
    ack_json(call_http(command_event("before the outage")))
    rotation.counter.fail("GetSecretValue", times=1000, status=500, code="InternalServiceError")
    time.sleep(1.5)  # past the 1-second max_age: the next lookup asks Secrets Manager

    ack_json(call_http(command_event("during the outage")))
    failed = len(rotation.counter.failed)
    ack_json(call_http(command_event("still during the outage")))

    assert failed > 0  # it did ask, and was refused
    assert len(rotation.counter.failed) == failed  # then let it be


# ---- a setting that is missing or malformed ------------------------------------------------------


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record with its structured keys, as the existing leak test reads them."""
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    return "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)


def test_a_missing_setting_is_named_in_the_log_and_answered_without_a_value(
    env: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("JOBS_QUEUE_URL")
    reset_process_services()

    answer = call_http(command_event("a cyborg tiger"))

    assert answer["statusCode"] == 503
    assert "misconfigured" in answer["body"]
    logged = _logged(caplog)
    assert "JOBS_QUEUE_URL is not set" in logged
    assert "'docs': 'docs/configuration.md'" in logged  # the page where the fix is described
    for secret in SECRETS:
        assert secret not in logged + json.dumps(answer)


def test_a_malformed_slack_secret_is_named_without_its_value(
    env: Stack, rotation: Rotation, caplog: pytest.LogCaptureFixture
) -> None:
    rotation.store_slack("", NEW_BOT_TOKEN)  # the signing secret left out while pasting

    answer = call_http(command_event("a cyborg tiger"))

    assert answer["statusCode"] == 503
    logged = _logged(caplog)
    assert "SLACK_SECRET_ID must hold SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN" in logged
    assert NEW_BOT_TOKEN not in logged + json.dumps(answer)


def test_a_malformed_new_value_leaves_the_previous_one_in_use(
    env: Stack, rotation: Rotation, caplog: pytest.LogCaptureFixture
) -> None:
    ack_json(call_http(command_event("before")))
    rotation.store_slack("", NEW_BOT_TOKEN)  # pasted without its signing secret

    forged = call_http(command_event("forged", secret="guessed-secret"))  # looks at the secret again

    assert forged["statusCode"] == 401
    ack_json(call_http(command_event("still working")))
    logged = _logged(caplog)
    assert "SLACK_SECRET_ID must hold SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN" in logged
    for secret in (*SECRETS, NEW_BOT_TOKEN):
        assert secret not in logged


def test_a_worker_without_its_settings_tells_the_requester_and_dead_letters_the_job(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """worker.classify() counts a SettingsError as final: no retry can fix configuration."""
    call_http(command_event("a cyborg tiger"))
    monkeypatch.delenv("PUBLIC_BASE_URL")
    reset_process_services()

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    [told] = env.slack.calls_to("chat.postMessage")
    assert "not configured correctly" in told.args["text"]
    [dead] = env.dead_letters()
    assert "not configured correctly" in dead["MessageAttributes"]["reason"]["StringValue"]
    shown = json.dumps([told.args, dead])
    for secret in SECRETS:
        assert secret not in shown


# ---- image links across a rotation of the link key -----------------------------------------------

THIRD_LINK_SECRET = "third-link-secret-" + "e" * 20
ROOT = Path(__file__).resolve().parents[2]


def _open(link: str) -> int:
    """GET a posted link through http_handler, as Slack's image proxy or a browser does."""
    path = urlsplit(link).path.removeprefix(urlsplit(PUBLIC_BASE_URL).path)
    return int(call_http(make_event("http", "GET", path))["statusCode"])


def _worker_process(event: dict[str, Any]) -> dict[str, Any]:
    """worker_handler in a process of its own: another container, with its own copy of the keys."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.run_worker"],
        cwd=ROOT, input=json.dumps(event).encode(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def test_a_link_posted_before_a_rotation_still_opens_after_it(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link keeps the key current when it was posted; a token made with the current key or the
    one before it opens. Secrets Manager labels that one AWSPREVIOUS: PutSecretValue moves the
    label to the version AWSCURRENT leaves (https://docs.aws.amazon.com/secretsmanager/latest/
    apireference/API_PutSecretValue.html), and GetSecretValue reads it with VersionStage
    (.../API_GetSecretValue.html). One rotation back only: a second one retires the oldest links."""
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "1")
    call_http(command_event("first --seed 1"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [old_link] = _image_links(env)

    rotation.store_link(NEW_LINK_SECRET)
    time.sleep(1.5)  # past the 1-second max_age: this container now mints with the new key
    call_http(command_event("second --seed 2"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [_, new_link] = _image_links(env)
    assert key_from_link_path(NEW_LINK_SECRET, urlsplit(new_link).path)

    assert _open(old_link) == 302  # in the container that lived through the rotation
    assert _open(new_link) == 302
    reset_process_services()  # a container started after the rotation
    assert _open(old_link) == 302

    rotation.store_link(THIRD_LINK_SECRET)  # the first key is now two rotations back
    reset_process_services()
    assert _open(old_link) == 403
    assert _open(new_link) == 302


@pytest.mark.spawns
def test_a_link_minted_with_a_newer_key_opens_on_a_container_still_holding_the_old_one(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker started after a rotation mints with the new key at once, while an http container
    may keep the old one for SECRETS_REFRESH_SECONDS. A token neither of its keys made makes it
    read the key again (rate-limited) and check once more. Slack downloads the image while it
    handles chat.update (the recorder does too), so that first look must already work."""
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "3600")
    ack_json(call_http(command_event("a cyborg tiger --seed 4")))  # this container reads the old key
    event = env.sqs_event()
    rotation.store_link(NEW_LINK_SECRET)

    assert _worker_process(event) == {"batchItemFailures": []}

    [link] = _image_links(env)
    assert key_from_link_path(NEW_LINK_SECRET, urlsplit(link).path)  # minted with the new key
    assert [(f.ok, f.status) for f in env.slack.image_fetches] == [(True, 200)]  # from this container
    assert all(c.ok for c in env.slack.calls_to("chat.update"))
    assert _open(link) == 302


def test_forged_image_links_stay_refused_and_read_the_key_at_most_once_per_interval(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", "3600")
    monkeypatch.setenv("SECRETS_FORCED_REFRESH_SECONDS", "3600")
    call_http(command_event("a cyborg tiger --seed 5"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [link] = _image_links(env)
    parts = split_link_path(urlsplit(link).path)
    assert parts is not None
    token, key = parts
    reads = rotation.reads()

    forged = [link.replace(token, link_token(f"guessed-key-{n}", key)) for n in range(25)]
    answers = [_open(f) for f in forged]

    assert set(answers) == {403}
    assert rotation.reads() == reads + 1  # the first refusal looked again; the other 24 did not
    assert _open(link) == 302


# ---- a worker or a cold start without usable settings -------------------------------------------


def test_a_worker_without_a_required_setting_hands_the_batch_back_saying_why_once(
    env: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Without its settings the worker knows no dead-letter queue to file a job in, so every
    record is reported failed (ReportBatchItemFailures, https://docs.aws.amazon.com/lambda/latest/
    dg/services-sqs-errorhandling.html) for SQS's redrive and the dead-letter alarm."""
    call_http(command_event("a cyborg tiger"))
    call_http(command_event("a second tiger"))
    event = env.sqs_event()
    assert len(event["Records"]) == 2
    monkeypatch.delenv("JOBS_TABLE")
    reset_process_services()
    caplog.clear()
    capfd.readouterr()

    answer = call_worker(event)

    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]  # one line for the batch
    logged = _logged(caplog)  # and no traceback
    assert "JOBS_TABLE is not set" in error.getMessage() + str(error.__dict__)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    for secret in SECRETS:
        assert secret not in logged + out + err


def test_a_worker_with_a_malformed_stored_secret_names_it_without_its_value(
    env: Stack, rotation: Rotation, caplog: pytest.LogCaptureFixture
) -> None:
    call_http(command_event("a cyborg tiger"))
    event = env.sqs_event()
    rotation.store_slack("", NEW_BOT_TOKEN)  # the signing secret left out while pasting
    reset_process_services()  # a worker starting now
    caplog.clear()

    answer = call_worker(event)

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]  # one line, no traceback
    assert "SLACK_SECRET_ID must hold SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN" in str(error.__dict__)
    assert NEW_BOT_TOKEN not in _logged(caplog)


def test_a_malformed_slack_secret_at_a_cold_start_is_read_at_most_once_per_interval(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forged requests to a container that cannot start must not each read Secrets Manager."""
    monkeypatch.setenv("SECRETS_FORCED_REFRESH_SECONDS", "3600")
    rotation.store_slack("", NEW_BOT_TOKEN)

    answers = [call_http(command_event(f"try {n}"))["statusCode"] for n in range(10)]
    answers += [call_http(command_event(f"forged {n}", secret="guessed"))["statusCode"] for n in range(15)]

    assert set(answers) == {503}
    assert rotation.reads() == 1  # the Slack secret, read once; the link key not even once


def test_a_failed_start_is_tried_again_once_the_interval_has_passed(
    env: Stack, rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_FORCED_REFRESH_SECONDS", "1")
    rotation.store_slack("", NEW_BOT_TOKEN)
    assert call_http(command_event("a lantern festival"))["statusCode"] == 503

    rotation.store_slack(SIGNING_SECRET, BOT_TOKEN)
    time.sleep(1.5)  # past the 1-second hold

    ack_json(call_http(command_event("after the fix")))
