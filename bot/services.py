"""The adapters the app and the worker use, built from settings on first use.

Clients are created lazily so each function pays only for what it touches: the http function
never builds an S3 client to acknowledge a command, nor the worker's backend.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from slack_sdk import WebClient

    from bot.backends import Backend
    from bot.jobs import JobQueue, JobStore
    from bot.poster import SlackPoster
    from bot.quotas import QuotaStore
    from bot.storage import ImageStore


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session()

    @property
    def region(self) -> str:
        return str(self._session.region_name or "us-east-1")

    def _client(self, service: str, **config: Any) -> Any:
        from botocore.config import Config

        # Standard retry mode: exponential backoff with jitter on throttling and 5xx.
        base = Config(
            retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=20
        )
        return self._session.client(service, config=base.merge(Config(**config)))

    @cached_property
    def sqs(self) -> SQSClient:
        return self._client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        return self._client("s3", signature_version="s3v4")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def queue(self) -> JobQueue:
        from bot.jobs import JobQueue

        return JobQueue(self.sqs, self.settings.jobs_queue_url)

    @cached_property
    def store(self) -> JobStore:
        from bot.jobs import JobStore

        return JobStore(self.dynamodb, self.settings.jobs_table)

    @cached_property
    def quotas(self) -> QuotaStore:
        from bot.quotas import QuotaStore

        return QuotaStore(self.dynamodb, self.settings.jobs_table)

    @cached_property
    def images(self) -> ImageStore:
        from bot.storage import ImageStore

        return ImageStore(self.s3, self.settings.images_bucket)

    @cached_property
    def slack_client(self) -> WebClient:
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
            ServerErrorRetryHandler,
        )

        return WebClient(
            token=self.settings.bot_token,
            base_url=self.settings.slack_api_url,
            timeout=10,
            retry_handlers=[
                ConnectionErrorRetryHandler(),
                RateLimitErrorRetryHandler(max_retry_count=2),
                ServerErrorRetryHandler(max_retry_count=2),
            ],
        )

    @cached_property
    def slack(self) -> SlackPoster:
        from bot.poster import SlackPoster

        return SlackPoster(self.slack_client)

    @cached_property
    def idempotency(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        # The jobs table's key and TTL attributes, so idempotency records expire with the rest.
        return DynamoDBPersistenceLayer(
            table_name=self.settings.jobs_table,
            key_attr="pk",
            expiry_attr="expires_at",
            boto3_client=self.dynamodb,
        )

    @cached_property
    def backend(self) -> Backend:
        if self.settings.image_backend == "sagemaker":
            from bot.backends.sagemaker import SageMakerBackend

            # One attempt per call: the backend retries throttling itself, with backoff and
            # jitter, within RENDER_BUDGET_SECONDS; past that, SQS delivers the job again.
            client = self._client(
                "sagemaker-runtime",
                read_timeout=self.settings.sagemaker_timeout_seconds,
                retries={"mode": "standard", "total_max_attempts": 1},
            )
            return SageMakerBackend(
                client,
                self.settings.sagemaker_endpoint_name,
                budget_seconds=self.settings.render_budget_seconds,
            )
        from bot.backends.placeholder import PlaceholderBackend

        return PlaceholderBackend(self.settings.placeholder_delay_seconds)
