"""The queues that carry work from the acknowledgement to the worker: jobs to render, and tasks
(Slack-side work) on a queue of their own."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.model.workspace import acting_org

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from bot.model.job import Job
    from bot.model.task import Task


class JobQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, job: Job) -> str:
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=job.to_json())
        return response["MessageId"]

    def depth(self) -> int:
        """Jobs in the queue: waiting (ApproximateNumberOfMessages) and in flight, being
        rendered or waiting out a retry's backoff (ApproximateNumberOfMessagesNotVisible).
        Approximate: SQS's counts settle within about a minute
        (docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-resources-required-process-messages.html)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        ).get("Attributes", {})
        waiting = int(attributes.get("ApproximateNumberOfMessages", "0"))
        return waiting + int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0"))


class TaskQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, task: Task) -> str:
        """Queue ``task`` for the workspace it names, kept with where that workspace's installation
        is (the request's: bot/model/workspace.py), so the worker acts with its token."""
        if "team_id" in task.fields and not task.enterprise_id:
            enterprise_id, org_wide = acting_org(str(task.fields["team_id"]))
            task = replace(task, enterprise_id=enterprise_id, org_wide=org_wide)
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=task.to_json())
        return response["MessageId"]
