"""Create the bucket, the jobs queue with its dead-letter queue, and the table that the
settings name, on whatever AWS endpoint the environment points to."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from bot.services import Services

DLQ_SUFFIX = "-dlq"
LOCAL_VISIBILITY_SECONDS = 30  # short locally, so a failed job comes back while you watch


@dataclass(frozen=True)
class Provisioned:
    queue_url: str
    dead_letter_queue_url: str
    bucket: str
    table: str


def queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def provision(services: Services, visibility_seconds: int = LOCAL_VISIBILITY_SECONDS) -> Provisioned:
    settings = services.settings
    name = queue_name(settings.jobs_queue_url)
    sqs, s3, dynamodb = services.sqs, services.s3, services.dynamodb

    dlq_url = sqs.create_queue(QueueName=name + DLQ_SUFFIX, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(visibility_seconds), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]

    _create_bucket(s3, settings.images_bucket, services._session.region_name)
    s3.put_public_access_block(
        Bucket=settings.images_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    _create_table(dynamodb, settings.jobs_table)
    return Provisioned(queue_url, dlq_url, settings.images_bucket, settings.jobs_table)


def _create_bucket(s3: Any, bucket: str, region: str | None) -> None:
    options: dict[str, Any] = {"Bucket": bucket}
    if region and region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**options)


def _create_table(dynamodb: Any, table: str) -> None:
    try:
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
