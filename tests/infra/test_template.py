"""infra/template.yaml as SAM's translator turns it into CloudFormation (offline), deployed into
moto, and the handlers run against what it created; plus the Slack app manifest."""

from __future__ import annotations

import ast
import copy
import importlib
import io
import json
import os
import re
import shutil
import subprocess
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
from bot.config.env import SettingsError
from bot.config.settings import LINK_MODES, Settings
from bot.local.lambda_context import LocalContext
from bot.local.manifest import PLACEHOLDER, REDIRECT_PLACEHOLDER, filled
from bot.local.poller import to_event
from bot.local.server import LocalServer
from bot.local.signing import app_mention
from bot.local.slack.recorder import SlackRecorder
from bot.model import bedrock_models, operation_models
from bot.model.moderation import DEFAULT_BLOCKED_LABELS
from bot.services import process_services, reset_process_services
from bot.stores.jobs import WAITING_INDEX
from tests.conftest import SIGNING_SECRET, call_http, call_worker, clear_settings, command_event, slack_event
from tests.fakes.bedrock_runtime import BedrockStandIn
from tests.fakes.sagemaker_async import AsyncStandIn
from tests.fakes.sagemaker_runtime import SageMakerStandIn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
# Mixed case on purpose: SageMaker keeps the case a name was created with, and InvokeEndpoint
# must match it (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html).
ENDPOINT = "SD21-Base-Test"
ACCOUNT = "123456789012"  # moto's account


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


_NO_VALUE = object()


def _evaluate(template: dict[str, Any], value: Any, parameters: dict[str, str] | None = None) -> Any:
    """What CloudFormation makes of ``value`` in us-east-1 of moto's account, for the intrinsics that
    need no deployed resource: Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::If and its conditions."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values |= {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT,
               "AWS::URLSuffix": "amazonaws.com", "SageMakerEndpointName": ENDPOINT}  # fmt: skip
    values |= parameters or {}

    def evaluate(item: Any) -> Any:
        if isinstance(item, list):
            return [evaluate(i) for i in item]
        if not isinstance(item, dict):
            return item
        if set(item) == {"Ref"}:
            return _NO_VALUE if item["Ref"] == "AWS::NoValue" else values[item["Ref"]]
        if "Fn::Join" in item:
            separator, parts = item["Fn::Join"]
            return separator.join(evaluate(parts))
        if "Fn::Split" in item:
            separator, text = item["Fn::Split"]
            return evaluate(text).split(separator)
        if "Fn::Sub" in item:
            text, local = (item["Fn::Sub"], {}) if isinstance(item["Fn::Sub"], str) else item["Fn::Sub"]
            known = values | {name: evaluate(v) for name, v in local.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda m: known[m[1]], text)
        if "Fn::If" in item:
            condition, when_true, when_false = item["Fn::If"]
            return evaluate(when_true if evaluate(template["Conditions"][condition]) else when_false)
        if "Fn::Equals" in item:
            left, right = evaluate(item["Fn::Equals"])
            return str(left) == str(right)
        if "Fn::Not" in item:
            return not evaluate(item["Fn::Not"][0])
        if "Fn::And" in item:
            return all(evaluate(part) for part in item["Fn::And"])
        if "Fn::Or" in item:
            return any(evaluate(part) for part in item["Fn::Or"])
        if "Fn::Contains" in item:
            values_, value = evaluate(item["Fn::Contains"])
            return value in values_
        if "Fn::Select" in item:
            index, values_ = item["Fn::Select"]
            return evaluate(values_)[int(index)]
        if set(item) == {"Condition"}:
            return evaluate(template["Conditions"][item["Condition"]])
        return {key: evaluate(v) for key, v in item.items()}

    return evaluate(value)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# The image operations' grants, made only for the operations a stack turns on: read apart
# (test_each_operation_is_granted_exactly_its_model) from the backend's.
OPERATION_GRANTS = frozenset({"WorkerOperationsBedrockAccess", "WorkerOperationsSageMakerAccess"})


def _statements(
    template: dict[str, Any], leaving_out: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in _of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in _of_type(template, "AWS::S3::BucketPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement
    for policy_name, policy in _of_type(template, "AWS::IAM::Policy").items():  # under the roles it joins
        if policy_name in leaving_out:
            continue
        for role in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                # A statement made only under a condition (Fn::If with AWS::NoValue): as it is when made.
                yield role["Ref"], statement["Fn::If"][1] if "Fn::If" in statement else statement
    for name, policy in _of_type(template, "AWS::IAM::ManagedPolicy").items():  # for a role outside it
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


ANY_RESOURCE = {
    "rekognition:DetectModerationLabels",
    "translate:TranslateText",
    "comprehend:DetectDominantLanguage",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def test_grants_name_their_actions_and_resources(cfn: dict[str, Any]) -> None:
    grants = [(name, s) for name, s in _statements(cfn) if s["Effect"] == "Allow"]
    assert grants
    for name, statement in grants:
        for action in _listed(statement["Action"]):
            assert "*" not in action, (name, statement)
        for resource in _listed(statement["Resource"]):
            # AWS Marketplace's actions take no resource: "*" is the only one they accept
            # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsmarketplace.html);
            # nor do the image check's and the translation's (infra/template.yaml says where).
            if resource == "*":
                assert all(
                    a.startswith("aws-marketplace:") or a in ANY_RESOURCE
                    for a in _listed(statement["Action"])
                ), (
                    name,
                    statement,
                )
    for name, role in _of_type(cfn, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name  # no broad AWS-managed grants
    # The single wildcard is the TLS-only Deny, which grants nothing.
    wildcards = [s for _, s in _statements(cfn) if any("*" in a for a in _listed(s["Action"]))]
    assert [s["Effect"] for s in wildcards] == ["Deny"]


def _role_actions(
    cfn: dict[str, Any], role: str, leaving_out: frozenset[str] = OPERATION_GRANTS
) -> dict[str, list[Any]]:
    actions: dict[str, list[Any]] = {}
    for name, statement in _statements(cfn, leaving_out):
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
        "secretsmanager:GetSecretValue", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    # Jobs to render, and tasks: what must be said after the acknowledgement.
    assert http["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["JobsQueue", "Arn"]},
        {"Fn::GetAtt": ["TasksQueue", "Arn"]},
    ]
    assert "sagemaker:InvokeEndpoint" not in http and "s3:PutObject" not in http
    assert http["s3:GetObject"] == [{"Fn::Sub": "${ImagesBucket.Arn}/images/*"}]
    [endpoint_arn] = worker["sagemaker:InvokeEndpoint"]
    assert _evaluate(cfn, endpoint_arn) == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/sd21-base-test"
    # The images; and the requests for the asynchronous endpoint, only when it is the backend
    # (WorkerAsyncAccess, under its condition: test_async_grants_are_made_only_when_chosen).
    assert worker["s3:PutObject"] == [
        {"Fn::Sub": "${ImagesBucket.Arn}/images/*"},
        {"Fn::Sub": "${ImagesBucket.Arn}/async-inputs/*"},
    ]
    assert worker["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    ]  # failed jobs, with why
    # Its two event sources' queues, where a retryable job or task is handed back with a short
    # visibility (backoff) on the queue it came from, and the dead-letter queue its DeadLetters
    # schedule looks at (bot/worker/dead_letters.py); nothing else.
    queues = [
        {"Fn::GetAtt": ["JobsQueue", "Arn"]},
        {"Fn::GetAtt": ["TasksQueue", "Arn"]},
        {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
    ]
    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ):
        assert worker[action] == queues, action
    for actions in (http, worker):
        assert actions["secretsmanager:GetSecretValue"] == [{"Ref": "SlackSecret"}, {"Ref": "LinkSecret"}]
    # PURGE_ON_UNINSTALL: the worker lists the images' prefix only, and scans the one table.
    assert worker["s3:ListBucket"] == [{"Fn::GetAtt": ["ImagesBucket", "Arn"]}]
    [listing] = [
        st
        for name, st in _statements(cfn)
        if name == "WorkerFunctionRole" and st["Action"] == "s3:ListBucket"
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "images/*"}}
    assert worker["dynamodb:Scan"] == [{"Fn::GetAtt": ["JobsTable", "Arn"]}]
    assert "s3:ListBucket" not in http and "dynamodb:Scan" not in http


def test_bucket_is_private_encrypted_tls_only_and_expiring(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["ImagesBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [expiry] = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "images/"]
    assert expiry["ExpirationInDays"] == {"Ref": "ImageRetentionDays"}
    [(_, deny)] = [(n, s) for n, s in _statements(cfn) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"


def test_queues_outlast_the_worker_and_dead_letter(cfn: dict[str, Any]) -> None:
    """Both of the worker's queues: AWS's guidance for a Lambda source is a visibility timeout of
    at least six times the function's timeout
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html)."""
    worker = cfn["Resources"]["WorkerFunction"]["Properties"]
    assert worker["Timeout"] > 60  # above SageMaker's real-time limit
    for name in ("JobsQueue", "TasksQueue"):
        queue = cfn["Resources"][name]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"], name
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
            "maxReceiveCount": {"Ref": "MaxReceiveCount"},
        }, name
    for name in ("JobsQueue", "TasksQueue", "JobsDeadLetterQueue"):
        assert cfn["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True


def _schedules_of(cfn: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The properties of each EventBridge rule that invokes ``function``."""
    target = {"Fn::GetAtt": [function, "Arn"]}
    rules = _of_type(cfn, "AWS::Events::Rule").values()
    return [r["Properties"] for r in rules if any(t["Arn"] == target for t in r["Properties"]["Targets"])]


def test_max_receive_count_is_at_least_what_aws_advises_for_a_lambda_source() -> None:
    """At least 5: a receive whose invocation Lambda throttled counts too
    (https://docs.aws.amazon.com/lambda/latest/dg/sqs-retries.html), and the worker's
    MAX_RECEIVE_COUNT defaults to the same."""
    from bot.config.settings import Settings

    spec = yaml_parse(TEMPLATE.read_text())["Parameters"]["MaxReceiveCount"]
    assert spec["Default"] >= 5 and spec["MinValue"] >= 5
    assert Settings.max_receive_count == spec["Default"]


def test_what_sqs_dead_letters_on_its_own_is_settled_on_a_schedule_with_exactly_its_grants(
    cfn: dict[str, Any],
) -> None:
    """A schedule on the worker, not an event source on the dead-letter queue (which would take
    the messages operators redrive), granted to look at that queue and nothing wider."""
    dead_letters = {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert not [m for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["EventSourceArn"] == dead_letters]  # fmt: skip
    [rule] = _schedules_of(cfn, "WorkerFunction")
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    [permission] = [p["Properties"] for p in _of_type(cfn, "AWS::Lambda::Permission").values()
                    if p["Properties"]["Principal"] == "events.amazonaws.com"
                    and p["Properties"]["FunctionName"] == {"Ref": "WorkerFunction"}]  # fmt: skip
    assert permission["Action"] == "lambda:InvokeFunction"
    sid = "SettleWhatSqsDeadLetteredWithoutAReason"
    [grant] = [s for n, s in _statements(cfn) if n == "WorkerFunctionRole" and s.get("Sid") == sid]
    assert sorted(grant["Action"]) == [
        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"
    ]  # fmt: skip
    assert grant["Resource"] == dead_letters
    for name, statement in _statements(cfn):  # no other role may take from the dead-letter queue
        if name != "WorkerFunctionRole" and dead_letters in _listed(statement.get("Resource", [])):
            assert _listed(statement["Action"]) == ["sqs:SendMessage"], name


def test_renders_are_bounded_by_the_event_source_and_a_reservation_is_opt_in(cfn: dict[str, Any]) -> None:
    """Lambda refuses a reservation that leaves an account under 100 unreserved executions, and new
    accounts can have 10 in all (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
    so by default nothing is reserved: the SQS event source's MaximumConcurrency (2 to 1000,
    https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html) bounds the renders."""
    worker = cfn["Resources"]["WorkerFunction"]["Properties"]
    assert _evaluate(cfn, worker["ReservedConcurrentExecutions"]) is _NO_VALUE
    reserved = {"WorkerReservedConcurrency": "5"}
    assert _evaluate(cfn, worker["ReservedConcurrentExecutions"], reserved) == "5"
    mappings = {m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"] for m in
                _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()}  # fmt: skip
    assert set(mappings) == {"JobsQueue", "TasksQueue", "NotificationsQueue"}  # the last, the notifier's
    jobs = mappings["JobsQueue"]
    assert jobs["BatchSize"] == 1
    assert jobs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert jobs["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrentRenders"}}
    renders = cfn["Parameters"]["MaxConcurrentRenders"]
    assert (renders["MinValue"], renders["MaxValue"]) == (2, 1000)
    assert cfn["Parameters"]["WorkerReservedConcurrency"]["Default"] == 0


def test_tasks_have_their_own_event_source_so_they_never_wait_behind_renders(cfn: dict[str, Any]) -> None:
    """The same worker, a second SQS event source with its own MaximumConcurrency (2 to 1000:
    https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html), one task an invocation,
    each failure reported on its own (ReportBatchItemFailures)."""
    [tasks] = [m["Properties"] for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
               if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["TasksQueue", "Arn"]}]  # fmt: skip
    assert tasks["FunctionName"] == {"Ref": "WorkerFunction"}
    assert tasks["BatchSize"] == 1
    assert tasks["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert tasks["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrentTasks"}}
    bound = cfn["Parameters"]["MaxConcurrentTasks"]
    assert (bound["Default"], bound["MinValue"], bound["MaxValue"]) == (5, 2, 1000)
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        assert function["Properties"]["Environment"]["Variables"]["TASKS_QUEUE_URL"] == {"Ref": "TasksQueue"}
    assert cfn["Outputs"]["TasksQueueUrl"]["Value"] == {"Ref": "TasksQueue"}


def test_endpoint_name_keeps_its_case_and_the_grant_names_it_as_its_arn_does(cfn: dict[str, Any]) -> None:
    """SageMaker spells a name in lower case inside the endpoint's ARN, and IAM compares ARNs with
    case (philschmid/cdk-samples issue 2: a grant on ``...LaBSE`` was refused for ``...labse``)."""
    pattern = cfn["Parameters"]["SageMakerEndpointName"]["AllowedPattern"]
    for name in ("SD21-Base-Test", "sd-21-base", "A", "x" * 63):
        assert re.fullmatch(pattern, name), name
    for name in ("-leading", "under_score", "x" * 64, "dot.ted"):
        assert not re.fullmatch(pattern, name), name
    [arn] = _role_actions(cfn, "WorkerFunctionRole")["sagemaker:InvokeEndpoint"]
    every = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789"
    assert _evaluate(cfn, arn, {"SageMakerEndpointName": every}).endswith(
        ":endpoint/abcdefghijklmnopqrstuvwxyz-abcdefghijklmnopqrstuvwxyz-0123456789"
    )


def test_bedrock_is_a_backend_granted_on_its_model_only_when_chosen(cfn: dict[str, Any]) -> None:
    """bedrock:InvokeModel on the chosen model's foundation-model ARN (no account in it) in
    BedrockRegion, plus the Marketplace subscription a Stability model makes on its first
    invocation, in a policy that exists only when ImageBackend is bedrock; both functions know the
    model and the region, the http function to answer for the model before anything is queued."""
    assert cfn["Parameters"]["ImageBackend"]["AllowedValues"] == ["sagemaker", "placeholder", "bedrock",
                                                                  "sagemaker-async"]  # fmt: skip
    model = cfn["Parameters"]["BedrockModelId"]
    # Today's list, as bot/model/bedrock_models.py has it: no retired model, the default Active.
    assert model["AllowedValues"] == bedrock_models.selectable_ids(bedrock_models.today())
    assert model["Default"] == bedrock_models.DEFAULT_MODEL_ID
    assert bedrock_models.MODELS[model["Default"]].lifecycle == bedrock_models.ACTIVE
    assert "Model access" not in json.dumps(model)
    region = cfn["Parameters"]["BedrockRegion"]
    assert region["Default"] == "us-west-2"
    assert all(region["Default"] in bedrock_models.MODELS[m].regions for m in model["AllowedValues"])
    for good in ("us-west-2", "eu-central-1", "us-gov-west-1"):
        assert re.fullmatch(region["AllowedPattern"], good), good
    for bad in ("Oregon", "us-west", "us-west-2a"):
        assert not re.fullmatch(region["AllowedPattern"], bad), bad
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["BEDROCK_MODEL_ID"] == {"Ref": "BedrockModelId"}
        assert variables["BEDROCK_REGION"] == {"Ref": "BedrockRegion"}
        assert variables["IMAGE_BACKEND"] == {"Ref": "ImageBackend"}
    policy = cfn["Resources"]["WorkerBedrockAccess"]
    assert policy["Condition"] == "RenderOnBedrock"
    assert policy["Properties"]["Roles"] == [{"Ref": "WorkerFunctionRole"}]
    condition = cfn["Conditions"]["RenderOnBedrock"]
    for backend in cfn["Parameters"]["ImageBackend"]["AllowedValues"]:
        assert _evaluate(cfn, condition, {"ImageBackend": backend}) is (backend == "bedrock"), backend
    actions = _role_actions(cfn, "WorkerFunctionRole")
    [arn] = actions["bedrock:InvokeModel"]
    for model_id in model["AllowedValues"]:
        for where in ("us-west-2", "us-east-1"):
            evaluated = _evaluate(cfn, arn, {"BedrockModelId": model_id, "BedrockRegion": where})
            assert evaluated == f"arn:aws:bedrock:{where}::foundation-model/{model_id}"
    [subscribe] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "SubscribeOnFirstInvocation"
    ]
    assert sorted(subscribe["Action"]) == ["aws-marketplace:Subscribe", "aws-marketplace:ViewSubscriptions"]
    # No product id condition: AWS's product-id page names only the 1.0 versions (template comment).
    assert subscribe["Resource"] == "*" and "Condition" not in subscribe
    assert "aws-marketplace:Unsubscribe" not in actions
    assert not any(
        action.startswith(("bedrock:", "aws-marketplace:"))
        for action in _role_actions(cfn, "HttpFunctionRole")
    )


# ---- image operations ---------------------------------------------------------------------------

OPERATION_SETTINGS = {"UpscaleModel": "UPSCALE_MODEL", "VaryModel": "VARY_MODEL", "ZoomModel": "ZOOM_MODEL",
                      "ChangeModel": "CHANGE_MODEL"}  # fmt: skip


def _settings_take(variable: str, value: str) -> bool:
    env = {"JOBS_QUEUE_URL": "q", "TASKS_QUEUE_URL": "t", "JOBS_TABLE": "j", "IMAGES_BUCKET": "b",
           "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "LINK_SECRET": "l",
           variable: value}  # fmt: skip
    try:
        Settings.from_env(env)
    except SettingsError:
        return False
    return True


def test_each_operation_is_a_parameter_both_functions_get_and_it_takes_what_the_setting_takes(
    cfn: dict[str, Any],
) -> None:
    """Each operation's parameter is off by default, passed to every function, and takes exactly
    the values its setting takes (a SageMaker endpoint in lower case, as its grant names it)."""
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {name: variables[name] for name in OPERATION_SETTINGS.values()} == {
            variable: {"Ref": parameter} for parameter, variable in OPERATION_SETTINGS.items()
        }
    candidates = ["", "placeholder", "placeholder:x", "bedrock:", "bedrock:nope", "sagemaker:sd2-x4-upscaler",
                  "sagemaker:", "other:x", *(f"bedrock:{key}" for key in operation_models.BEDROCK),
                  *(f"bedrock:{key.removeprefix('us.')}" for key in operation_models.BEDROCK)]  # fmt: skip
    for parameter, variable in OPERATION_SETTINGS.items():
        spec = cfn["Parameters"][parameter]
        assert spec["Default"] == ""
        for value in candidates:
            assert bool(re.fullmatch(spec["AllowedPattern"], value)) is _settings_take(variable, value), (
                parameter, value,
            )  # fmt: skip
        if re.fullmatch(spec["AllowedPattern"], "sagemaker:sd2-x4-upscaler"):
            assert not re.fullmatch(spec["AllowedPattern"], "sagemaker:SD2-x4-upscaler")


def _granted(cfn: dict[str, Any], parameters: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """The operations' grants a stack with ``parameters`` makes: statement id -> (action, resources)."""
    granted: dict[str, tuple[str, list[str]]] = {}
    for name in sorted(OPERATION_GRANTS):
        policy = cfn["Resources"][name]
        if not _evaluate(cfn, {"Condition": policy["Condition"]}, parameters):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            made = _evaluate(cfn, statement, parameters)
            if made is not _NO_VALUE:
                granted[made["Sid"]] = (str(made["Action"]), _listed(made["Resource"]))
    return granted


def test_each_operation_is_granted_exactly_its_model_and_only_when_it_is_on(cfn: dict[str, Any]) -> None:
    """A Bedrock image service is granted through its us. inference profile in BedrockRegion and as
    the foundation model in each Region the profile routes to (us-east-1, us-east-2, us-west-2;
    https://docs.aws.amazon.com/bedrock/latest/userguide/cross-region-inference-prereq.html); SD3.5
    Large on demand in BedrockRegion; a SageMaker endpoint by its ARN; nothing when off or on the
    placeholder."""
    off = dict.fromkeys(OPERATION_SETTINGS, "")
    assert _granted(cfn, off) == {}
    assert _granted(cfn, dict.fromkeys(OPERATION_SETTINGS, "placeholder")) == {}
    upscale, base = "us.stability.stable-fast-upscale-v1:0", "stability.stable-fast-upscale-v1:0"
    granted = _granted(
        cfn, off | {"UpscaleModel": f"bedrock:{upscale}", "ZoomModel": "sagemaker:sd2-inpainting"}
    )
    regions = ("us-east-1", "us-east-2", "us-west-2")
    subscribe = str(["aws-marketplace:Subscribe", "aws-marketplace:ViewSubscriptions"])
    assert granted == {
        "InvokeTheUpscaleModel": ("bedrock:InvokeModel", [
            f"arn:aws:bedrock:us-west-2:{ACCOUNT}:inference-profile/{upscale}",
            *(f"arn:aws:bedrock:{region}::foundation-model/{base}" for region in regions),
        ]),
        "SubscribeOnFirstInvocation": (subscribe, ["*"]),
        "InvokeTheZoomEndpoint": (
            "sagemaker:InvokeEndpoint", [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/sd2-inpainting"],
        ),
    }  # fmt: skip
    vary = _granted(
        cfn, off | {"VaryModel": "bedrock:stability.sd3-5-large-v1:0", "BedrockRegion": "us-west-2"}
    )
    assert vary["InvokeTheVaryModel"] == (
        "bedrock:InvokeModel", ["arn:aws:bedrock:us-west-2::foundation-model/stability.sd3-5-large-v1:0"],
    )  # fmt: skip
    change = _granted(cfn, off | {"ChangeModel": "bedrock:us.stability.stable-image-search-replace-v1:0"})
    assert set(change) == {"InvokeTheChangeModel", "SubscribeOnFirstInvocation"}
    assert not any("sagemaker" in arn for _, arns in change.values() for arn in arns)


def _broken_rules(cfn: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """The template's Rules a deploy with ``parameters`` would break (CloudFormation refuses it)."""
    return [
        name
        for name, rule in cfn["Rules"].items()
        if _evaluate(cfn, rule.get("RuleCondition", True), parameters)
        and not all(_evaluate(cfn, a["Assert"], parameters) for a in rule["Assertions"])
    ]


def test_a_deploy_whose_bedrock_region_does_not_serve_an_operations_model_is_refused(
    cfn: dict[str, Any],
) -> None:
    """Each Bedrock model an operation may name is served in its regions (bot/model/operation_models.py:
    the us. profiles' three, SD3.5 Large's us-west-2), and the template's Rules refuse any other
    BedrockRegion for it before anything is created."""
    for model in operation_models.BEDROCK.values():
        parameter = {"upscale": "UpscaleModel", "vary_subtle": "VaryModel", "zoom_out": "ZoomModel",
                     "change": "ChangeModel"}[model.operations[0]]  # fmt: skip
        for region in ("us-east-1", "us-east-2", "us-west-2", "eu-central-1"):
            broken = _broken_rules(cfn, {parameter: f"bedrock:{model.key}", "BedrockRegion": region})
            assert bool(broken) is (region not in model.regions), (model.key, region, broken)
    assert (
        _broken_rules(cfn, {"UpscaleModel": "sagemaker:sd2-x4-upscaler", "BedrockRegion": "eu-central-1"})
        == []
    )


# ---- asynchronous inference (ImageBackend=sagemaker-async) ------------------------------------

ASYNC_ONLY = {
    "WorkerAsyncAccess", "EndpointAsyncAccess", "AsyncSuccessTopic", "AsyncErrorTopic", "NotificationsQueue",
    "NotificationsDeadLetterQueue", "NotificationsQueuePolicy", "NotifierFunction", "NotifierFunctionRole",
    "NotifierFunctionLogs", "NotificationsDeadLetterQueueNotEmpty",
}  # fmt: skip
SCALING_ONLY = {
    "AsyncEndpointScalableTarget",
    "AsyncBacklogTracking",
    "AsyncWakeFromZero",
    "AsyncBacklogWithoutCapacity",
}


def test_async_resources_exist_only_when_chosen(cfn: dict[str, Any]) -> None:
    """Everything the asynchronous endpoint needs is under RenderAsync, and its autoscaling under
    ScaleAsyncEndpoint: on once the endpoint exists (Application Auto Scaling registers an existing
    variant), with sagemaker-async only."""
    resources = cfn["Resources"]
    for name in ASYNC_ONLY:
        assert resources[name]["Condition"] == "RenderAsync", name
    for name in SCALING_ONLY:
        assert resources[name]["Condition"] == "ScaleAsyncEndpoint", name
    derived = [n for n, r in resources.items() if n.startswith("NotifierFunction") and n not in ASYNC_ONLY]
    assert derived and all(
        resources[n].get("Condition") == "RenderAsync" for n in derived
    )  # its event sources
    for backend in cfn["Parameters"]["ImageBackend"]["AllowedValues"]:
        for scaling in ("off", "on"):
            chosen = {"ImageBackend": backend, "AsyncAutoScaling": scaling}
            assert _evaluate(cfn, cfn["Conditions"]["RenderAsync"], chosen) is (backend == "sagemaker-async")
            scales = _evaluate(cfn, cfn["Conditions"]["ScaleAsyncEndpoint"], chosen)
            assert scales is (backend == "sagemaker-async" and scaling == "on")
    assert cfn["Parameters"]["AsyncAutoScaling"]["Default"] == "off"
    ttl = cfn["Parameters"]["AsyncRequestTtlSeconds"]
    assert (ttl["MinValue"], ttl["MaxValue"]) == (60, 21600)  # InvokeEndpointAsync's RequestTTLSeconds
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["ASYNC_REQUEST_TTL_SECONDS"] == {"Ref": "AsyncRequestTtlSeconds"}


def test_async_grants_are_made_only_when_chosen(cfn: dict[str, Any]) -> None:
    from bot.backends.sagemaker_async import FAILURE_PREFIX, INPUT_PREFIX, OUTPUT_PREFIX

    bucket = "${ImagesBucket.Arn}/"
    inputs, outputs, failures = ({"Fn::Sub": bucket + prefix + "*"} for prefix in
                                 (INPUT_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX))  # fmt: skip
    policy = cfn["Resources"]["WorkerAsyncAccess"]["Properties"]
    assert policy["Roles"] == [{"Ref": "WorkerFunctionRole"}]
    worker = {a: s["Resource"] for s in policy["PolicyDocument"]["Statement"] for a in _listed(s["Action"])}
    assert set(worker) == {"sagemaker:InvokeEndpointAsync", "sagemaker:DescribeEndpoint", "s3:PutObject",
                           "s3:DeleteObject"}  # fmt: skip
    every = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789"
    for action in ("sagemaker:InvokeEndpointAsync", "sagemaker:DescribeEndpoint"):
        arn = _evaluate(cfn, worker[action], {"SageMakerEndpointName": every})
        assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{every.lower()}"
    assert worker["s3:PutObject"] == inputs

    notifier = _role_actions(cfn, "NotifierFunctionRole")
    assert set(notifier) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:SendMessage", "s3:GetObject",
        "s3:PutObject", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "secretsmanager:GetSecretValue", "s3:DeleteObject", "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }  # fmt: skip
    assert notifier["sqs:ReceiveMessage"] == [{"Fn::GetAtt": ["NotificationsQueue", "Arn"]}]
    assert notifier["sqs:SendMessage"] == [{"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}]  # given-up jobs
    assert notifier["s3:GetObject"] == [outputs, failures, {"Fn::Sub": bucket + "images/*"}]
    assert notifier["s3:PutObject"] == [{"Fn::Sub": bucket + "images/*"}]
    assert notifier["dynamodb:Query"] == [{"Fn::Sub": f"${{JobsTable.Arn}}/index/{WAITING_INDEX}"}]

    endpoint = _role_actions(cfn, "EndpointAsyncAccess")  # for the endpoint's own execution role
    assert endpoint == {
        "s3:GetObject": [inputs],
        "s3:PutObject": [outputs, failures],
        "sns:Publish": [{"Ref": "AsyncSuccessTopic"}, {"Ref": "AsyncErrorTopic"}],
    }
    assert not any(a.startswith(("sagemaker:", "sns:")) for a in _role_actions(cfn, "HttpFunctionRole"))


def test_the_topics_feed_the_notifier_through_a_queue_with_its_dead_letter_queue(cfn: dict[str, Any]) -> None:
    """Both topics deliver to the notifications queue with SNS's envelope (bot/worker/async_answers.py reads
    it), which the queue's policy lets only those topics send; the notifier takes it as the worker
    takes its queues, and sweeps every 5 minutes."""
    resources = cfn["Resources"]
    queue_arn = {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    for topic in ("AsyncSuccessTopic", "AsyncErrorTopic"):
        [subscription] = resources[topic]["Properties"]["Subscription"]
        assert subscription == {"Protocol": "sqs", "Endpoint": queue_arn}  # no RawMessageDelivery
    [allowed] = resources["NotificationsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (allowed["Effect"], allowed["Action"], allowed["Resource"]) == (
        "Allow",
        "sqs:SendMessage",
        queue_arn,
    )
    assert allowed["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allowed["Condition"] == {
        "ArnEquals": {"aws:SourceArn": [{"Ref": "AsyncSuccessTopic"}, {"Ref": "AsyncErrorTopic"}]}
    }
    notifier = resources["NotifierFunction"]["Properties"]
    assert notifier["Handler"] == "bot.handlers.notifier_handler"
    queue = resources["NotificationsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * notifier["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    variables = notifier["Environment"]["Variables"]
    assert variables["NOTIFICATIONS_QUEUE_URL"] == {"Ref": "NotificationsQueue"}
    assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": "JobsDeadLetterQueue"}
    [mapping] = [m["Properties"] for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["EventSourceArn"] == queue_arn]  # fmt: skip
    assert mapping["FunctionName"] == {"Ref": "NotifierFunction"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [rule] = _schedules_of(cfn, "NotifierFunction")
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": ["NotifierFunction", "Arn"]}]


def test_the_sweep_reads_a_sparse_index_of_the_waiting_jobs(cfn: dict[str, Any]) -> None:
    table = cfn["Resources"]["JobsTable"]["Properties"]
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == WAITING_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": "waiting", "KeyType": "HASH"},
        {"AttributeName": "give_up_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert types == {"pk": "S", "waiting": "S", "give_up_at": "N"}


def test_the_outputs_are_what_the_endpoints_async_inference_config_needs(cfn: dict[str, Any]) -> None:
    from bot.backends.sagemaker_async import FAILURE_PREFIX, OUTPUT_PREFIX

    outputs = cfn["Outputs"]
    named = {"AsyncSuccessTopicArn", "AsyncErrorTopicArn", "AsyncOutputPath", "AsyncFailurePath",
             "EndpointAsyncPolicyArn", "NotificationsQueueUrl"}  # fmt: skip
    assert all(outputs[name]["Condition"] == "RenderAsync" for name in named)
    assert outputs["AsyncSuccessTopicArn"]["Value"] == {"Ref": "AsyncSuccessTopic"}
    assert outputs["AsyncErrorTopicArn"]["Value"] == {"Ref": "AsyncErrorTopic"}
    bucket = {"ImagesBucket": "imagine-imagesbucket-x"}
    assert (
        _evaluate(cfn, outputs["AsyncOutputPath"]["Value"], bucket)
        == f"s3://imagine-imagesbucket-x/{OUTPUT_PREFIX}"
    )
    assert (
        _evaluate(cfn, outputs["AsyncFailurePath"]["Value"], bucket)
        == f"s3://imagine-imagesbucket-x/{FAILURE_PREFIX}"
    )
    assert outputs["EndpointAsyncPolicyArn"]["Value"] == {"Ref": "EndpointAsyncAccess"}


def test_the_async_endpoint_scales_to_zero_and_wakes_on_its_backlog(cfn: dict[str, Any]) -> None:
    """As AWS's guide sets up asynchronous inference's autoscaling
    (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html): minimum 0,
    target tracking on ApproximateBacklogSizePerInstance, and a step policy triggered by an alarm on
    HasBacklogWithoutCapacity, which is what starts an instance from zero."""
    resources = cfn["Resources"]
    target = resources["AsyncEndpointScalableTarget"]["Properties"]
    assert (target["ServiceNamespace"], target["ScalableDimension"]) == (
        "sagemaker",
        "sagemaker:variant:DesiredInstanceCount",
    )
    assert _evaluate(cfn, target["ResourceId"]) == f"endpoint/{ENDPOINT}/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, {"Ref": "AsyncMaxInstances"})
    tracking = resources["AsyncBacklogTracking"]["Properties"]
    assert tracking["PolicyType"] == "TargetTrackingScaling"
    assert tracking["ScalingTargetId"] == {"Ref": "AsyncEndpointScalableTarget"}
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == {"Ref": "AsyncBacklogPerInstance"}
    assert config["CustomizedMetricSpecification"] == {
        "Namespace": "AWS/SageMaker",
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Dimensions": [{"Name": "EndpointName", "Value": {"Ref": "SageMakerEndpointName"}}],
        "Statistic": "Average",
    }
    wake = resources["AsyncWakeFromZero"]["Properties"]
    assert wake["PolicyType"] == "StepScaling"
    assert wake["ScalingTargetId"] == {"Ref": "AsyncEndpointScalableTarget"}
    steps = wake["StepScalingPolicyConfiguration"]
    assert steps["AdjustmentType"] == "ChangeInCapacity"
    assert steps["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    alarm = resources["AsyncBacklogWithoutCapacity"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "HasBacklogWithoutCapacity")
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": {"Ref": "SageMakerEndpointName"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AsyncWakeFromZero"}, {"Ref": "AlarmTopic"}]  # and it is said
    assert cfn["Parameters"]["AsyncMaxInstances"]["MinValue"] == 1


def test_delivery_settings_are_parameters_passed_to_both_functions(cfn: dict[str, Any]) -> None:
    for parameter, variable, default in (
        ("ImageDelivery", "IMAGE_DELIVERY", "link"),
        ("ImageLinkMode", "IMAGE_LINK_MODE", "redirect"),
    ):
        assert cfn["Parameters"][parameter]["Default"] == default
        for function in _of_type(cfn, "AWS::Lambda::Function").values():
            assert function["Properties"]["Environment"]["Variables"][variable] == {"Ref": parameter}
    assert cfn["Parameters"]["ImageLinkMode"]["AllowedValues"] == list(LINK_MODES)
    assert cfn["Parameters"]["ImageDelivery"]["AllowedValues"] == ["link", "upload"]


def test_table_is_on_demand_with_ttl_and_recovery(cfn: dict[str, Any]) -> None:
    table = cfn["Resources"]["JobsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_every_function_is_traced_and_may_write_its_traces(cfn: dict[str, Any]) -> None:
    for name, function in _of_type(cfn, "AWS::Lambda::Function").items():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, name
    for role in ("HttpFunctionRole", "WorkerFunctionRole", "NotifierFunctionRole"):
        actions = _role_actions(cfn, role)
        assert actions["xray:PutTraceSegments"] == actions["xray:PutTelemetryRecords"] == ["*"], role


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
    assert sorted(handlers_named) == [
        "bot.handlers.http_handler", "bot.handlers.notifier_handler", "bot.handlers.worker_handler",
    ]  # fmt: skip
    for handler in handlers_named:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_http_api_routes_slack_and_image_links_to_the_http_function(cfn: dict[str, Any]) -> None:
    """The http function answers HEAD on image links, so the route takes HEAD as well as GET;
    the install page and Slack's OAuth redirect are GET routes to it too."""
    [api] = _of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    paths = api["Properties"]["Body"]["paths"]
    assert set(paths) == {"/slack/events", "/images/{proxy+}", "/slack/install", "/slack/oauth_redirect"}
    assert set(paths["/slack/events"]) == {"post"}
    assert set(paths["/images/{proxy+}"]) == {"get", "head"}
    assert set(paths["/slack/install"]) == set(paths["/slack/oauth_redirect"]) == {"get"}
    images = paths["/images/{proxy+}"]
    install, redirect = paths["/slack/install"]["get"], paths["/slack/oauth_redirect"]["get"]
    for route in (paths["/slack/events"]["post"], images["get"], images["head"], install, redirect):
        uri = json.dumps(route["x-amazon-apigateway-integration"]["uri"])
        assert "HttpFunction" in uri and "WorkerFunction" not in uri


# What an access log line may hold. Not $context.path: an image path carries its link token.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
ACCESS_LOG_VARIABLES = {
    "requestId", "requestTime", "httpMethod", "routeKey", "status", "protocol", "responseLength",
    "responseLatency", "integrationStatus", "integrationLatency", "integrationErrorMessage",
    "error.message", "identity.sourceIp", "identity.userAgent",
}  # fmt: skip


def test_http_api_writes_access_logs_without_tokens(cfn: dict[str, Any]) -> None:
    [stage] = _of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    group = cfn["Resources"]["HttpApiAccessLogs"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/")
    line = json.loads(settings["Format"])  # one JSON object a request
    used = set(re.findall(r"\$context\.([A-Za-z.]+)", settings["Format"]))
    assert "requestId" in used  # API Gateway requires it
    assert used <= ACCESS_LOG_VARIABLES, used - ACCESS_LOG_VARIABLES
    assert all(value.count("$") == 1 for value in line.values())


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
        ("AWS/SageMaker", "HasBacklogWithoutCapacity"),  # wakes the asynchronous endpoint from zero
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),  # the oldest waiting job
        ("imagine", "TimeToImage"),  # its p95, emitted by bot/worker/timings.py
    }
    assert {"SlackRequestUrl", "ImagesBaseUrl", "AlarmTopic"} <= set(cfn["Outputs"])


def test_every_alarm_reaches_someone_through_the_topic_and_an_email_is_optional(cfn: dict[str, Any]) -> None:
    """Each alarm notifies AlarmTopic (on alarm, and on recovery where it is a failure), which
    CloudWatch of this account alone may publish to; AlarmEmail subscribes an address, and an
    empty one makes the topic with no subscription."""
    for name, alarm in _of_type(cfn, "AWS::CloudWatch::Alarm").items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], name
    topic = cfn["Resources"]["AlarmTopic"]["Properties"]
    assert _evaluate(cfn, topic["Subscription"], {"AlarmEmail": ""}) is _NO_VALUE
    assert _evaluate(cfn, topic["Subscription"], {"AlarmEmail": "ops@example.com"}) == [
        {"Protocol": "email", "Endpoint": "ops@example.com"}
    ]
    [statement] = cfn["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (
        statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        and statement["Action"] == "sns:Publish"
    )
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    pattern = re.compile(cfn["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert pattern.match("") and pattern.match("ops@example.com") and not pattern.match("not an address")


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


def _without_pip(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine whose python3 has venv but no pip: python3, python and pip on
    PATH answer as a pip-less Python does."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3", "python", "pip", "pip3"):
        shim = shims / name
        shim.write_text('#!/bin/sh\necho "$0: No module named pip" >&2\nexit 1\n')
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "BUILD_PYTHON", "VIRTUAL_ENV"}}
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.spawns
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_lambda_build_uses_the_projects_virtualenv_not_the_system_pip(tmp_path: Path) -> None:
    """What `sam build` runs for the http function (BuildMethod: makefile), on this machine: no
    Docker, no python3.12, and pip from the project's virtualenv, as the system python3 may have
    none."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "bot", source, ignore=shutil.ignore_patterns("__pycache__"))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    env = _without_pip(tmp_path)
    make = [str(shutil.which("make")), "--makefile", str(ROOT / "infra" / "Makefile"), "build-HttpFunction",
            f"ARTIFACTS_DIR={artifacts}"]  # fmt: skip
    planned = subprocess.run(
        [*make, "--dry-run"], cwd=source, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    [pip] = [line for line in planned.stdout.splitlines() if " -m pip install " in line]
    venvs = (ROOT / ".venv-sam" / "bin" / "python", ROOT / ".venv" / "bin" / "python")
    assert pip.split()[0] in {str(v) for v in venvs}, pip
    done = subprocess.run(make, cwd=source, env=env, capture_output=True, text=True, timeout=300, check=False)
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
    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::SNS::TopicPolicy",
}  # fmt: skip


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in (ROOT / "bot").rglob("*.py"):
            archive.write(path, path.relative_to(ROOT).as_posix())
    return buffer.getvalue()


def _function_env(lam: Any, logical_id: str, stack: str) -> dict[str, str]:
    [name] = [
        f["FunctionName"]
        for f in lam.list_functions()["Functions"]
        if f["FunctionName"].startswith(f"{stack}-") and f"-{logical_id}-" in f["FunctionName"]
    ]
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    return {key: str(value) for key, value in variables.items()}


def _deploy(cfn: dict[str, Any], moto_url: str, monkeypatch: pytest.MonkeyPatch,
            parameters: dict[str, str]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """``cfn`` created in moto as CloudFormation would make it (less what moto cannot model):
    the stack's name and its resources by logical id."""
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
    stack = f"imagine-{id(cfn) % 100000}-{parameters.get('ImageBackend', 'sagemaker')}"
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(deployable),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    created = {r["LogicalResourceId"]: r for r in
               cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]}  # fmt: skip
    expected = ["JobsQueue", "TasksQueue", "JobsDeadLetterQueue", "JobsTable", "ImagesBucket", "HttpFunction",
                "WorkerFunction", "WorkerFunctionJobs", "WorkerFunctionTasks", "HttpFunctionRole",
                "WorkerFunctionRole"]  # fmt: skip
    for name in expected:
        assert created[name]["ResourceStatus"] == "CREATE_COMPLETE", name
    return stack, created


def _stack_secrets(stack: str) -> tuple[str, str]:
    """The secrets, as the deployed stack holds them: Slack's filled in by hand, the link key
    generated. Their ARNs."""
    secrets = boto3.client("secretsmanager")
    slack_secret = secrets.create_secret(
        Name=f"{stack}-slack", SecretString=json.dumps({"SLACK_BOT_TOKEN": "xoxb-from-secrets-manager",
                                                        "SLACK_SIGNING_SECRET": SIGNING_SECRET}),
    )["ARN"]  # fmt: skip
    link_secret = secrets.create_secret(Name=f"{stack}-link", SecretString="g" * 64)["ARN"]
    return slack_secret, link_secret


def _inline_policy(role: str, name: str) -> dict[str, Any]:
    document = boto3.client("iam").get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps a stack-made inline policy as Python's repr of it
        document = ast.literal_eval(document)
    return dict(document)


def test_stack_deploys_into_moto_and_serves_an_image_end_to_end(
    cfn: dict[str, Any],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    sagemaker: SageMakerStandIn,
    app_server: LocalServer,
    screening_endpoints: dict[str, str],
) -> None:
    stack, created = _deploy(cfn, moto_url, monkeypatch, {"SageMakerEndpointName": ENDPOINT})
    assert "WorkerBedrockAccess" not in created  # made only when ImageBackend is bedrock
    lam = boto3.client("lambda")
    worker_name = created["WorkerFunction"]["PhysicalResourceId"]
    assert "Concurrency" not in lam.get_function(FunctionName=worker_name)  # nothing reserved
    # The worker may invoke the endpoint by the ARN SageMaker gives it: the name in lower case.
    role = created["WorkerFunctionRole"]["PhysicalResourceId"]
    document = _inline_policy(role, "imagine-worker")
    [grant] = [s for s in document["Statement"] if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert grant["Resource"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{ENDPOINT.lower()}"

    slack_secret, link_secret = _stack_secrets(stack)
    sagemaker.endpoints = (ENDPOINT,)  # the endpoint exists, by its exact (mixed-case) name
    recorder = SlackRecorder().start()
    try:
        runtime = {
            "SLACK_SECRET_ID": slack_secret,
            "LINK_SECRET_ID": link_secret,
            "SLACK_API_URL": recorder.api_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url,
            **screening_endpoints,
            # moto creates no HTTP API: http_handler on loopback plays it, so the recorder can
            # download the image links as Slack would.
            "PUBLIC_BASE_URL": app_server.url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }

        def become(function: str) -> None:
            """Run as that function would: its deployed environment plus the test's endpoints."""
            for key, value in {**_function_env(lam, function, stack), **runtime}.items():
                monkeypatch.setenv(key, value)
            reset_process_services()

        become("HttpFunction")
        monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
        response = call_http(command_event("a cyborg tiger --ar 16:9 --seed 5"))
        assert response["statusCode"] == 200, response
        assert recorder.snapshot() == []

        become("WorkerFunction")
        queue_url = process_services().settings.jobs_queue_url
        messages = process_services().sqs.receive_message(
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

        # The tasks lane: a mention the http function cannot queue is told to its author by the
        # worker, from the tasks queue the stack made and named to both functions.
        mappings = lam.list_event_source_mappings(FunctionName=worker_name)["EventSourceMappings"]
        tasks_name = created["TasksQueue"]["PhysicalResourceId"].rsplit("/", 1)[-1]
        tasks_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{tasks_name}"
        assert tasks_arn in {m["EventSourceArn"] for m in mappings}
        become("HttpFunction")
        thread = update.args["ts"]
        response = call_http(
            slack_event(app_mention("--ar 99:1", channel_id=update.args["channel"], thread_ts=thread))
        )
        assert response["statusCode"] == 200, response
        assert recorder.calls_to("chat.postEphemeral") == []
        become("WorkerFunction")
        tasks_url = process_services().settings.tasks_queue_url
        assert tasks_url == created["TasksQueue"]["PhysicalResourceId"]
        # The command's own task (its queued message; the job is done, so it says nothing) is
        # in the tasks queue too.
        messages = process_services().sqs.receive_message(
            QueueUrl=tasks_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        )["Messages"]
        assert sorted(json.loads(m["Body"])["task"] for m in messages) == ["notice", "status"]
        assert call_worker(to_event(messages, tasks_arn, "us-east-1")) == {"batchItemFailures": []}
        [notice] = recorder.calls_to("chat.postEphemeral")
        assert notice.ok and (notice.args["user"], notice.args["thread_ts"]) == ("U0LOCAL", thread)
    finally:
        recorder.stop()
        reset_process_services()


@pytest.fixture
def bedrock_runtime() -> Iterator[BedrockStandIn]:
    stand_in = BedrockStandIn(region="us-west-2").start()  # where Stability's models are served
    yield stand_in
    stand_in.stop()


def test_a_stack_deployed_for_bedrock_grants_its_model_and_draws_with_it(
    cfn: dict[str, Any],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    bedrock_runtime: BedrockStandIn,
    app_server: LocalServer,
    screening_endpoints: dict[str, str],
) -> None:
    model_id = "stability.stable-image-core-v1:1"
    parameters = {"SageMakerEndpointName": ENDPOINT, "ImageBackend": "bedrock", "BedrockModelId": model_id}
    stack, created = _deploy(cfn, moto_url, monkeypatch, parameters)
    assert created["WorkerBedrockAccess"]["ResourceStatus"] == "CREATE_COMPLETE"
    role = created["WorkerFunctionRole"]["PhysicalResourceId"]
    # A stack in us-east-1 is granted the model in BedrockRegion (us-west-2 by default), and the
    # Marketplace subscription of its first invocation.
    [grant, subscribe] = _inline_policy(role, "imagine-worker-bedrock")["Statement"]
    assert (grant["Effect"], grant["Action"]) == ("Allow", "bedrock:InvokeModel")
    assert grant["Resource"] == f"arn:aws:bedrock:us-west-2::foundation-model/{model_id}"
    assert sorted(subscribe["Action"]) == ["aws-marketplace:Subscribe", "aws-marketplace:ViewSubscriptions"]
    bedrock_runtime.subscribed = set()  # a new account: the first invocation subscribes it
    bedrock_runtime.may_subscribe = True

    slack_secret, link_secret = _stack_secrets(stack)
    recorder = SlackRecorder().start()
    lam = boto3.client("lambda")
    try:
        runtime = {
            "SLACK_SECRET_ID": slack_secret,
            "LINK_SECRET_ID": link_secret,
            "SLACK_API_URL": recorder.api_url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_runtime.url,
            **screening_endpoints,
            "PUBLIC_BASE_URL": app_server.url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }

        def become(function: str) -> None:
            for key, value in {**_function_env(lam, function, stack), **runtime}.items():
                monkeypatch.setenv(key, value)
            reset_process_services()

        become("HttpFunction")
        response = call_http(command_event("a cyborg tiger --ar 16:9 --seed 5 --steps 40"))
        assert response["statusCode"] == 200, response
        assert "`--steps` is not used by Stable Image Core." in response["body"]

        become("WorkerFunction")
        queue_url = process_services().settings.jobs_queue_url
        messages = process_services().sqs.receive_message(
            QueueUrl=queue_url, MessageSystemAttributeNames=["All"]
        )["Messages"]
        queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"
        assert call_worker(to_event(messages, queue_arn, "us-east-1")) == {"batchItemFailures": []}
        assert process_services().settings.bedrock_region == "us-west-2"  # from the stack's environment
        [invocation] = bedrock_runtime.invocations
        assert invocation.model_id == model_id and invocation.body["aspect_ratio"] == "16:9"
        assert "/us-west-2/bedrock/aws4_request" in invocation.headers["authorization"]
        assert bedrock_runtime.subscribed == {model_id}
        [update] = recorder.calls_to("chat.update")
        assert [b["type"] for b in update.args["blocks"]].count("image") == 1
    finally:
        recorder.stop()
        reset_process_services()


# Resource types the asynchronous stack adds that moto's CloudFormation does not model either.
ASYNC_MOTO_SKIPS = {
    "AWS::SQS::QueuePolicy", "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}  # fmt: skip


def test_a_stack_deployed_for_the_async_endpoint_submits_and_its_notifier_delivers(
    cfn: dict[str, Any],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    app_server: LocalServer,
    screening_endpoints: dict[str, str],
) -> None:
    """ImageBackend=sagemaker-async with autoscaling on, deployed into moto: the worker submits to
    the endpoint (configured with the stack's paths and topics), the endpoint publishes to the
    stack's topic, SNS delivers to the stack's notifications queue, and the notifier posts."""
    assert {r["Type"] for r in cfn["Resources"].values()} >= ASYNC_MOTO_SKIPS
    parameters = {
        "SageMakerEndpointName": ENDPOINT,
        "ImageBackend": "sagemaker-async",
        "AsyncAutoScaling": "on",
    }
    stack, created = _deploy(cfn, moto_url, monkeypatch, parameters)
    for name in ASYNC_ONLY - {"NotificationsQueuePolicy", "NotificationsDeadLetterQueueNotEmpty"}:  # skipped
        assert created[name]["ResourceStatus"] == "CREATE_COMPLETE", name
    role = created["WorkerFunctionRole"]["PhysicalResourceId"]
    document = _inline_policy(role, "imagine-worker-async")
    [invoke] = [s for s in document["Statement"] if "sagemaker:InvokeEndpointAsync" in s["Action"]]
    assert invoke["Resource"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{ENDPOINT.lower()}"

    slack_secret, link_secret = _stack_secrets(stack)
    bucket = created["ImagesBucket"]["PhysicalResourceId"]
    endpoint = AsyncStandIn(
        aws_url=moto_url,
        output_path=f"s3://{bucket}/async-outputs/",
        failure_path=f"s3://{bucket}/async-failures/",
        success_topic=created["AsyncSuccessTopic"]["PhysicalResourceId"],
        error_topic=created["AsyncErrorTopic"]["PhysicalResourceId"],
        endpoints=(ENDPOINT,),
        instances=1,
    ).start()
    recorder = SlackRecorder().start()
    lam = boto3.client("lambda")
    try:
        runtime = {
            "SLACK_SECRET_ID": slack_secret,
            "LINK_SECRET_ID": link_secret,
            "SLACK_API_URL": recorder.api_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
            **screening_endpoints,
            "AWS_ENDPOINT_URL_SAGEMAKER": endpoint.url,
            "PUBLIC_BASE_URL": app_server.url,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }

        def become(function: str) -> None:
            for key, value in {**_function_env(lam, function, stack), **runtime}.items():
                monkeypatch.setenv(key, value)
            reset_process_services()

        def event_of(queue_url: str) -> dict[str, Any]:
            messages = process_services().sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            )["Messages"]
            return to_event(
                messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}", "us-east-1"
            )

        become("HttpFunction")
        assert call_http(command_event("a cyborg tiger --seed 5"))["statusCode"] == 200
        become("WorkerFunction")
        assert call_worker(event_of(process_services().settings.jobs_queue_url)) == {"batchItemFailures": []}
        [request] = endpoint.requests
        assert request.input_location.startswith(f"s3://{bucket}/async-inputs/")
        assert recorder.calls_to("chat.update") == []

        endpoint.work()
        become("NotifierFunction")
        notifications = process_services().settings.notifications_queue_url
        assert notifications == created["NotificationsQueue"]["PhysicalResourceId"]
        notifier = LocalContext("imagine-notifier", "NotifierFunction")
        assert dict(handlers.notifier_handler(event_of(notifications), notifier)) == {"batchItemFailures": []}
        [update] = recorder.calls_to("chat.update")
        [image] = [b for b in update.args["blocks"] if b["type"] == "image"]
        key = "images/" + image["image_url"].split("/images/", 1)[1].split("/", 1)[1]
        assert boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "image/jpeg"
    finally:
        recorder.stop()
        endpoint.stop()
        reset_process_services()


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
    # Mentions and the Home tab's openings arrive through the Events API, at the same /slack/events.
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "app_mention", "app_home_opened", "app_uninstalled", "tokens_revoked",
    ]  # fmt: skip
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["request_url"] == PLACEHOLDER
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/slack/events"
    done: dict[str, Any] = yaml.safe_load(filled(url))
    assert done["features"]["slash_commands"][0]["url"] == url
    assert done["settings"]["interactivity"]["request_url"] == url
    assert done["settings"]["event_subscriptions"]["request_url"] == url
    # "Add to Slack": Slack's redirect back to the stack's /slack/oauth_redirect.
    assert manifest["oauth_config"]["redirect_urls"] == [REDIRECT_PLACEHOLDER]
    assert done["oauth_config"]["redirect_urls"] == [
        "https://abc123.execute-api.eu-west-1.amazonaws.com/slack/oauth_redirect"
    ]
    assert PLACEHOLDER not in filled(url)
    with pytest.raises(ValueError, match="https"):
        filled("http://plain.example/slack/events")


def test_every_event_the_manifest_subscribes_to_has_a_listener(manifest: dict[str, Any]) -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "bot" / "listeners").rglob("*.py"))
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert re.search(rf"@app\.event\(\s*\"{event}\"\s*\)", code), event


def test_every_scope_the_manifest_asks_for_is_used(manifest: dict[str, Any]) -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if "local" not in p.parts)
    # Each scope and the code that needs it. chat:write.public is what lets chat.postMessage
    # reach public channels the bot was never invited to.
    evidence = {
        # The app_mention event: Slack sends it only to an app holding this scope.
        "app_mentions:read": r"@app\.event\(\s*\"app_mention\"\s*\)",
        "commands": r"@app\.command\(",
        "chat:write": r"chat_postMessage\(|chat_update\(",
        "chat:write.public": r"chat_postMessage\(\s*channel=job\.channel_id",
        # files.getUploadURLExternal / files.completeUploadExternal, which files_upload_v2 calls.
        "files:write": r"files_upload_v2\(",
        # conversations.open, for a direct message to the requester as the last resort.
        "im:write": r"conversations_open\(",
        "users:read": r"users_info\(",
    }
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == sorted(evidence)
    for scope in scopes:
        assert re.search(evidence[scope], code), scope


# ---- the asynchronous endpoint's requests and answers (issue 14, defect 5) -----------------------


def test_the_async_requests_and_answers_expire_soon_and_only_their_users_delete_them(
    cfn: dict[str, Any],
) -> None:
    """async-inputs/ holds every prompt and async-outputs/ / async-failures/ every answer. The
    notifier and the sweep delete them once used, Delete what is left (bot/worker/async_answers.py,
    bot/usecases/delete.py); a lifecycle rule on each prefix catches what a crash left, soon
    after the longest a job can wait on the endpoint, and long before the images' own."""
    from bot.backends.sagemaker_async import (
        FAILURE_PREFIX,
        GRACE_SECONDS,
        INPUT_PREFIX,
        INVOCATION_TIMEOUT_SECONDS,
        OUTPUT_PREFIX,
    )

    prefixes = (INPUT_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX)
    lifecycle = cfn["Resources"]["ImagesBucket"]["Properties"]["LifecycleConfiguration"]
    rules = {rule.get("Prefix"): rule for rule in lifecycle["Rules"]}
    ttl = cfn["Parameters"]["AsyncRequestTtlSeconds"]["MaxValue"]
    longest_wait = ttl + INVOCATION_TIMEOUT_SECONDS + GRACE_SECONDS
    for prefix in prefixes:
        rule = rules[prefix]
        assert rule["Status"] == "Enabled" and set(rule) == {"Id", "Status", "Prefix", "ExpirationInDays"}
        days = rule["ExpirationInDays"]
        assert isinstance(days, int) and longest_wait < days * 86400 <= 2 * 86400, (prefix, days)
    assert rules["images/"]["ExpirationInDays"] == {"Ref": "ImageRetentionDays"}

    # s3:DeleteObject on those prefixes exactly, for the two functions that delete there: the
    # worker (a refused request; the Delete task), under RenderAsync; the notifier (its sweep too).
    bucket = "${ImagesBucket.Arn}/"
    async_keys = [{"Fn::Sub": bucket + prefix + "*"} for prefix in prefixes]
    deletes: dict[str, list[Any]] = {}
    for name, statement in _statements(cfn):
        if statement["Effect"] == "Allow" and "s3:DeleteObject" in _listed(statement["Action"]):
            assert _listed(statement["Action"]) == ["s3:DeleteObject"], statement
            deletes.setdefault(name, []).extend(_listed(statement["Resource"]))
    assert deletes == {
        "WorkerFunctionRole": [{"Fn::Sub": bucket + "images/*"}, *async_keys],
        "NotifierFunctionRole": async_keys,
    }
    worker_async = cfn["Resources"]["WorkerAsyncAccess"]
    assert worker_async["Condition"] == "RenderAsync"
    statements = worker_async["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Resource"] for s in statements if s["Action"] == "s3:DeleteObject"] == [async_keys]


def test_the_image_check_and_the_translation_are_on_by_default_and_granted_only_when_on(
    cfn: dict[str, Any],
) -> None:
    """Each action alone, on "*": none of the three takes a resource type (the Service
    Authorization Reference's tables for Rekognition, Translate and Comprehend)."""
    parameters = cfn["Parameters"]
    assert (parameters["ImageModeration"]["Default"], parameters["TranslatePrompts"]["Default"]) == (
        "rekognition",
        "auto",
    )
    assert parameters["ModerationBlockedLabels"]["Default"].split(",") == list(DEFAULT_BLOCKED_LABELS)
    passed = {
        "IMAGE_MODERATION": "ImageModeration",
        "MODERATION_MIN_CONFIDENCE": "ModerationMinConfidence",
        "MODERATION_BLOCKED_LABELS": "ModerationBlockedLabels",
        "TRANSLATE_PROMPTS": "TranslatePrompts",
    }
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {name: variables[name] for name in passed} == {name: {"Ref": p} for name, p in passed.items()}

    def granted(parameters: dict[str, str]) -> dict[str, Any]:
        made = {}
        for name in ("WorkerImageCheckAccess", "WorkerTranslateAccess"):
            policy = cfn["Resources"][name]
            if _evaluate(cfn, {"Condition": policy["Condition"]}, parameters):
                assert policy["Properties"]["Roles"] == [{"Ref": "WorkerFunctionRole"}]
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    made[statement["Sid"]] = (statement["Action"], statement["Resource"])
        return made

    assert granted({}) == {
        "CheckEachImage": ("rekognition:DetectModerationLabels", "*"),
        "TranslatePrompts": (["translate:TranslateText", "comprehend:DetectDominantLanguage"], "*"),
    }
    assert granted({"ImageModeration": "off", "TranslatePrompts": "off"}) == {}
    http = _role_actions(cfn, "HttpFunctionRole")
    assert not any(action.startswith(("rekognition:", "translate:", "comprehend:")) for action in http)


def test_a_deploy_translating_prompts_where_comprehend_is_not_is_refused(cfn: dict[str, Any]) -> None:
    """auto needs Amazon Comprehend in the stack's region (Paris, for one, has Translate and not it)."""
    assert _broken_rules(cfn, {}) == []  # us-east-1, translating
    assert _broken_rules(cfn, {"AWS::Region": "eu-west-3"}) == ["TranslateWhereComprehendIs"]
    assert _broken_rules(cfn, {"AWS::Region": "eu-west-3", "TranslatePrompts": "off"}) == []
