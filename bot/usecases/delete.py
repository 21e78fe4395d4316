"""Delete on a result: its images, the Slack files an upload delivered and its messages go, and
its links answer 410 Gone.

The click only queues a ``delete`` task (:func:`ask_delete`); everything that needs Slack runs
in the worker once the click is acknowledged (:func:`run_delete`). Who may delete is decided
there, from the job record and Slack: the requester, or a workspace admin or owner (users.info's
``is_admin`` / ``is_owner``, scope ``users:read``). Anyone else is told so, politely, through the
click's response_url, and nothing changes.

With the asynchronous endpoint, whatever its request and answer left in the bucket
(``async-inputs/``, ``async-outputs/``, ``async-failures/``) goes too.

Deleting is idempotent, so a second click, or a task delivered again, is harmless: the record is
marked first (its first time counts), a missing S3 object deletes fine, and a message or a file
already gone (``message_not_found``; ``file_not_found``, ``file_deleted``) is left at that. Any
other refusal is raised, for the task lane to try again or file.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.backends.sagemaker_async import kept_objects
from bot.blocks import messages
from bot.model.job import AsyncInference, Job, Progress
from bot.model.task import Task
from bot.services import Services
from bot.slack.client import error_code
from bot.usecases.follow_up import CLICK_MEMORY_SECONDS, GONE

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

NOT_YOURS = (
    "Sorry, only {owner} (who asked for this picture) or a workspace admin can delete it. "
    "Nothing was changed."
)
NOT_FINISHED = "This picture is not finished yet; try again once it is."
NOT_QUEUED = "Deleting could not start right now; nothing was changed. Try again soon."
# users.info errors that mean "no such person here" rather than "Slack is unwell".
_NOBODY = {"user_not_found", "user_not_visible"}
# files.delete's answers for a file that is gone already: never there or not visible, and deleted
# (docs.slack.dev/reference/methods/files.delete). Others, cant_delete_file among them, are raised.
_FILE_GONE = {"file_not_found", "file_deleted"}


def ask_delete(
    services: Services, *, job_id: str, team_id: str, user_id: str, response_url: str = ""
) -> messages.Payload | None:
    """The click: queue the delete task, once per clicker within a double-click; None, or what
    to say to the clicker when nothing could be queued."""
    fields: dict[str, Any] = {"team_id": team_id, "user_id": user_id, "job_id": job_id}
    if response_url:
        fields["response_url"] = response_url
    try:
        task = Task("delete", fields)
    except ValueError:
        return messages.notice(GONE)  # not a job id, or no clicker: nothing to delete
    key = f"delete#{job_id}#{user_id}"
    if not services.store.remember(key, CLICK_MEMORY_SECONDS):
        logger.info("second delete click ignored", job_id=job_id)
        return None
    try:
        services.tasks.send(task)
    except Exception:
        logger.exception("could not queue a delete", job_id=job_id)
        return messages.notice(NOT_QUEUED)
    return None


def run_delete(
    services: Services, *, team_id: str, user_id: str, job_id: str, response_url: str = ""
) -> None:
    """The task: delete the job's images and messages if ``user_id`` may; else say why not."""
    found = services.store.find(job_id)
    job, progress = found if found else (None, Progress())
    if job is None or job.team_id != team_id:
        _tell(response_url, GONE)
        return
    if progress.status != "done" and not progress.deleted_at:
        _tell(response_url, NOT_FINISHED)
        return
    if not _may_delete(services, job, user_id):
        logger.info("delete refused", job_id=job_id)
        _tell(response_url, NOT_YOURS.format(owner=f"<@{job.user_id}>"))
        return
    services.store.mark_deleted(job_id, time.time())  # first: the links then say 410, not 404
    for key in progress.keys:
        services.images.delete(key)
    if progress.inference is not None:
        _delete_async_leftovers(services, progress.inference)
    for file_id in progress.files:  # before the messages: the files show the pictures themselves
        _delete_file(services, file_id)
    for where in (progress.message, *progress.shared):
        _delete_message(services, where, response_url)
    metrics.add_metric(name="ResultsDeleted", unit=MetricUnit.Count, value=1)
    logger.info("result deleted", job_id=job_id, by_requester=user_id == job.user_id,
                images=len(progress.keys), files=len(progress.files),
                copies=len(progress.shared))  # fmt: skip


def _delete_async_leftovers(services: Services, inference: AsyncInference) -> None:
    """What the asynchronous endpoint's request and answer left in the bucket (the notifier
    deletes them once used; a failure there leaves them): the prompt goes with the picture.
    Best effort, as the bucket's lifecycle rules on those prefixes take them within two days
    anyway."""
    for key in kept_objects(inference, services.settings.images_bucket):
        try:
            services.images.delete(key)
        except Exception as error:
            logger.warning("could not delete a request or answer left by the endpoint", key=key,
                           error=type(error).__name__)  # fmt: skip


def _may_delete(services: Services, job: Job, user_id: str) -> bool:
    """The requester, or a workspace admin or owner (docs.slack.dev/reference/methods/users.info)."""
    if user_id == job.user_id:
        return True
    try:
        user = services.slack_client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error_code(error) not in _NOBODY:
            raise  # Slack unwell, or the scope missing: the task lane retries or files it
        return False
    return bool(user.get("is_admin") or user.get("is_owner")) and not user.get("deleted")


def _delete_message(services: Services, where: dict[str, str], response_url: str) -> None:
    """Delete one of the result's messages: chat.delete for one the bot posted (a bot token
    deletes only the bot's own: docs.slack.dev/reference/methods/chat.delete); a result that
    lives behind a response_url (a channel closed to the bot) goes through the click's own,
    with ``delete_original`` (docs.slack.dev/messaging/modifying-messages)."""
    if "ts" not in where:
        _respond(response_url, {"delete_original": True})
        return
    try:
        services.slack_client.chat_delete(channel=where["channel"], ts=where["ts"])
    except SlackApiError as error:
        if error_code(error) != "message_not_found":  # deleted already: by an earlier try, or by hand
            raise


def _delete_file(services: Services, file_id: str) -> None:
    """Delete a file an upload shared (files.delete; a bot token deletes the bot's own files,
    scope files:write: docs.slack.dev/reference/methods/files.delete)."""
    try:
        services.slack_client.files_delete(file=file_id)
    except SlackApiError as error:
        if error_code(error) not in _FILE_GONE:  # deleted already: by an earlier try, or by hand
            raise


def _tell(response_url: str, text: str) -> None:
    """An ephemeral word for the clicker alone."""
    _respond(response_url, {**messages.notice(text), "replace_original": False})


def _respond(response_url: str, body: dict[str, Any]) -> None:
    """Send through the click's response_url; best effort (it takes 5 uses in 30 minutes), so
    it never fails the task."""
    if not response_url:
        return
    try:
        response = WebhookClient(response_url, timeout=10).send_dict(body)
    except Exception as error:
        logger.warning("could not reach the response_url", error=type(error).__name__)
        return
    if response.status_code != 200:
        logger.warning("response_url refused the message", status=response.status_code)
