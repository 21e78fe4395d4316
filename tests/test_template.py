"""infra/template.yaml as SAM's translator turns it into CloudFormation (offline), deployed into
moto, and the handlers run against what it created; plus the Slack app manifest."""

from __future__ import annotations

import copy
import importlib
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from bot import handlers
from bot.local.manifest import PLACEHOLDER, filled
from bot.local.poller import to_event
from bot.local.slack_recorder import SlackRecorder
from tests.conftest import SIGNING_SECRET, call_http, call_worker, clear_settings, command_event
from tests.fakes.sagemaker_runtime import SageMakerStandIn

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
ENDPOINT = "sd-21-base-test"


class _NoManagedPolicies:
    """The template names no managed policies, so the translator needs no IAM lookup."""

    def load(self) -> dict[str, str]:
        return {}


def _translate(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    template = yaml_parse(TEMPLATE.read_text())
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/bot.zip"  # what `sam package` does
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        translated: dict[str, Any] = transform(
            template, {"SageMakerEndpointName": ENDPOINT, **(parameters or {})}, _NoManagedPolicies()
        )
    return translated


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return _translate()


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in _of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in _of_type(template, "AWS::S3::BucketPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_grants_name_their_actions_and_resources(cfn: dict[str, Any]) -> None:
    grants = [(name, s) for name, s in _statements(cfn) if s["Effect"] == "Allow"]
    assert grants
    for name, statement in grants:
        for action in _listed(statement["Action"]):
            assert "*" not in action, (name, statement)
        for resource in _listed(statement["Resource"]):
            assert resource != "*", (name, statement)
    for name, role in _of_type(cfn, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name  # no broad AWS-managed grants
    # The single wildcard is the TLS-only Deny, which grants nothing.
    wildcards = [s for _, s in _statements(cfn) if any("*" in a for a in _listed(s["Action"]))]
    assert [s["Effect"] for s in wildcards] == ["Deny"]


def _role_actions(cfn: dict[str, Any], role: str) -> dict[str, list[Any]]:
    actions: dict[str, list[Any]] = {}
    for name, statement in _statements(cfn):
        if name == role:
            for action in _listed(statement["Action"]):
                actions.setdefault(action, []).extend(_listed(statement["Resource"]))
    return actions


def test_each_function_gets_only_what_it_uses(cfn: dict[str, Any]) -> None:
    http = _role_actions(cfn, "HttpFunctionRole")
    worker = _role_actions(cfn, "WorkerFunctionRole")
    assert set(http) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "dynamodb:GetItem",
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "s3:GetObject",
        "secretsmanager:GetSecretValue",
    }  # fmt: skip
    assert http["sqs:SendMessage"] == [{"Fn::GetAtt": ["JobsQueue", "Arn"]}]
    assert "sagemaker:InvokeEndpoint" not in http and "s3:PutObject" not in http
    assert http["s3:GetObject"] == [{"Fn::Sub": "${ImagesBucket.Arn}/images/*"}]
    endpoint_arn = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/"
    assert worker["sagemaker:InvokeEndpoint"] == [{"Fn::Sub": endpoint_arn + "${SageMakerEndpointName}"}]
    assert worker["s3:PutObject"] == [{"Fn::Sub": "${ImagesBucket.Arn}/images/*"}]
    assert worker["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    ]  # failed jobs, with why
    for actions in (http, worker):
        assert actions["secretsmanager:GetSecretValue"] == [{"Ref": "SlackSecret"}, {"Ref": "LinkSecret"}]


def test_bucket_is_private_encrypted_tls_only_and_expiring(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["ImagesBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [expiry] = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry["ExpirationInDays"] == {"Ref": "ImageRetentionDays"}
    [(_, deny)] = [(n, s) for n, s in _statements(cfn) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"


def test_queue_outlasts_the_worker_and_dead_letters(cfn: dict[str, Any]) -> None:
    queue = cfn["Resources"]["JobsQueue"]["Properties"]
    worker = cfn["Resources"]["WorkerFunction"]["Properties"]
    assert worker["Timeout"] > 60  # above SageMaker's real-time limit
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    for name in ("JobsQueue", "JobsDeadLetterQueue"):
        assert cfn["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True


def test_worker_concurrency_is_bound_to_the_parameter(cfn: dict[str, Any]) -> None:
    worker = cfn["Resources"]["WorkerFunction"]["Properties"]
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "MaxConcurrentRenders"}
    [mapping] = _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrentRenders"}}
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}


def test_table_is_on_demand_with_ttl_and_recovery(cfn: dict[str, Any]) -> None:
    table = cfn["Resources"]["JobsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_functions_run_arm64_python312_with_powertools_from_the_layer(cfn: dict[str, Any]) -> None:
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        [layer] = props["Layers"]
        assert ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:" in layer["Fn::Sub"]
        variables = props["Environment"]["Variables"]
        # Secrets come from Secrets Manager, never as plain environment values.
        assert variables["SLACK_SECRET_ID"] == {"Ref": "SlackSecret"}
        assert variables["LINK_SECRET_ID"] == {"Ref": "LinkSecret"}
        assert not {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "LINK_SECRET"} & set(variables)
    link = cfn["Resources"]["LinkSecret"]["Properties"]
    assert link["GenerateSecretString"]["PasswordLength"] >= 32


def test_every_handler_resolves_to_a_callable_in_bot(cfn: dict[str, Any]) -> None:
    handlers_named = [f["Properties"]["Handler"] for f in _of_type(cfn, "AWS::Lambda::Function").values()]
    assert sorted(handlers_named) == ["bot.handlers.http_handler", "bot.handlers.worker_handler"]
    for handler in handlers_named:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_http_api_routes_slack_and_image_links_to_the_http_function(cfn: dict[str, Any]) -> None:
    [api] = _of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    paths = api["Properties"]["Body"]["paths"]
    assert set(paths) == {"/slack/events", "/images/{proxy+}"}
    assert set(paths["/slack/events"]) == {"post"}
    assert set(paths["/images/{proxy+}"]) == {"get"}
    for route in (paths["/slack/events"]["post"], paths["/images/{proxy+}"]["get"]):
        uri = json.dumps(route["x-amazon-apigateway-integration"]["uri"])
        assert "HttpFunction" in uri and "WorkerFunction" not in uri


@pytest.mark.parametrize(
    ("mitigation", "snapstart", "provisioned"),
    [("none", "None", False), ("snapstart", "PublishedVersions", False), ("provisioned", "None", True)],
)
def test_cold_start_mitigation_is_a_parameter(mitigation: str, snapstart: str, provisioned: bool) -> None:
    cfn = _translate({"ColdStartMitigation": mitigation})
    conditions = {"UseSnapStart": mitigation == "snapstart", "UseProvisioned": mitigation == "provisioned"}

    def chosen(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return chosen(when_true if conditions[condition] else when_false)
        return value

    http = cfn["Resources"]["HttpFunction"]["Properties"]
    assert chosen(http["SnapStart"]["ApplyOn"]) == snapstart
    [alias] = _of_type(cfn, "AWS::Lambda::Alias").values()
    config = chosen(alias["Properties"].get("ProvisionedConcurrencyConfig", {"Ref": "AWS::NoValue"}))
    assert (config != {"Ref": "AWS::NoValue"}) is provisioned


def test_alarms_watch_the_failure_modes(cfn: dict[str, Any]) -> None:
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in
               _of_type(cfn, "AWS::CloudWatch::Alarm").values()}  # fmt: skip
    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
    }
    assert {"SlackRequestUrl", "ImagesBaseUrl"} <= set(cfn["Outputs"])


def _requirements(name: str) -> set[str]:
    lines = (ROOT / "infra" / name).read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_packages_hold_only_what_the_layer_and_runtime_lack() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    provided = {d for d in declared if d.startswith(("aws-lambda-powertools", "boto3"))}
    assert _requirements("requirements-worker.txt") == declared - provided
    assert _requirements("requirements-http.txt") == declared - provided - {
        d for d in declared if "pillow" in d
    }


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_lambda_build_needs_neither_docker_nor_python312(tmp_path: Path) -> None:
    """What `sam build` runs for the http function (BuildMethod: makefile), on this machine."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "bot", source, ignore=shutil.ignore_patterns("__pycache__"))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    done = subprocess.run(
        [str(shutil.which("make")), "--makefile", str(ROOT / "infra" / "Makefile"), "build-HttpFunction",
         f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"],
        cwd=source, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (artifacts / "bot" / "handlers.py").exists()
    assert (artifacts / "slack_bolt").is_dir() and (artifacts / "slack_sdk").is_dir()
    assert not (artifacts / "bot" / "local").exists()
    assert not (artifacts / "aws_lambda_powertools").exists() and not (artifacts / "boto3").exists()


# ---- the stack deployed into moto, and the handlers running on it ----------------------------

# Resource types moto's CloudFormation does not model; it skips them. The secrets are created
# by hand below (as the README has a user fill the Slack one); Permissions are dropped because
# they name the alias moto does not create.
MOTO_SKIPS = {
    "AWS::S3::BucketPolicy", "AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm", "AWS::Lambda::Alias",
    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage",
}  # fmt: skip


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in (ROOT / "bot").rglob("*.py"):
            archive.write(path, path.relative_to(ROOT).as_posix())
    return buffer.getvalue()


def _function_env(lam: Any, logical_id: str, stack: str) -> dict[str, str]:
    [name] = [
        f["FunctionName"] for f in lam.list_functions()["Functions"] if f"-{logical_id}-" in f["FunctionName"]
    ]
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    return {key: str(value) for key, value in variables.items()}


def test_stack_deploys_into_moto_and_serves_an_image_end_to_end(
    cfn: dict[str, Any], moto_url: str, monkeypatch: pytest.MonkeyPatch, sagemaker: SageMakerStandIn
) -> None:
    assert {r["Type"] for r in cfn["Resources"].values()} >= MOTO_SKIPS
    deployable = copy.deepcopy(cfn)
    for name in [n for n, r in deployable["Resources"].items() if r["Type"] == "AWS::Lambda::Permission"]:
        del deployable["Resources"][name]
    clear_settings(monkeypatch)
    aws = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    for key, value in aws.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="bot.zip", Body=_code_zip())
    cloudformation = boto3.client("cloudformation")
    stack = f"imagine-{id(cfn) % 100000}"
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(deployable),
        Parameters=[{"ParameterKey": "SageMakerEndpointName", "ParameterValue": ENDPOINT}],
        Capabilities=["CAPABILITY_IAM"],
    )
    created = {r["LogicalResourceId"]: r for r in
               cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]}  # fmt: skip
    expected = ["JobsQueue", "JobsDeadLetterQueue", "JobsTable", "ImagesBucket", "HttpFunction",
                "WorkerFunction", "WorkerFunctionJobs", "HttpFunctionRole", "WorkerFunctionRole"]  # fmt: skip
    for name in expected:
        assert created[name]["ResourceStatus"] == "CREATE_COMPLETE", name
    lam = boto3.client("lambda")
    worker_name = created["WorkerFunction"]["PhysicalResourceId"]
    assert lam.get_function_concurrency(FunctionName=worker_name)["ReservedConcurrentExecutions"] == 2

    # The secrets, as the deployed stack holds them: Slack's filled in by hand, the link key generated.
    secrets = boto3.client("secretsmanager")
    slack_secret = secrets.create_secret(
        Name=f"{stack}-slack", SecretString=json.dumps({"SLACK_BOT_TOKEN": "xoxb-from-secrets-manager",
                                                        "SLACK_SIGNING_SECRET": SIGNING_SECRET}),
    )["ARN"]  # fmt: skip
    link_secret = secrets.create_secret(Name=f"{stack}-link", SecretString="g" * 64)["ARN"]
    recorder = SlackRecorder().start()
    try:
        runtime = {
            "SLACK_SECRET_ID": slack_secret,
            "LINK_SECRET_ID": link_secret,
            "SLACK_API_URL": recorder.api_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }

        def become(function: str) -> None:
            """Run as that function would: its deployed environment plus the test's endpoints."""
            for key, value in {**_function_env(lam, function, stack), **runtime}.items():
                monkeypatch.setenv(key, value)
            handlers.reset()

        become("HttpFunction")
        monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
        response = call_http(command_event("a cyborg tiger --ar 16:9 --seed 5"))
        assert response["statusCode"] == 200, response
        assert recorder.snapshot() == []

        become("WorkerFunction")
        queue_url = handlers.services().settings.jobs_queue_url
        messages = handlers.services().sqs.receive_message(
            QueueUrl=queue_url, MessageSystemAttributeNames=["All"]
        )["Messages"]
        queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{queue_url.rsplit('/', 1)[-1]}"
        assert call_worker(to_event(messages, queue_arn, "us-east-1")) == {"batchItemFailures": []}

        assert [i.endpoint for i in sagemaker.invocations] == [ENDPOINT]
        [update] = recorder.calls_to("chat.update")
        assert update.authorized
        [image] = [b for b in update.args["blocks"] if b["type"] == "image"]
        key = "images/" + image["image_url"].split("/images/", 1)[1].split("/", 1)[1]
        bucket = created["ImagesBucket"]["PhysicalResourceId"]
        assert boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "image/jpeg"
    finally:
        recorder.stop()
        handlers.reset()


# ---- the Slack app manifest -------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return parsed


def test_manifest_declares_imagine_with_a_url_the_fill_in_replaces(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/imagine"
    assert command["usage_hint"]
    assert command["url"] == PLACEHOLDER
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/slack/events"
    done: dict[str, Any] = yaml.safe_load(filled(url))
    assert done["features"]["slash_commands"][0]["url"] == url
    assert done["settings"]["interactivity"]["request_url"] == url
    assert PLACEHOLDER not in filled(url)
    with pytest.raises(ValueError, match="https"):
        filled("http://plain.example/slack/events")


def test_every_scope_the_manifest_asks_for_is_used(manifest: dict[str, Any]) -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if "local" not in p.parts)
    # Each scope and the code that needs it. chat:write.public is what lets chat.postMessage
    # reach public channels the bot was never invited to.
    evidence = {
        "commands": r"@app\.command\(",
        "chat:write": r"chat_postMessage\(|chat_update\(",
        "chat:write.public": r"chat_postMessage\(\s*channel=job\.channel_id",
    }
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(evidence)
    for scope in scopes:
        assert re.search(evidence[scope], code), scope
