"""The SageMaker JumpStart endpoint through asynchronous inference (IMAGE_BACKEND=sagemaker-async).

The request is the real-time one (bot/backends/sagemaker.py), written to S3 under
``async-inputs/<job id>.json`` and handed over with InvokeEndpointAsync: ``POST
/endpoints/{name}/async-invocations`` carrying ``X-Amzn-SageMaker-InputLocation``, answered 202
at once with the ``InferenceId`` and where the answer will be (``X-Amzn-SageMaker-OutputLocation``,
``X-Amzn-SageMaker-FailureLocation``; botocore's sagemaker-runtime 2017-05-13 model). The endpoint
queues it, renders it once an instance is up (an endpoint scaled to zero starts one first: minutes),
writes the JumpStart answer to its S3OutputPath or what went wrong to its S3FailurePath, and
publishes to its SNS success or error topic
(https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html).
bot/worker/async_answers.py takes it from there, and deletes the request and the answer once it has used
them (the bucket's lifecycle rules on these prefixes, infra/template.yaml, catch what a crash left).

A submission is made at most once per job and attempt. InvokeEndpointAsync's ``InferenceId`` is
only a label ("The identifier for the inference request", botocore's model; the API reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html,
promises no de-duplication by it), so a second call with the same id queues a second render.
The job's record therefore says "submitted" before the call (bot/worker/pipeline.py), and only an answer
that proves nothing was queued takes that back: an error the service answered with, or a
connection that never opened (:class:`SubmissionUnconfirmed` otherwise: the request may be
queued, and the job waits for its answer).
"""

from __future__ import annotations

import json
import time
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from bot.backends import AwsError, BackendError
from bot.backends.sagemaker import ACCEPT, CONTENT_TYPE, request_body
from bot.model.job import AsyncInference
from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

logger = Logger(service="imagine", child=True)

INPUT_PREFIX = "async-inputs/"
# Where the endpoint's AsyncInferenceConfig writes (the stack's AsyncOutputPath and
# AsyncFailurePath outputs); the bot reads whatever locations InvokeEndpointAsync answers with.
OUTPUT_PREFIX = "async-outputs/"
FAILURE_PREFIX = "async-failures/"
# The most one render may take at the endpoint once an instance has it (InvokeEndpointAsync's
# InvocationTimeoutSeconds, 1 to 3600; 900 when not given). Four 1024-pixel images take well under.
INVOCATION_TIMEOUT_SECONDS = 300
# Kept after the endpoint's own limits before the sweep gives a job up, for its notification
# (or the sweep itself) to arrive.
GRACE_SECONDS = 120
COLD_ANSWER_SECONDS = 15.0  # how long one DescribeEndpoint answer is used for every job
# Error codes InvokeEndpointAsync answers that a later attempt may get past.
_RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError"}


@dataclass(frozen=True)
class Submitted:
    """What InvokeEndpointAsync answered: the inference's id and where its answer will be."""

    inference_id: str
    output_location: str
    failure_location: str


class SubmissionUnconfirmed(Exception):
    """InvokeEndpointAsync was sent and its answer never arrived: the request may be queued."""


def input_key(job_id: str) -> str:
    """Where the job's request for the endpoint is written: one key per job, so an attempt
    after a refusal writes over the same object."""
    return f"{INPUT_PREFIX}{job_id}.json"


def kept_objects(inference: AsyncInference, bucket: str) -> list[str]:
    """The keys in ``bucket`` that ``inference`` names (its request, answer and failure), only
    those under the asynchronous prefixes: nothing else is ever deleted by them."""
    keys = []
    for location in (inference.input_location, inference.output_location, inference.failure_location):
        key = key_in(bucket, location)
        if key is not None:
            keys.append(key)
    return keys


def key_in(bucket: str, location: str) -> str | None:
    """The key of ``location`` (s3://bucket/key) if it lies in ``bucket`` under one of the
    asynchronous prefixes; None for anything else (another bucket, images/, not s3://)."""
    try:
        where, key = split_location(location)
    except ValueError:
        return None
    if where != bucket or not key.startswith((INPUT_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX)):
        return None
    return key


def give_up_at(submitted_at: float, request_ttl_seconds: int) -> float:
    """When a job submitted at ``submitted_at`` is overdue: the request may wait in the
    endpoint's queue ``request_ttl_seconds`` (RequestTTLSeconds: an endpoint scaling up from
    zero included) and render for INVOCATION_TIMEOUT_SECONDS, then GRACE_SECONDS for the news."""
    return submitted_at + request_ttl_seconds + INVOCATION_TIMEOUT_SECONDS + GRACE_SECONDS


def split_location(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); ValueError for anything else."""
    if not location.startswith("s3://") or "/" not in location[5:]:
        raise ValueError("not an s3:// location")
    bucket, key = location[5:].split("/", 1)
    if not bucket or not key:
        raise ValueError("not an s3:// location")
    return bucket, key


class SageMakerAsyncBackend:
    name = "sagemaker-async"

    def __init__(
        self,
        runtime: SageMakerRuntimeClient,
        control: Any,  # the SageMaker API's client, for DescribeEndpoint
        s3: S3Client,
        endpoint_name: str,
        bucket: str,
        *,
        request_ttl_seconds: int = 1800,
    ) -> None:
        self.runtime = runtime
        self.control = control
        self.s3 = s3
        self.endpoint_name = endpoint_name
        self.bucket = bucket
        self.request_ttl_seconds = request_ttl_seconds
        self._cold: tuple[float, bool] | None = None  # (when asked, the answer)

    def pending(self, job_id: str, response_url: str, now: float | None = None) -> AsyncInference:
        """The record of a submission about to be made for ``job_id``."""
        now = time.time() if now is None else now
        return AsyncInference(
            input_location=f"s3://{self.bucket}/{input_key(job_id)}",
            submitted_at=now,
            give_up_at=give_up_at(now, self.request_ttl_seconds),
            response_url=response_url,
        )

    def write_request(self, job_id: str, request: ImageRequest) -> None:
        """Write the JumpStart request to S3, where the endpoint reads it. S3's errors are
        raised as they are (bot/worker/jobs_lane.py counts them as storage failures)."""
        body = json.dumps(request_body(request)).encode()
        self.s3.put_object(Bucket=self.bucket, Key=input_key(job_id), Body=body, ContentType=CONTENT_TYPE)

    def forget_request(self, job_id: str) -> None:
        """Delete the request of a submission that the endpoint refused (nothing will read it).
        Best effort: the lifecycle rule on async-inputs/ takes what is left."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=input_key(job_id))
        except Exception as error:
            logger.warning("could not delete a refused request", error=type(error).__name__)

    def invoke(self, job_id: str) -> Submitted:
        """Queue the request written for ``job_id`` at the endpoint, its InferenceId the job id.

        BackendError when nothing was queued: the service answered with an error, or no
        connection could be made. :class:`SubmissionUnconfirmed` when the request went out and
        no answer came back (the connection dropped, or timed out reading): it may be queued."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.exceptions import ConnectionError as NotConnected

        try:
            answer = self.runtime.invoke_endpoint_async(
                EndpointName=self.endpoint_name,
                InputLocation=f"s3://{self.bucket}/{input_key(job_id)}",
                ContentType=CONTENT_TYPE,
                Accept=ACCEPT,
                InferenceId=job_id,
                RequestTTLSeconds=self.request_ttl_seconds,
                InvocationTimeoutSeconds=INVOCATION_TIMEOUT_SECONDS,
            )
        except ClientError as error:
            raise _refused(error) from None
        except NotConnected as error:  # botocore's: the connection never opened, nothing was sent
            raise BackendError(
                f"the image service could not be reached ({type(error).__name__})", retryable=True
            ) from None
        except BotoCoreError as error:  # sent, its answer lost: ReadTimeoutError, ConnectionClosedError
            raise SubmissionUnconfirmed(type(error).__name__) from None
        return Submitted(
            inference_id=str(answer.get("InferenceId") or job_id),
            output_location=str(answer.get("OutputLocation", "")),
            failure_location=str(answer.get("FailureLocation", "")),
        )

    def cold(self) -> bool:
        """Whether the endpoint has no instance running (scaled to zero), so a render waits for
        one to start: DescribeEndpoint's CurrentInstanceCount, 0 on every production variant
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantSummary.html).
        Best effort: an endpoint that cannot be described counts as warm. One answer serves
        COLD_ANSWER_SECONDS, so a burst of jobs asks once."""
        from botocore.exceptions import BotoCoreError, ClientError

        now = time.monotonic()
        if self._cold is not None and now - self._cold[0] < COLD_ANSWER_SECONDS:
            return self._cold[1]
        try:
            described: Any = self.control.describe_endpoint(EndpointName=self.endpoint_name)
        except (BotoCoreError, ClientError) as error:
            logger.warning("could not tell whether the endpoint is at zero", error=type(error).__name__)
            return False
        variants = described.get("ProductionVariants") or []
        cold = bool(variants) and all(int(v.get("CurrentInstanceCount", 0) or 0) == 0 for v in variants)
        self._cold = (now, cold)
        return cold


def _refused(error: Any) -> BackendError:
    """InvokeEndpointAsync's refusal in words for the requester, and whether to try again."""
    code, message, status = astuple(AwsError.of(error))
    if code in _RETRYABLE_CODES or status == 429 or status >= 500:
        return BackendError(f"the image service is busy or failing ({code or status})", retryable=True)
    if code == "ValidationError" and message.endswith("not found."):
        missing = "the image endpoint does not exist (check SAGEMAKER_ENDPOINT_NAME, with its case)"
        return BackendError(missing, retryable=False)
    return BackendError(f"the image service refused the request ({code or status})", retryable=False)
