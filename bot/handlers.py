"""Lambda entry points: thin wiring, nothing else.

``http_handler`` serves ``POST /slack/events`` (through Bolt) and ``GET /images/...``;
``worker_handler`` runs the records of an SQS batch, jobs to render or tasks (bot/model/task.py),
and reports partial failures, and on its schedule settles what SQS dead-lettered without a
reason (bot/worker/dead_letters.py); ``notifier_handler`` runs the asynchronous endpoint's
notifications the same way (bot/worker/async_answers.py), and its sweep when the schedule calls it.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - loaded before Bolt: the same modules import ~30 ms faster (bench/)
from aws_lambda_powertools import Logger, Metrics

from bot.app import INSTALL_PATH, REDIRECT_PATH
from bot.config.env import SettingsError
from bot.http.events import Event, Response, method_and_path, normalized, text_response
from bot.http.slack_requests import SlackHandler, slack_refusal
from bot.services import Services
from bot.services import process_services as services
from bot.tracing import tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger(service="imagine")
# Where a misconfiguration's log line sends the operator: the manual's page of every setting.
SETTINGS_PAGE = "docs/configuration.md"
# CloudWatch metrics as EMF log lines; every module's Metrics("imagine") adds to this one set.
metrics = Metrics(namespace="imagine", service="imagine")
# Most requests (image links, refusals, retries) have nothing to count; that is not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")


_slack_lock = threading.Lock()
_slack_for: tuple[Services, SlackHandler] | None = None


def _slack() -> SlackHandler:
    """Bolt's app for the process's services, built again once they are (bot/services.py)."""
    global _slack_for
    built = services()
    with _slack_lock:
        if _slack_for is None or _slack_for[0] is not built:
            _slack_for = (built, SlackHandler(built))
        return _slack_for[1]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # a response may hold a prompt
@metrics.log_metrics
def http_handler(event: Event, context: Any) -> Response:
    if not isinstance(event, dict):
        return text_response(400, "Bad request.")
    method, path = method_and_path(event)
    try:
        if method in ("GET", "HEAD") and "/images/" in path:
            from bot.http.image_links import serve_image

            return serve_image(services(), path)
        if method == "GET" and path.rstrip("/").endswith((INSTALL_PATH, REDIRECT_PATH)):
            return _slack().handle_oauth(event, redirect=path.rstrip("/").endswith(REDIRECT_PATH))
        if method == "POST" and path.rstrip("/").endswith("/slack/events"):
            slack_event = normalized(event)
            refusal = slack_refusal(slack_event)
            if refusal:  # one line, no trace: a malformed request is the sender's fault, not ours
                status, reason = refusal
                logger.warning(f"refused a request Slack could not have sent: {reason}")
                return text_response(status, "Bad request." if status == 400 else "Invalid request.")
            return _slack().handle(slack_event, context)
    except (ValueError, RecursionError):  # Bolt read a body it cannot parse, before its signature
        logger.warning("refused a request Slack could not have sent: unreadable body")
        return text_response(400, "Bad request.")
    except SettingsError as error:  # its message names the variable, never a value
        logger.error("the bot is not configured correctly", problem=str(error), docs=SETTINGS_PAGE)
        return text_response(503, "The bot is misconfigured; an administrator can see why in the logs.")
    except Exception:
        logger.exception("request failed")  # the trace stays in the log, never in the answer
        return text_response(500, "Something went wrong on our side.")
    return text_response(404, "Not found.")


def _handle_record(record: SQSRecord, lambda_context: Any = None) -> None:
    """A task (from the tasks queue, or a body that says it is one) or a job to render."""
    from bot.model.task import is_task
    from bot.worker.tasks_lane import handle_task

    built = services()
    if is_task(record, built.settings.tasks_queue_url):
        handle_task(built, record, lambda_context)
        return
    from bot.worker.jobs_lane import handle_record

    handle_record(built, record, lambda_context)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # a response may hold a prompt
@metrics.log_metrics
def worker_handler(event: Event, context: Any) -> PartialItemFailureResponse:
    """The jobs and tasks queues' SQS batches (partial failures reported), or the schedule's
    call to settle what SQS dead-lettered without a reason (bot/worker/dead_letters.py)."""
    try:
        built = services()
    except Exception as error:
        # Without settings the worker knows no dead-letter queue to file a job in, nor anyone to
        # tell: every record goes back to SQS, whose redrive and the dead-letter alarm take over
        # (and, once it starts again, its schedule tells the requesters: bot/worker/dead_letters.py).
        if isinstance(error, SettingsError):  # its message names the variable, never a value
            logger.error("the worker is not configured correctly; its jobs go back to the queue",
                         problem=str(error), docs=SETTINGS_PAGE)  # fmt: skip
        else:
            logger.exception("the worker could not start; its jobs go back to the queue")
        return _all_failed(event)
    if is_schedule(event):
        from bot.worker.dead_letters import watch

        watch(built, context)
        return {"batchItemFailures": []}
    # Imported here: the http function never pays for the batch utility at cold start.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    # Report every failure per record, even a whole failed batch, so SQS retries only those.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=_handle_record, processor=processor, context=context
    )


def _handle_notification(record: SQSRecord, lambda_context: Any = None) -> None:
    from bot.worker.async_answers import handle_notification

    handle_notification(services(), record, lambda_context)


def is_schedule(event: Event) -> bool:
    """An EventBridge scheduled event ("detail-type": "Scheduled Event", "source": "aws.events":
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html)."""
    return isinstance(event, dict) and event.get("detail-type") == "Scheduled Event"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # a response may hold a prompt
@metrics.log_metrics
def notifier_handler(event: Event, context: Any) -> PartialItemFailureResponse:
    """The notifications queue's SQS batches (partial failures reported), or the schedule's
    call to sweep the jobs still waiting on the asynchronous endpoint."""
    try:
        built = services()
    except Exception as error:
        if isinstance(error, SettingsError):  # its message names the variable, never a value
            logger.error("the notifier is not configured correctly; its records go back to the queue",
                         problem=str(error), docs=SETTINGS_PAGE)  # fmt: skip
        else:
            logger.exception("the notifier could not start; its records go back to the queue")
        return _all_failed(event)
    if is_schedule(event):
        from bot.worker.async_answers import sweep

        # As of the schedule's time, or the clock's if later (a late invocation).
        sweep(built, context, now=max(time.time(), _event_time(event)))
        return {"batchItemFailures": []}
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=_handle_notification, processor=processor, context=context
    )


def _event_time(event: Event) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(event.get("time", ""))).timestamp()
    except ValueError:
        return 0.0


def _all_failed(event: Event) -> PartialItemFailureResponse:
    """Every record of the batch reported failed, in the shape ReportBatchItemFailures reads
    (docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId", ""))} for r in records]}
