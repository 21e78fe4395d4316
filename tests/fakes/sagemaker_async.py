"""A local stand-in for a SageMaker asynchronous endpoint, on 127.0.0.1, speaking the real APIs
to boto3 and using moto's S3 and SNS as the real endpoint uses AWS's:

- the runtime's InvokeEndpointAsync (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``): ``POST
  /endpoints/{name}/async-invocations`` with the request's S3 location in
  ``X-Amzn-SageMaker-InputLocation``; 202 with ``{"InferenceId"}`` and the answer's future
  locations in ``X-Amzn-SageMaker-OutputLocation`` / ``X-Amzn-SageMaker-FailureLocation``
  (botocore's sagemaker-runtime 2017-05-13 model). Refused as SageMaker refuses: an endpoint it
  does not serve (matched with its case), ``ValidationError`` (400) "Endpoint X of account Y not
  found."; a header out of the model's bounds (RequestTTLSeconds 60 to 21600,
  InvocationTimeoutSeconds 1 to 3600, InputLocation an s3:// or https:// URL), ``ValidationError``;
- the control plane's DescribeEndpoint (``AWS_ENDPOINT_URL_SAGEMAKER``, JSON 1.1, target
  ``SageMaker.DescribeEndpoint``), whose one variant's CurrentInstanceCount is 0 while the
  endpoint is scaled to zero.

Requests wait in the endpoint's queue until :meth:`AsyncStandIn.work` (the GPU's turn): an
endpoint at zero starts an instance, reads each request from S3, holds it to the JumpStart
contract (tests/fixtures/jumpstart_text_to_image.json), renders real JPEGs, writes the answer to
the output path, and publishes the notification
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html) to the
success topic; a request the model cannot render gets its failure written to the failure path
and an error-topic notification with ``failureReason``. Told so, it drops a notification (the
answer is still written) or publishes one twice.

Faults on the way back, told so: a call refused as the service refuses one it cannot take
(``ServiceUnavailable``, 503: a modeled error of InvokeEndpointAsync), nothing queued; a request
accepted whose 202 never arrives (the connection closed unanswered: botocore raises
ConnectionClosedError); and, through ``before_answer``, whatever happens between accepting a
request and answering it: "The processing of the inference request may or may not complete
before you receive a response from this API" (the API reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html),
or the caller dies waiting.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import boto3

from bot.local.loopback import Loopback, QuietHandler, Served
from tests.fakes.jumpstart_contract import header_problems, request_problems
from tests.fakes.sagemaker_runtime import SageMakerStandIn

# What SageMaker says in a failed inference's notification when the model container answered
# with an error (the example in the guide above).
MODEL_FAILED = (
    "ClientError: Received server error (500) from model. "
    "See the SageMaker Endpoint logs in your account for more information."
)
_LOCATION = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")  # InputLocation's pattern in the model
_INFERENCE_ID = re.compile(r"^\S[\x20-\x7e]{0,63}$")


@dataclass
class Outcome:
    """What happens to the next request the endpoint works on."""

    failure: str = ""  # the container's error: the request fails with it
    notifications: int = 1  # published: 0 (lost on the way), 1, or 2 (delivered twice)


@dataclass
class Request:
    inference_id: str
    endpoint: str
    headers: dict[str, str]
    input_location: str
    output_location: str
    failure_location: str
    received_at: datetime


@dataclass
class AsyncStandIn(Served):
    aws_url: str = ""  # moto's, for S3 and SNS
    output_path: str = ""  # AsyncInferenceConfig.OutputConfig.S3OutputPath
    failure_path: str = ""  # ... S3FailurePath
    success_topic: str = ""  # ... NotificationConfig.SuccessTopic
    error_topic: str = ""  # ... ErrorTopic
    endpoints: tuple[str, ...] = ("sd-21-base",)
    instances: int = 0  # running now: 0 is scaled to zero
    status: str = "InService"  # DescribeEndpoint's EndpointStatus (Creating, Failed...)
    failure_reason: str = ""  # its FailureReason, for a Failed endpoint
    region: str = "us-east-1"
    account: str = "123456789012"
    requests: list[Request] = field(default_factory=list)  # every one accepted, in order
    queued: list[Request] = field(default_factory=list)  # accepted, not yet worked on
    scripted: list[Outcome] = field(default_factory=list)  # the next outcomes; then success
    published: list[dict[str, Any]] = field(default_factory=list)  # notifications, as sent
    described: int = 0  # DescribeEndpoint calls answered
    refuse: int = 0  # the next calls refused with ServiceUnavailable (503), nothing queued
    unanswered: int = 0  # the next requests accepted (queued) and the connection closed unanswered
    before_answer: Callable[[Request], None] | None = None  # run once accepted, before the 202
    refused: int = 0  # InvokeEndpointAsync calls refused that way

    def start(self) -> AsyncStandIn:
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                accepted = len(stand_in.requests)
                status, answer_headers, body = stand_in.answer(self.path, headers, raw)
                if len(stand_in.requests) > accepted:  # a request was queued just now
                    if stand_in.before_answer is not None:
                        stand_in.before_answer(stand_in.requests[-1])
                    if stand_in.unanswered > 0:
                        stand_in.unanswered -= 1
                        self.close_connection = True  # no status line: the caller's answer is lost
                        return
                self.send_response(status)
                for name, value in answer_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = Loopback(Handler)
        return self

    # ---- the APIs ------------------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if headers.get("x-amz-target") == "SageMaker.DescribeEndpoint":
            return self._describe(json.loads(raw or b"{}"))
        parts = path.split("?")[0].split("/")
        if len(parts) == 4 and parts[1] == "endpoints" and parts[3] == "async-invocations":
            return self._invoke(unquote(parts[2]), headers)
        return self._error(404, "UnknownOperationException", f"no such operation: POST {path}")

    def _invoke(self, endpoint: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return self._error(503, "ServiceUnavailable", "The service is unavailable. Try again later.")
        if endpoint not in self.endpoints:
            return self._error(
                400, "ValidationError", f"Endpoint {endpoint} of account {self.account} not found."
            )
        location = headers.get("x-amzn-sagemaker-inputlocation", "")
        problem = ""
        if not _LOCATION.match(location):
            problem = "Value at 'inputLocation' failed to satisfy constraint"
        for name, low, high in (("requestttlseconds", 60, 21600), ("invocationtimeoutseconds", 1, 3600)):
            value = headers.get(f"x-amzn-sagemaker-{name}")
            if value is not None and not (value.isdigit() and low <= int(value) <= high):
                problem = f"Value at '{name}' failed to satisfy constraint: between {low} and {high}"
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        if not _INFERENCE_ID.match(inference_id):
            problem = "Value at 'inferenceId' failed to satisfy constraint"
        if problem:
            return self._error(400, "ValidationError", problem)
        name = str(uuid.uuid4())
        request = Request(
            inference_id=inference_id,
            endpoint=endpoint,
            headers=headers,
            input_location=location,
            output_location=f"{self.output_path.rstrip('/')}/{name}.out",
            failure_location=f"{self.failure_path.rstrip('/')}/{name}-error.out",
            received_at=datetime.now(UTC),
        )
        self.requests.append(request)
        self.queued.append(request)
        answer_headers = {
            "Content-Type": "application/json",
            "X-Amzn-SageMaker-OutputLocation": request.output_location,
            "X-Amzn-SageMaker-FailureLocation": request.failure_location,
        }
        return 202, answer_headers, json.dumps({"InferenceId": inference_id}).encode()

    def _describe(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        self.described += 1
        name = str(body.get("EndpointName", ""))
        arn = f"arn:aws:sagemaker:{self.region}:{self.account}:endpoint/{name.lower()}"
        if name not in self.endpoints:
            return self._error(400, "ValidationException", f'Could not find endpoint "{arn}".', json_1_1=True)
        now = datetime.now(UTC).timestamp()
        described = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": f"{name}-config",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentInstanceCount": self.instances,
                    "DesiredInstanceCount": max(self.instances, 1 if self.queued else 0),
                }
            ],
            "EndpointStatus": self.status,
            "CreationTime": now,
            "LastModifiedTime": now,
            "AsyncInferenceConfig": {
                "OutputConfig": {
                    "S3OutputPath": self.output_path,
                    "S3FailurePath": self.failure_path,
                    "NotificationConfig": {
                        "SuccessTopic": self.success_topic,
                        "ErrorTopic": self.error_topic,
                    },
                }
            },
        }
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(described).encode()

    def _error(
        self, status: int, code: str, message: str, *, json_1_1: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        if json_1_1:  # the control plane's JSON protocol names the error in the body
            body = {"__type": code, "message": message}
            return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        return status, headers, json.dumps({"Message": message}).encode()

    # ---- the endpoint at work ------------------------------------------------------------------

    def work(self) -> int:
        """Render every queued request (starting an instance first if the endpoint is at zero),
        write each answer or failure to S3 and publish the news; the number worked on."""
        done = 0
        while self.queued:
            self.instances = max(self.instances, 1)
            request = self.queued.pop(0)
            outcome = self.scripted.pop(0) if self.scripted else Outcome()
            self._work_on(request, outcome)
            done += 1
        return done

    def _work_on(self, request: Request, outcome: Outcome) -> None:
        failure = outcome.failure
        answer = b""
        try:
            body = self._read(request.input_location)
        except Exception as error:
            failure = failure or f"could not read the input: {type(error).__name__}"
            body = None
        if not failure:
            headers = request.headers
            content_type = headers.get("x-amzn-sagemaker-content-type", "")
            accept = headers.get("x-amzn-sagemaker-accept", "")
            problems = header_problems(content_type, accept) or request_problems(body)
            if problems:
                failure = "; ".join(problems)  # what the container's 500 says
            else:
                assert isinstance(body, dict)
                answer = SageMakerStandIn()._images(body)  # the real-time container's answer
        finished = datetime.now(UTC)
        notification: dict[str, Any] = {
            "awsRegion": self.region,
            "eventTime": _iso(finished),
            "receivedTime": _iso(request.received_at),
            "invocationStatus": "Failed" if failure else "Completed",
            "requestParameters": {
                "contentType": request.headers.get("x-amzn-sagemaker-content-type", ""),
                "endpointName": request.endpoint,
                "inputLocation": request.input_location,
            },
            "inferenceId": request.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if failure:
            self._write(request.failure_location, failure.encode(), "text/plain")
            notification["failureReason"] = MODEL_FAILED
            topic = self.error_topic
        else:
            self._write(request.output_location, answer, "application/json")
            notification["responseParameters"] = {
                "contentType": "application/json",
                "outputLocation": request.output_location,
            }
            topic = self.success_topic
        sns = boto3.client(
            "sns",
            endpoint_url=self.aws_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for _ in range(outcome.notifications):
            sns.publish(TopicArn=topic, Message=json.dumps(notification))
            self.published.append(notification)

    def _read(self, location: str) -> Any:
        bucket, key = _split(location)
        raw = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(raw)

    def _write(self, location: str, body: bytes, content_type: str) -> None:
        bucket, key = _split(location)
        self._s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def _s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.aws_url,
            region_name=self.region,
            aws_access_key_id="testing",  # moto takes any
            aws_secret_access_key="testing",
        )


def _split(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key


def _iso(moment: datetime) -> str:
    """As SageMaker writes its times: ``2022-01-25T22:46:00.608Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
