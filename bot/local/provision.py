"""Create the bucket, the jobs and tasks queues with their dead-letter queue, and the table that
the settings name, on whatever AWS endpoint the environment points to, configured as infra/template.yaml
configures them in AWS, so the local stack cannot drift from what deploys. With the asynchronous
endpoint (IMAGE_BACKEND=sagemaker-async), also the notifications queue, its dead-letter queue and
the endpoint's two SNS topics feeding it (:func:`provision_notifications`)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from bot.local.template import properties
from bot.services import Services

DLQ_SUFFIX = "-dlq"
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled")


@dataclass(frozen=True)
class Notifications:
    """The asynchronous endpoint's way back: its SNS topics, and the queue they feed."""

    queue_url: str
    dead_letter_queue_url: str
    success_topic_arn: str
    error_topic_arn: str


@dataclass(frozen=True)
class Provisioned:
    queue_url: str
    dead_letter_queue_url: str
    tasks_queue_url: str
    bucket: str
    table: str
    notifications: Notifications | None = None


def queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def provision(services: Services) -> Provisioned:
    settings = services.settings
    overrides = {"MaxReceiveCount": settings.max_receive_count}
    dlq_url, queue_url = _create_queues(services.sqs, queue_name(settings.jobs_queue_url), overrides)
    tasks_name = queue_name(settings.tasks_queue_url)
    tasks_url = _create_queue(services.sqs, tasks_name, "TasksQueue", dlq_url, overrides)
    _create_bucket(services.s3, settings.images_bucket, services.region, properties("ImagesBucket"))
    _create_table(services.dynamodb, settings.jobs_table, properties("JobsTable"))
    notifications = None
    if settings.image_backend == "sagemaker-async" and settings.notifications_queue_url:
        notifications = provision_notifications(services)
    bucket, table = settings.images_bucket, settings.jobs_table
    return Provisioned(queue_url, dlq_url, tasks_url, bucket, table, notifications)


def provision_notifications(services: Services) -> Notifications:
    """The notifications queue NOTIFICATIONS_QUEUE_URL names, with its dead-letter queue, and the
    success and error topics (named after the queue) subscribed to it as the template subscribes
    them: SNS's envelope kept, SNS allowed to send by the queue's policy."""
    settings = services.settings
    sqs: Any = services.sqs
    name = queue_name(settings.notifications_queue_url)
    dlq_url = sqs.create_queue(
        QueueName=name + DLQ_SUFFIX, Attributes=_queue_attributes(properties("NotificationsDeadLetterQueue"))
    )["QueueUrl"]
    overrides = {"MaxReceiveCount": settings.max_receive_count}
    queue_url = _create_queue(sqs, name, "NotificationsQueue", dlq_url, overrides)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns = services.sns
    topics = []
    for resource, suffix in (("AsyncSuccessTopic", "-success"), ("AsyncErrorTopic", "-error")):
        arn = sns.create_topic(Name=name + suffix)["TopicArn"]
        for subscription in properties(resource)["Subscription"]:
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=queue_arn)
        topics.append(arn)
    [statement] = properties("NotificationsQueuePolicy")["PolicyDocument"]["Statement"]
    allowed = {**statement, "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topics}}}
    policy = {"Version": "2012-10-17", "Statement": [allowed]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return Notifications(queue_url, dlq_url, topics[0], topics[1])


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    return {
        name: str(props[name]).lower() if isinstance(props[name], bool) else str(props[name])
        for name in _QUEUE_ATTRIBUTES
        if name in props
    }


def _create_queues(sqs: Any, name: str, overrides: dict[str, Any]) -> tuple[str, str]:
    dlq_url = sqs.create_queue(
        QueueName=name + DLQ_SUFFIX, Attributes=_queue_attributes(properties("JobsDeadLetterQueue"))
    )["QueueUrl"]
    return dlq_url, _create_queue(sqs, name, "JobsQueue", dlq_url, overrides)


def _create_queue(sqs: Any, name: str, resource: str, dlq_url: str, overrides: dict[str, Any]) -> str:
    """The queue ``resource`` of the template, redriving to the dead-letter queue as it does."""
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    props = properties(resource, overrides)
    redrive = {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": str(props["RedrivePolicy"]["maxReceiveCount"]),
    }
    attributes = _queue_attributes(props) | {"RedrivePolicy": json.dumps(redrive)}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _create_bucket(s3: Any, bucket: str, region: str, props: dict[str, Any]) -> None:
    options: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**options)
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    rules = [  # CloudFormation's ServerSideEncryptionByDefault is the API's Apply... field
        {
            "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
            "BucketKeyEnabled": r["BucketKeyEnabled"],
        }
        for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
        },
    )
    # The TLS-only bucket policy is not applied: the local stack speaks plain HTTP on loopback.


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    converted: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return converted


def _create_table(dynamodb: Any, table: str, props: dict[str, Any]) -> None:
    try:
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
            BillingMode=props["BillingMode"],
            SSESpecification={"Enabled": bool(props["SSESpecification"]["SSEEnabled"])},
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = props["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]},
    )
    pitr = props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": bool(pitr)}
    )
