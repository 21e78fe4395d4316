"""The deploy path with the tools a user runs: the SAM CLI's own `sam build` and `sam package`.

`sam build` builds every function in infra/template.yaml (SAM CLI builds a function whatever its
``Condition``), through infra/Makefile, offline but for the package registry. Then a rehearsal
of `make deploy` for each ImageBackend: `sam package` uploads the built packages to moto's S3
(the SAM CLI is a boto3 client and honours AWS_ENDPOINT_URL), the packaged template is turned
into CloudFormation by SAM's own translator (what CloudFormation's Serverless transform does;
moto's CloudFormation runs no transforms) and created in moto's CloudFormation, and a signed
command runs through what the stack created, with each function's code taken from the package
that was uploaded, in a process that can import nothing else (tests/infra/packaged_lambda.py).

Resource types moto's CloudFormation cannot create are named, with why, beside MOTO_SKIPS in
tests/infra/test_template.py; every other resource of every stack must reach CREATE_COMPLETE.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from bot.blocks.buttons import OPERATIONS
from bot.local.poller import to_event
from bot.local.server import LocalServer
from bot.local.slack.recorder import SlackRecorder
from tests.conftest import command_event
from tests.fakes.bedrock_runtime import BedrockStandIn
from tests.fakes.sagemaker_async import AsyncStandIn
from tests.fakes.sagemaker_runtime import SageMakerStandIn
from tests.infra.test_template import (
    ACCOUNT,
    ASYNC_MOTO_SKIPS,
    ENDPOINT,
    MOTO_SKIPS,
    TEMPLATE,
    _deploy,
    _evaluate,
    _function_env,
    _NoManagedPolicies,
    _stack_secrets,
)

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("packaged_lambda.py")
# The SAM CLI that `make deploy` installs (`make test` installs it the same way).
SAM = Path(os.environ.get("SAM_CLI") or ROOT / ".venv-sam" / "bin" / "sam")
FUNCTIONS = {"HttpFunction": "bot.handlers.http_handler", "WorkerFunction": "bot.handlers.worker_handler",
             "NotifierFunction": "bot.handlers.notifier_handler"}  # fmt: skip
# What Lambda's python3.12 runtime provides (boto3 and what it needs) and what the Powertools
# layer adds (Powertools and its requirements): nothing of these is in a package, and the
# rehearsal gives a function exactly these from this machine, no more.
RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# The layer carries Powertools with its extras, the Tracer's X-Ray SDK among them ("Using Powertools
# via Lambda Layer? Simply add aws-lambda-powertools[all] as a development dependency":
# docs.aws.amazon.com/powertools/python, Install).
LAYER = ("aws-lambda-powertools", "typing-extensions", "aws-xray-sdk", "wrapt")
# Lambda's limit on a function's code, unzipped, layers included
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
UNZIPPED_LIMIT = 250 * 1024 * 1024
# Lambda's platform for Architectures: [arm64], Runtime: python3.12, as infra/Makefile asks pip.
LAMBDA_TAGS = ("manylinux", "aarch64")
LAMBDA_PYTHONS = ("cp312", "abi3")


def _sam(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert SAM.exists(), f"{SAM} is missing: `make test` installs the SAM CLI into .venv-sam"
    environment = {**os.environ, **(env or {}), "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        [str(SAM), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """infra/template.yaml as `sam build` builds it: the build folder, template.yaml within."""
    work = tmp_path_factory.mktemp("sam")
    done = _sam("build", "--template-file", str(TEMPLATE), "--build-dir", str(work / "build"), cwd=work)
    assert done.returncode == 0, f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return work / "build"


def _resources(template_path: Path) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = yaml_parse(template_path.read_text())["Resources"]
    return resources


@pytest.mark.spawns
def test_sam_build_builds_every_function_in_the_template(built: Path) -> None:
    """Every function, the ones behind a Condition included (the notifier's is
    ImageBackend=sagemaker-async), has a package with its handler."""
    source = {n for n, r in _resources(TEMPLATE).items() if r["Type"] == "AWS::Serverless::Function"}
    assert source == set(FUNCTIONS)
    for name, resource in _resources(built / "template.yaml").items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = built / resource["Properties"]["CodeUri"]
            assert (code / "bot" / "handlers.py").is_file(), name
    assert {n for n in source if (built / n).is_dir()} == source


def _wheel_tags(dist_info: Path) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in (dist_info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")]  # fmt: skip


def _compiled(package: Path) -> dict[str, list[str]]:
    """The distributions in ``package`` built for one platform: their name and wheel tags."""
    found = {}
    for dist_info in package.glob("*.dist-info"):
        tags = _wheel_tags(dist_info)
        if tags and not all(tag.endswith("-none-any") for tag in tags):
            found[dist_info.name.split("-")[0].lower()] = tags
    return found


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _top_level(distribution: str) -> set[str]:
    """The importable names a distribution installed on this machine puts in site-packages."""
    names = set()
    for file in metadata.distribution(distribution).files or []:
        first = file.parts[0]
        if not first.endswith((".dist-info", ".egg-info")) and first != ".." and first != "__pycache__":
            names.add(first)
    return names


def _linked(folder: Path, distributions: tuple[str, ...]) -> Path:
    """A folder holding links to this machine's installs of ``distributions``, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        for name in _top_level(distribution):
            target = folder / name
            if not target.exists():
                target.symlink_to(Path(str(metadata.distribution(distribution).locate_file(name))))
    return folder


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _linked(tmp_path_factory.mktemp("runtime"), RUNTIME + LAYER)


def _unpacked(archive: bytes, into: Path) -> tuple[Path, Path]:
    """A package unpacked as Lambda would, but for its compiled distributions: those are built
    for Lambda's arm64 python3.12, which this machine cannot load, so they are left out and this
    machine's build of the same distributions is linked beside it instead. The package's folder,
    and the folder of those stand-ins."""
    package, native = into / "package", into / "native"
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        zipped.extractall(package)
    compiled = _compiled(package)
    for dist_info in package.glob("*.dist-info"):
        if dist_info.name.split("-")[0].lower() not in compiled:
            continue
        for line in (dist_info / "RECORD").read_text().splitlines():
            path = package / line.split(",", 1)[0]
            if path.is_file():
                path.unlink()
        shutil.rmtree(dist_info)
    _linked(native, tuple(compiled))
    return package, native


@dataclass
class PackagedFunction:
    """One function's code running in its own process, warm across invocations."""

    process: subprocess.Popen[str]
    logs: Path  # what the function wrote to stderr: its logs, as CloudWatch would keep them
    module_file: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(
        cls, handler: str, timeout: float, paths: list[Path], env: dict[str, str], logs: Path
    ) -> PackagedFunction:
        with logs.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(RUNNER), handler, str(timeout), *map(str, paths)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
            )  # fmt: skip
        function = cls(process, logs)
        ready = function._answer(60)
        function.module_file = str(ready.get("module", ""))
        return function

    def _answer(self, seconds: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], seconds)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"the packaged function answered nothing:\n{self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, f"{answer['error']}\n{self.log_tail()}"
        return answer

    def log_tail(self) -> str:
        return self.logs.read_text(errors="replace")[-6000:]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        with self.lock:  # one invocation at a time, as a Lambda instance runs them
            self.process.stdin.write(json.dumps(event) + "\n")
            self.process.stdin.flush()
            result: dict[str, Any] = self._answer(180)["result"]
            return result

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def _environment(variables: dict[str, str]) -> dict[str, str]:
    """A function's process environment: what Lambda sets, and nothing of this test's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC", **variables}


@pytest.mark.spawns
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_package_holds_its_handler_and_dependencies_and_no_local_stack(
    built: Path, runtime: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The handler imports from the package alone (with the runtime's boto3 and the layer's
    Powertools); the local stack, boto3 and Powertools are not in it; compiled wheels are
    built for Lambda's arm64 python3.12; and it fits Lambda's code size limit."""
    package = built / name
    assert not (package / "bot" / "local").exists()
    assert not (package / "aws_lambda_powertools").exists() and not (package / "boto3").exists()
    for distribution, tags in _compiled(package).items():
        assert all(all(part in tag for part in LAMBDA_TAGS) for tag in tags), (distribution, tags)
        assert all(tag.startswith(LAMBDA_PYTHONS) or "-abi3-" in tag for tag in tags), (distribution, tags)
    size = _size(package)
    assert size < UNZIPPED_LIMIT
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            zipped.write(path, path.relative_to(package).as_posix())
    with capsys.disabled():
        print(
            f"\n{name}: {size / 1e6:.1f} MB unzipped, {len(archive.getvalue()) / 1e6:.1f} MB zipped", end=""
        )

    unpacked, native = _unpacked(archive.getvalue(), tmp_path)
    function = PackagedFunction.start(FUNCTIONS[name], 10, [unpacked, native, runtime],
                                      _environment({"POWERTOOLS_METRICS_DISABLED": "true"}),
                                      tmp_path / "logs.txt")  # fmt: skip
    try:
        assert Path(function.module_file).is_relative_to(unpacked), function.module_file
    finally:
        function.stop()


# ---- the rehearsal: sam package into moto, the stack created, a command through it ------------


@dataclass(frozen=True)
class Packaged:
    template: dict[str, Any]  # the packaged template (code on moto's S3), before the transform
    bucket: str


@pytest.fixture(scope="session")
def packaged(built: Path, moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    bucket = "rehearsal-artifacts"  # named apart from tests/infra/test_template.py's bucket
    aws = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)  # fmt: skip
    out = tmp_path_factory.mktemp("packaged") / "packaged.yaml"
    done = _sam("package", "--template-file", str(built / "template.yaml"), "--s3-bucket", bucket,
                "--output-template-file", str(out), cwd=built, env=aws)  # fmt: skip
    assert done.returncode == 0, f"sam package failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return Packaged(yaml_parse(out.read_text()), bucket)


def _transformed(packaged: Packaged, parameters: dict[str, str]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        template: dict[str, Any] = transform(
            json.loads(json.dumps(packaged.template)), parameters, _NoManagedPolicies()
        )
    return template


@dataclass
class Rehearsal:
    """A stack created in moto from the packaged template, and its functions ready to run."""

    stack: str
    created: dict[str, Any]
    cfn: dict[str, Any]
    runtime: Path
    tmp: Path
    moto_url: str
    recorder: SlackRecorder
    started: list[Any]  # what the fixture stops afterwards
    overrides: dict[str, str] = field(default_factory=dict)  # the test's endpoints and secrets

    def start(self, name: str) -> PackagedFunction:
        """``name``'s code as uploaded (checked against the function moto created from it), in a
        process with its deployed environment plus the test's endpoints."""
        code = self.cfn["Resources"][name]["Properties"]["Code"]
        archive = boto3.client("s3").get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
        lam = boto3.client("lambda")
        deployed = lam.get_function(FunctionName=self.created[name]["PhysicalResourceId"])["Configuration"]
        assert base64.b64decode(deployed["CodeSha256"]) == hashlib.sha256(archive).digest(), name
        unpacked, native = _unpacked(archive, self.tmp / name)
        variables = {**_function_env(lam, name, self.stack), **self.overrides}
        variables |= {"AWS_LAMBDA_FUNCTION_NAME": deployed["FunctionName"], "AWS_ENDPOINT_URL": self.moto_url,
                      "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}  # fmt: skip
        function = PackagedFunction.start(
            self.cfn["Resources"][name]["Properties"]["Handler"],
            float(deployed["Timeout"]),
            [unpacked, native, self.runtime],
            _environment(variables),
            self.tmp / f"{name}.log",
        )
        self.started.append(function)
        assert Path(function.module_file).is_relative_to(unpacked)
        return function

    def queue_event(self, logical_id: str) -> dict[str, Any]:
        """What the queue's event source hands its function: the messages waiting there."""
        url = self.created[logical_id]["PhysicalResourceId"]
        messages = (
            boto3.client("sqs")
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
            .get("Messages", [])
        )
        assert messages, f"nothing in {logical_id}"
        return to_event(messages, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{url.rsplit('/', 1)[-1]}", "us-east-1")


Rehearse = Callable[[dict[str, str], dict[str, str]], tuple[Rehearsal, PackagedFunction]]


@pytest.fixture
def rehearse(
    packaged: Packaged, moto_url: str, runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rehearse]:
    """Create the stack for some parameters; start its packaged http function behind a loopback
    gateway. The rehearsal, and that function."""
    started: list[Any] = []

    def rehearse(parameters: dict[str, str], endpoints: dict[str, str]) -> tuple[Rehearsal, PackagedFunction]:
        parameters = {"SageMakerEndpointName": ENDPOINT, **parameters}
        cfn = _transformed(packaged, parameters)
        stack, created = _deploy(cfn, moto_url, monkeypatch, parameters)
        skipped = MOTO_SKIPS | ASYNC_MOTO_SKIPS | {"AWS::Lambda::Permission"}
        for name, resource in cfn["Resources"].items():
            wanted = "Condition" not in resource or _evaluate(
                cfn, {"Condition": resource["Condition"]}, parameters
            )
            if wanted and resource["Type"] not in skipped:
                assert created[name]["ResourceStatus"] == "CREATE_COMPLETE", name
        slack_secret, link_secret = _stack_secrets(stack)
        recorder = SlackRecorder().start()
        started.append(recorder)
        rehearsal = Rehearsal(stack, created, cfn, runtime, tmp_path, moto_url, recorder, started)
        rehearsal.overrides = {"SLACK_SECRET_ID": slack_secret, "LINK_SECRET_ID": link_secret,
                               "SLACK_API_URL": recorder.api_url, "POWERTOOLS_LOG_LEVEL": "WARNING",
                               **endpoints}  # fmt: skip
        http = rehearsal.start("HttpFunction")
        # API Gateway's part: requests on loopback become payload 2.0 events for the packaged
        # http function, so Slack's download of an image link runs the package's code too.
        gateway = LocalServer(invoke=http.invoke).start().ready()
        started.append(gateway)
        rehearsal.overrides["PUBLIC_BASE_URL"] = gateway.url
        return rehearsal, http

    yield rehearse
    for thing in reversed(started):
        thing.stop()


# Each with image operations on its own provider, so that their conditional grants deploy too and
# the packaged functions start with the settings the parameters pass.
BACKENDS = {
    "sagemaker": {"UpscaleModel": "sagemaker:sd2-x4-upscaler", "ZoomModel": "sagemaker:sd2-inpainting"},
    "placeholder": {"ImageBackend": "placeholder", "UpscaleModel": "placeholder", "VaryModel": "placeholder",
                    "ZoomModel": "placeholder", "ChangeModel": "placeholder"},
    "bedrock": {"ImageBackend": "bedrock", "BedrockModelId": "stability.stable-image-core-v1:1",
                "UpscaleModel": "bedrock:us.stability.stable-fast-upscale-v1:0",
                "VaryModel": "bedrock:stability.sd3-5-large-v1:0",
                "ZoomModel": "bedrock:us.stability.stable-outpaint-v1:0",
                "ChangeModel": "bedrock:us.stability.stable-image-search-replace-v1:0"},
}  # fmt: skip


@pytest.mark.spawns
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rehearsal_a_signed_command_becomes_an_image_in_slack(
    rehearse: Rehearse, backend: str, screening_endpoints: dict[str, str]
) -> None:
    """The synchronous backends: the packaged http function acknowledges, the packaged worker
    renders (on the SageMaker stand-in, the Bedrock stand-in, or the placeholder), stores the
    JPEG in the stack's bucket and updates the message; Slack's download of the image link at
    post time goes through the packaged http function too."""
    sagemaker = SageMakerStandIn(endpoints=(ENDPOINT,)).start()
    bedrock_runtime = BedrockStandIn().start()
    try:
        endpoints = {
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_runtime.url,
            **screening_endpoints,
        }
        rehearsal, http = rehearse(BACKENDS[backend], endpoints)
        response = http.invoke(command_event("a cyborg tiger --ar 16:9 --seed 5"))
        assert response["statusCode"] == 200, response
        worker = rehearsal.start("WorkerFunction")
        assert worker.invoke(rehearsal.queue_event("JobsQueue")) == {"batchItemFailures": []}
        assert worker.invoke(rehearsal.queue_event("TasksQueue")) == {"batchItemFailures": []}

        drew = {"sagemaker": len(sagemaker.invocations), "bedrock": len(bedrock_runtime.invocations)}
        assert drew == {"sagemaker": int(backend == "sagemaker"), "bedrock": int(backend == "bedrock")}
        [update] = rehearsal.recorder.calls_to("chat.update")
        assert update.ok, update
        [image] = [b for b in update.args["blocks"] if b["type"] == "image"]
        labels = [
            e["text"]["text"] for b in update.args["blocks"] if b["type"] == "actions" for e in b["elements"]
        ]
        operations = {"sagemaker": 2, "placeholder": 5, "bedrock": 5}[backend]
        assert len([label for label in labels if label in OPERATIONS.values()]) == operations
        key = "images/" + image["image_url"].split("/images/", 1)[1].split("/", 1)[1]
        bucket = rehearsal.created["ImagesBucket"]["PhysicalResourceId"]
        assert boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentType"] == "image/jpeg"
    finally:
        sagemaker.stop()
        bedrock_runtime.stop()


@pytest.mark.spawns
def test_rehearsal_the_async_endpoint_answers_through_the_packaged_notifier(
    rehearse: Rehearse, screening_endpoints: dict[str, str]
) -> None:
    """ImageBackend=sagemaker-async: the packaged worker submits to the endpoint configured with
    the stack's paths and topics; SNS delivers the endpoint's news to the stack's queue; the
    packaged notifier posts the image."""
    endpoint = AsyncStandIn(endpoints=(ENDPOINT,), instances=1).start()
    try:
        rehearsal, http = rehearse(
            {"ImageBackend": "sagemaker-async"},
            {
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
                "AWS_ENDPOINT_URL_SAGEMAKER": endpoint.url,
                **screening_endpoints,
            },
        )
        # The endpoint as the README has it configured with the stack's outputs.
        bucket = rehearsal.created["ImagesBucket"]["PhysicalResourceId"]
        endpoint.aws_url = rehearsal.moto_url
        endpoint.output_path = f"s3://{bucket}/async-outputs/"
        endpoint.failure_path = f"s3://{bucket}/async-failures/"
        endpoint.success_topic = rehearsal.created["AsyncSuccessTopic"]["PhysicalResourceId"]
        endpoint.error_topic = rehearsal.created["AsyncErrorTopic"]["PhysicalResourceId"]
        assert http.invoke(command_event("a cyborg tiger --seed 5"))["statusCode"] == 200
        worker = rehearsal.start("WorkerFunction")
        assert worker.invoke(rehearsal.queue_event("JobsQueue")) == {"batchItemFailures": []}
        [request] = endpoint.requests
        assert request.input_location.startswith(f"s3://{bucket}/async-inputs/")

        endpoint.work()
        notifier = rehearsal.start("NotifierFunction")
        assert notifier.invoke(rehearsal.queue_event("NotificationsQueue")) == {"batchItemFailures": []}
        [update] = rehearsal.recorder.calls_to("chat.update")
        assert [b["type"] for b in update.args["blocks"]].count("image") == 1
    finally:
        endpoint.stop()
