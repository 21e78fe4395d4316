"""``imagine-bot doctor`` through its real entry (the CLI's main, and the installed script), against
stand-ins that answer as the real services do: moto for CloudFormation, Lambda, Secrets Manager,
SQS, S3 and a real-time SageMaker endpoint; the Slack stand-in (auth.test's ``x-oauth-scopes``,
apps.manifest.export); the asynchronous endpoint's stand-in for its DescribeEndpoint; the
Bedrock control plane's stand-in for GetFoundationModel and GetFoundationModelAvailability.

The stack is a small template with the names infra/template.yaml gives (checked below), since
moto's CloudFormation cannot make the real one's secrets or HTTP API: the worker function with
the settings the template's Globals give every function, its queues and topics, and the outputs
doctor reads. ImagesBaseUrl points at http_handler served on loopback (``env``), which reads the
same link key, so a minted link really opens.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from bot.local import cli
from bot.local.manifest import filled
from bot.local.slack.recorder import SlackRecorder
from bot.local.template import load
from bot.ops.app_manifest import manifest_bot_scopes
from bot.ops.slack_checks import PLACEHOLDER
from bot.stores.images import image_key
from tests.conftest import BOT_TOKEN, LINK_SECRET, SIGNING_SECRET, STAGE, Stack
from tests.fakes.bedrock_control import BedrockControlStandIn
from tests.fakes.sagemaker_async import AsyncStandIn

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "SD21-Base-Test"
STACK_BOT_TOKEN = "xoxb-doctor-" + "c" * 24
REQUEST_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/slack/events"
# Settings the template's Globals give each function, and the worker's own, that doctor reads.
WORKER_SETTINGS = (
    "SLACK_SECRET_ID",
    "LINK_SECRET_ID",
    "JOBS_QUEUE_URL",
    "TASKS_QUEUE_URL",
    "IMAGES_BUCKET",
    "IMAGE_BACKEND",
    "SAGEMAKER_ENDPOINT_NAME",
    "BEDROCK_MODEL_ID",
    "BEDROCK_REGION",
    "PUBLIC_BASE_URL",
    "DEAD_LETTER_QUEUE_URL",
)
OUTPUTS = (
    "SlackRequestUrl",
    "ImagesBaseUrl",
    "JobsQueueUrl",
    "TasksQueueUrl",
    "JobsDeadLetterQueueUrl",
    "AsyncSuccessTopicArn",
    "AsyncErrorTopicArn",
    "AsyncOutputPath",
    "AsyncFailurePath",
    "NotificationsQueueUrl",
)
# The asynchronous endpoint's queues: no setting names the dead-letter one, so doctor finds both
# among the stack's resources by these logical ids.
NOTIFICATION_QUEUES = ("NotificationsQueue", "NotificationsDeadLetterQueue")


def _template() -> dict[str, Any]:
    """The stack as CloudFormation makes infra/template.yaml, in the parts doctor reads."""
    param = {"Type": "String", "Default": ""}
    queue = {"Type": "AWS::SQS::Queue", "Properties": {}}
    redriven = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
                "maxReceiveCount": 5,
            }
        },
    }
    env = {
        "SLACK_SECRET_ID": {"Ref": "SlackSecretArn"},
        "LINK_SECRET_ID": {"Ref": "LinkSecretArn"},
        "JOBS_QUEUE_URL": {"Ref": "JobsQueue"},
        "TASKS_QUEUE_URL": {"Ref": "TasksQueue"},
        "DEAD_LETTER_QUEUE_URL": {"Ref": "JobsDeadLetterQueue"},
        "IMAGES_BUCKET": {"Ref": "ImagesBucket"},
        "IMAGE_BACKEND": {"Ref": "ImageBackend"},
        "SAGEMAKER_ENDPOINT_NAME": {"Ref": "SageMakerEndpointName"},
        "BEDROCK_MODEL_ID": {"Ref": "BedrockModelId"},
        "BEDROCK_REGION": {"Ref": "BedrockRegion"},
        "PUBLIC_BASE_URL": {"Ref": "PublicBaseUrl"},
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
        ],
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            name: param
            for name in (
                "SlackSecretArn",
                "LinkSecretArn",
                "ImagesBucket",
                "ImageBackend",
                "SageMakerEndpointName",
                "BedrockModelId",
                "BedrockRegion",
                "PublicBaseUrl",
                "AsyncOutputPath",
                "AsyncFailurePath",
            )
        },
        "Conditions": {"RenderAsync": {"Fn::Equals": [{"Ref": "ImageBackend"}, "sagemaker-async"]}},
        "Resources": {
            "JobsDeadLetterQueue": queue,
            "NotificationsDeadLetterQueue": {**queue, "Condition": "RenderAsync"},
            "NotificationsQueue": {
                "Type": "AWS::SQS::Queue",
                "Condition": "RenderAsync",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]},
                        "maxReceiveCount": 5,
                    }
                },
            },
            "JobsQueue": redriven,
            "TasksQueue": redriven,
            "AsyncSuccessTopic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "AsyncErrorTopic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "WorkerFunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": trust},
            },
            "WorkerFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "bot.handlers.worker_handler",
                    "Role": {"Fn::GetAtt": ["WorkerFunctionRole", "Arn"]},
                    "Code": {"S3Bucket": "doctor-artifacts", "S3Key": "bot.zip"},
                    "Environment": {"Variables": env},
                },
            },
        },
        "Outputs": {
            "SlackRequestUrl": {"Value": REQUEST_URL},
            "ImagesBaseUrl": {"Value": {"Fn::Join": ["", [{"Ref": "PublicBaseUrl"}, "/images/"]]}},
            "JobsQueueUrl": {"Value": {"Ref": "JobsQueue"}},
            "TasksQueueUrl": {"Value": {"Ref": "TasksQueue"}},
            "JobsDeadLetterQueueUrl": {"Value": {"Ref": "JobsDeadLetterQueue"}},
            "AsyncSuccessTopicArn": {"Value": {"Ref": "AsyncSuccessTopic"}},
            "AsyncErrorTopicArn": {"Value": {"Ref": "AsyncErrorTopic"}},
            "AsyncOutputPath": {"Value": {"Ref": "AsyncOutputPath"}},
            "AsyncFailurePath": {"Value": {"Ref": "AsyncFailurePath"}},
            "NotificationsQueueUrl": {"Condition": "RenderAsync", "Value": {"Ref": "NotificationsQueue"}},
        },
    }


def test_the_small_stack_has_the_names_the_real_template_gives() -> None:
    real = load()
    assert set(OUTPUTS) <= set(real["Outputs"])
    worker_env = {
        **real["Globals"]["Function"]["Environment"]["Variables"],
        **real["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"],
    }
    # BEDROCK_REGION comes with the template's BedrockRegion parameter; a stack without it calls
    # Bedrock in its own region, and so does doctor (bot.ops.backend_checks._bedrock_region).
    assert set(WORKER_SETTINGS) - {"BEDROCK_REGION"} <= set(worker_env)
    small = _template()
    assert set(small["Outputs"]) == set(OUTPUTS)
    assert set(small["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]) == set(
        WORKER_SETTINGS
    )
    assert real["Resources"]["WorkerFunction"]["Type"] == "AWS::Serverless::Function"  # the same logical id
    for logical_id in NOTIFICATION_QUEUES:
        for template in (real, small):
            resource = template["Resources"][logical_id]
            assert (resource["Type"], resource["Condition"]) == ("AWS::SQS::Queue", "RenderAsync")


@dataclass
class Deployed:
    name: str
    slack_secret: str
    link_secret: str
    outputs: dict[str, str]


class Doctor:
    """Deploys the small stack into moto and runs ``imagine-bot doctor`` on it."""

    def __init__(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.stack = stack
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.slack = stack.slack
        self.secret_values = [STACK_BOT_TOKEN, SIGNING_SECRET, LINK_SECRET, BOT_TOKEN]
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="doctor-artifacts")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("bot/__init__.py", "")
        s3.put_object(Bucket="doctor-artifacts", Key="bot.zip", Body=buffer.getvalue())

    def deploy(
        self,
        backend: str = "sagemaker",
        *,
        bot_token: str = STACK_BOT_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        link_key: str = LINK_SECRET,
        slack_secret: dict[str, str] | None = None,
        **parameters: str,
    ) -> Deployed:
        name = f"imagine-doctor-{secrets.token_hex(3)}"
        sm = boto3.client("secretsmanager")
        held = slack_secret or {"SLACK_BOT_TOKEN": bot_token, "SLACK_SIGNING_SECRET": signing_secret}
        slack = sm.create_secret(Name=f"{name}-slack", SecretString=json.dumps(held))["ARN"]
        link = sm.create_secret(Name=f"{name}-link", SecretString=link_key)["ARN"]
        bucket = self.stack.resources.bucket
        values = {
            "SlackSecretArn": slack,
            "LinkSecretArn": link,
            "ImagesBucket": bucket,
            "ImageBackend": backend,
            "SageMakerEndpointName": ENDPOINT,
            "PublicBaseUrl": self.stack.public_base_url,
            "AsyncOutputPath": f"s3://{bucket}/async-outputs/",
            "AsyncFailurePath": f"s3://{bucket}/async-failures/",
            **parameters,
        }
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(_template()),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        [described] = cloudformation.describe_stacks(StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        return Deployed(name, slack, link, outputs)

    def run(self, *argv: str, config_token: str = "") -> tuple[int, list[str]]:
        if config_token:
            self.monkeypatch.setenv("SLACK_APP_CONFIG_TOKEN", config_token)
        code = cli.main(["doctor", *argv])
        out, err = self.capsys.readouterr()
        for value in [*self.secret_values, config_token]:
            if value:
                assert value not in out + err, "doctor printed a secret"
        return code, (out + err).splitlines()


@pytest.fixture
def doctor(env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Doctor:
    monkeypatch.delenv("SLACK_APP_CONFIG_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_APP_ID", raising=False)
    return Doctor(env, monkeypatch, capsys)


@pytest.fixture
def endpoint() -> None:
    """A real-time endpoint in moto, InService with one instance (moto's DescribeEndpoint)."""
    sagemaker = boto3.client("sagemaker")
    existing = {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}
    if ENDPOINT in existing:
        return
    sagemaker.create_model(
        ModelName="sd21",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sd:1"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="sd21-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "sd21",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.g4dn.xlarge",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="sd21-config")


def _line(lines: list[str], check: str) -> str:
    [found] = [line for line in lines if line[2:].startswith(f"{check}:")]
    return found


def _fix(lines: list[str], check: str) -> str:
    """The sentence under ``check``'s line saying what to do."""
    at = lines.index(_line(lines, check))
    assert lines[at + 1].startswith("    → "), lines
    # ... ending with the page of the manual where the fix is described (tests/docs checks it exists)
    assert re.search(r" See docs/[a-z-]+\.md(#[a-z0-9-]+)?\.$", lines[at + 1]), lines[at + 1]
    return lines[at + 1]


def _store_image(stack: Stack) -> str:
    key = image_key("T0LOCAL", secrets.token_hex(16), datetime.now(UTC), 0)
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 100
    stack.services.s3.put_object(Bucket=stack.resources.bucket, Key=key, Body=jpeg, ContentType="image/jpeg")
    return key


def _app_config(slack: SlackRecorder, request_url: str) -> str:
    """The app as Slack holds it once its manifest names ``request_url``; a config token for it."""
    slack.app.manifest = yaml.safe_load(filled(request_url))
    return slack.app.config_token()


# ---- a healthy deployment ---------------------------------------------------------------------


def test_a_healthy_sagemaker_stack_passes_every_check(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy()
    _store_image(doctor.stack)
    token = _app_config(doctor.slack, deployed.outputs["SlackRequestUrl"])
    code, lines = doctor.run("--stack", deployed.name, "--app-id", "A0LOCAL", config_token=token)
    assert code == 0, lines
    assert lines[0] == f"imagine doctor: stack {deployed.name}"
    checks = lines[1:-1]
    assert [line[:2] for line in checks] == ["✓ "] * len(checks), lines
    assert [line[2:].split(":")[0] for line in checks] == [
        "Slack secret",
        "Slack bot token",
        "Slack scopes",
        "Slack request URL",
        "SageMaker endpoint",
        "Jobs queue",
        "Tasks queue",
        "Dead-letter queue",
        "Image links",
    ]
    assert lines[-1] == "all checks passed"
    assert f"all {len(manifest_bot_scopes())} that manifest.yml asks for" in _line(lines, "Slack scopes")
    assert f"{ENDPOINT} is InService, 1 instance" in _line(lines, "SageMaker endpoint")
    assert "opens a stored image (image/jpeg)" in _line(lines, "Image links")
    # auth.test was asked with the stack's token (the recorder keeps no token, only that one came).
    [auth] = doctor.slack.calls_to("auth.test")
    assert auth.authorized and auth.ok
    [export] = doctor.slack.calls_to("apps.manifest.export")
    assert export.args == {"app_id": "A0LOCAL"} and export.ok


@pytest.mark.spawns
def test_the_installed_command_checks_the_environments_settings(env: Stack) -> None:
    """No stack named: the settings the functions would read from this environment (the local
    stack's: placeholder backend, a token set directly). Run as an operator runs it."""
    environ = {k: v for k, v in os.environ.items() if k != "SLACK_APP_CONFIG_TOKEN"}
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "imagine-bot"), "doctor"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "imagine doctor: the environment", done.stderr
    assert _line(lines, "Slack secret").startswith("✓ ") and "(the environment)" in _line(
        lines, "Slack secret"
    )
    assert _line(lines, "Slack scopes").startswith("✓ ")
    assert _line(lines, "Slack request URL").startswith("– ")  # skipped, and said so
    assert "SLACK_APP_CONFIG_TOKEN" in _line(lines, "Slack request URL")
    assert _line(lines, "Image backend").startswith("⚠ ")
    assert "a link minted now is accepted (no image stored yet to open)" in _line(lines, "Image links")
    assert done.returncode == 0, done.stdout
    assert BOT_TOKEN not in done.stdout + done.stderr and LINK_SECRET not in done.stdout + done.stderr


def test_an_unknown_stack_is_one_line_and_exit_1(doctor: Doctor) -> None:
    code, lines = doctor.run("--stack", "no-such-stack")
    assert code == 1
    assert lines[0].startswith("✗ stack no-such-stack could not be read (ValidationError")
    assert not any("Traceback" in line for line in lines)


# ---- Slack ------------------------------------------------------------------------------------


def test_a_user_token_in_the_secret_fails(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy(bot_token="xoxp-a-user-token-" + "e" * 20)
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Slack secret") == "✗ Slack secret: SLACK_BOT_TOKEN is not a bot token (xoxb-...)"
    assert "Bot User OAuth Token" in _fix(lines, "Slack secret")


def test_the_templates_placeholder_secret_fails_and_the_slack_checks_after_it_are_skipped(
    doctor: Doctor, endpoint: None
) -> None:
    deployed = doctor.deploy(bot_token=PLACEHOLDER, signing_secret=PLACEHOLDER)
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Slack secret") == (
        "✗ Slack secret: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET still unset in SLACK_SECRET_ID "
        "(placeholder or empty)"
    )
    assert "Paste the app's Bot User OAuth Token and Signing Secret" in _fix(lines, "Slack secret")
    assert _line(lines, "Slack bot token").startswith("– ")
    assert _line(lines, "Slack scopes") == "– Slack scopes: skipped: needs the Slack secret above"
    assert doctor.slack.calls_to("auth.test") == []


def test_an_oauth_client_in_the_secret_passes_and_the_token_check_says_why_it_is_skipped(
    doctor: Doctor, endpoint: None
) -> None:
    """Installed per workspace ("Add to Slack"): the secret holds the client id and secret and the
    signing secret; there is no one bot token to ask auth.test about."""
    oauth = {
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": "s" * 32,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    deployed = doctor.deploy(slack_secret=oauth)
    _, lines = doctor.run("--stack", deployed.name)
    assert _line(lines, "Slack secret") == (
        "✓ Slack secret: holds the app's OAuth client and a signing secret (SLACK_SECRET_ID): "
        "installed per workspace"
    )
    assert _line(lines, "Slack bot token").startswith("– Slack bot token: skipped: each workspace's token")
    assert doctor.slack.calls_to("auth.test") == []
    half = doctor.deploy(slack_secret={"SLACK_CLIENT_ID": "123.456", "SLACK_SIGNING_SECRET": SIGNING_SECRET})
    code, lines = doctor.run("--stack", half.name)
    assert code == 1 and "SLACK_CLIENT_SECRET still unset" in _line(lines, "Slack secret")


def test_a_token_slack_refuses_fails_with_slacks_error(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy()
    doctor.slack.fail("auth.test", error="invalid_auth")  # Slack's answer for a revoked token
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Slack bot token") == "✗ Slack bot token: auth.test refused it: invalid_auth"
    assert "Reinstall the app" in _fix(lines, "Slack bot token")
    assert _line(lines, "Slack scopes").startswith("– ")


def test_scopes_the_token_lacks_are_named(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy()
    wanted = manifest_bot_scopes()
    doctor.slack.app.scopes = [s for s in wanted if s not in ("files:write", "users:read")]
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Slack scopes") == "✗ Slack scopes: the token lacks files:write, users:read"
    assert "reinstall the app" in _fix(lines, "Slack scopes")


def test_slacks_request_url_must_be_the_stacks(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy()
    token = _app_config(doctor.slack, "https://old-api.execute-api.us-east-1.amazonaws.com/slack/events")
    code, lines = doctor.run("--stack", deployed.name, "--app-id", "A0LOCAL", config_token=token)
    assert code == 1
    assert _line(lines, "Slack request URL") == (
        f"✗ Slack request URL: slash command /imagine, event subscriptions, interactivity not {REQUEST_URL}"
    )
    assert "make manifest" in _fix(lines, "Slack request URL")


@pytest.mark.parametrize(
    ("token_kind", "app_id", "error"),
    [
        ("bot", "A0LOCAL", "not_allowed_token_type"),
        ("config", "A0OTHER", "app_not_found"),
        ("expired", "A0LOCAL", "token_expired"),
    ],
)
def test_apps_manifest_export_refusals_are_said(
    doctor: Doctor, endpoint: None, token_kind: str, app_id: str, error: str
) -> None:
    deployed = doctor.deploy()
    token = _app_config(doctor.slack, REQUEST_URL) if token_kind != "bot" else STACK_BOT_TOKEN
    if token_kind == "expired":
        doctor.slack.app.expire(token)
    code, lines = doctor.run("--stack", deployed.name, "--app-id", app_id, config_token=token)
    assert code == 1
    assert _line(lines, "Slack request URL") == f"✗ Slack request URL: apps.manifest.export refused: {error}"


# ---- SageMaker --------------------------------------------------------------------------------


def test_an_endpoint_that_does_not_exist_fails(doctor: Doctor) -> None:
    deployed = doctor.deploy(SageMakerEndpointName="No-Such-Endpoint")
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "SageMaker endpoint") == (
        "✗ SageMaker endpoint: No-Such-Endpoint does not exist in this account and region"
    )
    assert "Deploy the JumpStart model" in _fix(lines, "SageMaker endpoint")


@pytest.fixture
def async_endpoint(env: Stack, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AsyncStandIn]:
    stand_in = AsyncStandIn(aws_url=moto_url, endpoints=(ENDPOINT,), instances=0).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stand_in.url)
    yield stand_in
    stand_in.stop()


def _configure(stand_in: AsyncStandIn, outputs: dict[str, str]) -> None:
    """The endpoint created with the stack's outputs as its AsyncInferenceConfig (README)."""
    stand_in.output_path, stand_in.failure_path = outputs["AsyncOutputPath"], outputs["AsyncFailurePath"]
    stand_in.success_topic, stand_in.error_topic = (
        outputs["AsyncSuccessTopicArn"],
        outputs["AsyncErrorTopicArn"],
    )


def test_an_async_endpoint_scaled_to_zero_with_the_stacks_config_passes(
    doctor: Doctor, async_endpoint: AsyncStandIn
) -> None:
    deployed = doctor.deploy("sagemaker-async")
    _configure(async_endpoint, deployed.outputs)
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 0, lines
    assert _line(lines, "SageMaker endpoint") == (
        f"✓ SageMaker endpoint: {ENDPOINT} is InService, 0 instances (scaled to zero: the first "
        "request wakes it, in minutes)"
    )
    assert _line(lines, "Async endpoint config") == (
        "✓ Async endpoint config: output paths and topics are the stack's"
    )
    assert _line(lines, "Notifications queue") == "✓ Notifications queue: exists, 0 waiting"
    assert _line(lines, "Notifications dead-letter queue") == "✓ Notifications dead-letter queue: empty"
    assert async_endpoint.described == 1


def test_an_async_endpoint_telling_other_topics_fails(doctor: Doctor, async_endpoint: AsyncStandIn) -> None:
    deployed = doctor.deploy("sagemaker-async")
    _configure(async_endpoint, deployed.outputs)
    async_endpoint.error_topic = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Async endpoint config") == (
        "✗ Async endpoint config: differs from the stack's AsyncErrorTopicArn"
    )
    assert "Recreate the endpoint config" in _fix(lines, "Async endpoint config")


@pytest.mark.parametrize(
    ("status", "reason", "line"),
    [
        ("Creating", "", f"✗ SageMaker endpoint: {ENDPOINT} is Creating"),
        (
            "Failed",
            "Image not found in ECR",
            f"✗ SageMaker endpoint: {ENDPOINT} is Failed: Image not found in ECR",
        ),
        ("Updating", "", f"⚠ SageMaker endpoint: {ENDPOINT} is Updating, 0 instances"),
    ],
)
def test_an_endpoint_not_in_service_is_said(
    doctor: Doctor, async_endpoint: AsyncStandIn, status: str, reason: str, line: str
) -> None:
    deployed = doctor.deploy("sagemaker-async")
    _configure(async_endpoint, deployed.outputs)
    async_endpoint.status, async_endpoint.failure_reason = status, reason
    code, lines = doctor.run("--stack", deployed.name)
    assert _line(lines, "SageMaker endpoint").startswith(line)
    assert code == (0 if status == "Updating" else 1)
    assert _fix(lines, "SageMaker endpoint")


# ---- Bedrock ----------------------------------------------------------------------------------


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockControlStandIn]:
    stand_in = BedrockControlStandIn(region="us-west-2").start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", stand_in.url)
    yield stand_in
    stand_in.stop()


def test_an_active_bedrock_model_the_account_may_invoke_passes(
    doctor: Doctor, bedrock: BedrockControlStandIn
) -> None:
    deployed = doctor.deploy(
        "bedrock", BedrockModelId="stability.stable-image-core-v1:1", BedrockRegion="us-west-2"
    )
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 0, lines
    assert _line(lines, "Bedrock model") == "✓ Bedrock model: Stable Image Core 1.1 in us-west-2 is ACTIVE"
    assert _line(lines, "Bedrock access") == (
        "✓ Bedrock access: this account may invoke stability.stable-image-core-v1:1 in us-west-2"
    )
    assert bedrock.asked == [
        ("model", "stability.stable-image-core-v1:1"),
        ("availability", "stability.stable-image-core-v1:1"),
    ]


# What BEDROCK_MODEL_ID may be today: the Active models (bot/model/bedrock_models.py).
ACTIVE_CHOICES = (
    "set BEDROCK_MODEL_ID to one of stability.stable-image-core-v1:1, "
    "stability.stable-image-ultra-v1:1, stability.sd3-5-large-v1:0"
)


def _iso(moment: datetime) -> str:
    """A time as GetFoundationModel's JSON carries one (iso8601, as the fixture's)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_legacy_model_past_its_end_of_life_fails(doctor: Doctor, bedrock: BedrockControlStandIn) -> None:
    """Nova Canvas, Legacy with its end of life on 2026-09-30 in us-east-1 (the fixture's
    GetFoundationModel answer): past that day Bedrock refuses every call, so it is a failure."""
    bedrock.region = "us-east-1"
    deployed = doctor.deploy("bedrock", BedrockModelId="amazon.nova-canvas-v1:0", BedrockRegion="us-east-1")
    bedrock.availability["amazon.nova-canvas-v1:0"] = "subscribed"
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1, lines
    assert _line(lines, "Bedrock model") == (
        "✗ Bedrock model: Nova Canvas in us-east-1 is LEGACY and reached its end of life on 2026-09-30"
    )
    assert ACTIVE_CHOICES in _fix(lines, "Bedrock model")
    assert lines[-1] == "1 failed, 0 warnings"


@pytest.mark.parametrize(
    ("end_of_life", "mark", "code"),
    [
        (timedelta(days=120), "⚠", 0),  # retiring: a warning with its date
        (-timedelta(minutes=1), "✗", 1),  # the moment has passed: a failure
    ],
)
def test_a_legacy_models_end_of_life_is_read_from_get_foundation_model(
    doctor: Doctor, bedrock: BedrockControlStandIn, end_of_life: timedelta, mark: str, code: int
) -> None:
    """An Active model turned LEGACY by AWS: what decides is GetFoundationModel's endOfLifeTime
    against now, not the bot's own list (which still has it Active)."""
    eol = datetime.now(UTC) + end_of_life
    bedrock.lifecycles["stability.sd3-5-large-v1:0"] = {"status": "LEGACY", "endOfLifeTime": _iso(eol)}
    deployed = doctor.deploy(
        "bedrock", BedrockModelId="stability.sd3-5-large-v1:0", BedrockRegion="us-west-2"
    )
    exit_code, lines = doctor.run("--stack", deployed.name)
    assert exit_code == code, lines
    said = ", end of life" if code == 0 else " and reached its end of life on"
    assert _line(lines, "Bedrock model") == (
        f"{mark} Bedrock model: Stable Diffusion 3.5 Large in us-west-2 is LEGACY{said} "
        f"{eol.date().isoformat()}"
    )
    fix = _fix(lines, "Bedrock model")
    assert "stability.stable-image-core-v1:1" in fix and "stability.sd3-5-large-v1:0" not in fix
    if code == 0:
        assert lines[-1] == "0 failed, 1 warning"


def test_a_model_the_region_does_not_serve_fails(doctor: Doctor, bedrock: BedrockControlStandIn) -> None:
    bedrock.region = "us-east-1"  # serves Nova Canvas only, as the fixture has it
    deployed = doctor.deploy(
        "bedrock", BedrockModelId="stability.sd3-5-large-v1:0", BedrockRegion="us-east-1"
    )
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert (
        _line(lines, "Bedrock model")
        == "✗ Bedrock model: stability.sd3-5-large-v1:0 is not offered in us-east-1"
    )
    assert "us-west-2" in _fix(lines, "Bedrock model")


def test_the_model_is_asked_about_in_bedrock_region(doctor: Doctor, bedrock: BedrockControlStandIn) -> None:
    """The stand-in plays us-west-2 and refuses a request signed for another region, as AWS does."""
    deployed = doctor.deploy(
        "bedrock", BedrockModelId="stability.stable-image-core-v1:1", BedrockRegion="eu-west-1"
    )
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Bedrock model").startswith(
        "✗ Bedrock model: GetFoundationModel failed in eu-west-1 (InvalidSignatureException"
    )


@pytest.mark.parametrize(
    ("availability", "line", "code"),
    [
        ("not_subscribed", "⚠ Bedrock access: authorized; not yet subscribed (NOT_AVAILABLE)", 0),
        (
            "not_authorized",
            "✗ Bedrock access: this account is not authorized for stability.sd3-5-large-v1:0",
            1,
        ),
    ],
)
def test_bedrock_access_is_read_from_the_models_availability(
    doctor: Doctor, bedrock: BedrockControlStandIn, availability: str, line: str, code: int
) -> None:
    bedrock.availability["stability.sd3-5-large-v1:0"] = availability
    deployed = doctor.deploy(
        "bedrock", BedrockModelId="stability.sd3-5-large-v1:0", BedrockRegion="us-west-2"
    )
    exit_code, lines = doctor.run("--stack", deployed.name)
    assert _line(lines, "Bedrock access") == line
    assert exit_code == code
    if availability == "not_subscribed":
        assert "aws-marketplace:Subscribe" in _fix(lines, "Bedrock access")


# ---- queues -----------------------------------------------------------------------------------


def test_dead_lettered_jobs_are_counted_with_their_newest_reasons_and_left_in_place(
    doctor: Doctor, endpoint: None
) -> None:
    deployed = doctor.deploy()
    sqs = boto3.client("sqs")
    dlq = deployed.outputs["JobsDeadLetterQueueUrl"]
    for reason in ("the endpoint timed out", "the endpoint timed out", "Slack refused: not_in_channel"):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=json.dumps({"job_id": secrets.token_hex(16)}),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason}},
        )
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 0, lines  # failed jobs are a warning: the deployment itself works
    line = _line(lines, "Dead-letter queue")
    assert line.startswith("⚠ Dead-letter queue: 3 failed jobs; newest: ")
    assert "the endpoint timed out (x2)" in line and "Slack refused: not_in_channel" in line
    assert f"imagine-bot redrive --stack {deployed.name}" in _fix(lines, "Dead-letter queue")
    left = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "3"  # looked at, not taken


def test_a_queue_that_is_gone_fails(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy()
    boto3.client("sqs").delete_queue(QueueUrl=deployed.outputs["TasksQueueUrl"])
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Tasks queue").startswith(
        "✗ Tasks queue: could not be read (AWS.SimpleQueueService.NonExistentQueue"
    )
    assert _line(lines, "Jobs queue").startswith("✓ Jobs queue: exists")


def _stack_queue(deployed: Deployed, logical_id: str) -> str:
    """A queue's URL as the stack holds it (its physical id), found the way an operator would."""
    described = boto3.client("cloudformation").describe_stack_resource(
        StackName=deployed.name, LogicalResourceId=logical_id
    )
    return str(described["StackResourceDetail"]["PhysicalResourceId"])


@pytest.mark.parametrize("gone", NOTIFICATION_QUEUES)
def test_an_async_stacks_notification_queue_that_is_gone_fails(
    doctor: Doctor, async_endpoint: AsyncStandIn, gone: str
) -> None:
    checks = {
        "NotificationsQueue": "Notifications queue",
        "NotificationsDeadLetterQueue": "Notifications dead-letter queue",
    }
    [other] = [name for logical_id, name in checks.items() if logical_id != gone]
    check = checks[gone]
    deployed = doctor.deploy("sagemaker-async")
    _configure(async_endpoint, deployed.outputs)
    boto3.client("sqs").delete_queue(QueueUrl=_stack_queue(deployed, gone))
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, check).startswith(
        f"✗ {check}: could not be read (AWS.SimpleQueueService.NonExistentQueue"
    )
    assert "redeploy the stack" in _fix(lines, check)
    assert _line(lines, other).startswith("✓ ")


def test_notifications_the_notifier_could_not_handle_are_counted(
    doctor: Doctor, async_endpoint: AsyncStandIn
) -> None:
    deployed = doctor.deploy("sagemaker-async")
    _configure(async_endpoint, deployed.outputs)
    dlq = _stack_queue(deployed, "NotificationsDeadLetterQueue")
    for _ in range(2):
        boto3.client("sqs").send_message(QueueUrl=dlq, MessageBody=json.dumps({"Type": "Notification"}))
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 0, lines  # the sweep settles those jobs: a warning
    assert _line(lines, "Notifications dead-letter queue") == (
        "⚠ Notifications dead-letter queue: 2 notifications the notifier could not handle"
    )
    assert "sweep" in _fix(lines, "Notifications dead-letter queue")


# ---- image links ------------------------------------------------------------------------------


def test_a_link_minted_with_another_key_than_the_functions_fails(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy(link_key="not-the-key-the-functions-use-" + "d" * 20)
    _store_image(doctor.stack)
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Image links") == "✗ Image links: a link minted now is refused (HTTP 403)"
    assert "another link key" in _fix(lines, "Image links")


def test_images_base_url_that_does_not_answer_fails(doctor: Doctor, endpoint: None) -> None:
    deployed = doctor.deploy(PublicBaseUrl="http://127.0.0.1:9" + STAGE)  # discard: nothing listens
    code, lines = doctor.run("--stack", deployed.name)
    assert code == 1
    assert _line(lines, "Image links").startswith(
        f"✗ Image links: http://127.0.0.1:9{STAGE}/images/ does not answer"
    )


@pytest.mark.spawns
def test_doctor_is_a_registered_subcommand_whose_help_ends_with_an_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.local.cli", "doctor", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    examples = done.stdout.rstrip().rsplit("examples:", 1)[-1].splitlines()
    assert "  imagine-bot doctor --stack imagine" in examples
