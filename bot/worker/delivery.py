"""Getting a finished job's images to the requester, whatever Slack refuses.

Slack downloads every ``image_url`` while it handles ``chat.postMessage`` / ``chat.update`` and
refuses the whole message with ``invalid_blocks`` ("downloading image failed
[json-pointer:/blocks/N/image_url]") when the download fails or is slow, at times even for valid
URLs (slackapi/python-slack-sdk#1782). The images are already in S3 by then, so a refusal must
never cost a render: each way below is tried in turn until one reaches the requester.

1. ``link`` delivery: the result with image blocks on the stable links, retried with backoff.
2. The JPEGs uploaded as Slack files into the message's thread (files.getUploadURLExternal,
   the upload, files.completeUploadExternal): ``upload`` delivery starts here.
3. The result with plain links.

Where the channel is closed to the bot, the message lives behind the command's
``response_url``; once that is used up (5 uses in 30 minutes) the requester gets a direct
message from the bot instead, with the images.

Files are uploaded once per job: the ids Slack gives them are handed to ``Result.uploaded`` as
soon as the upload is done, for the job's record (Delete removes them with files.delete), and a
delivery of a job whose files are recorded already goes straight to saying where they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError

from bot.blocks import messages
from bot.config.env import SettingsError
from bot.slack.poster import ResponseUrlRefused, error_code, post_with_images
from bot.stores.images import image_link

if TYPE_CHECKING:
    from bot.model.job import Job
    from bot.services import Services

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


@dataclass(frozen=True)
class Result:
    """What the requester sees: the images, where they are, and how long they took."""

    job: Job
    keys: list[str]
    seconds: float
    files: list[str] = field(default_factory=list)  # Slack files an earlier delivery uploaded
    # Told the ids of the files an upload shared, at once, so that the job's record keeps them.
    uploaded: Callable[[list[str]], None] = field(default=lambda files: None, repr=False)
    note: str = ""  # a line of our own above the result (images the image check withheld)

    def shown(self, payload: messages.Payload) -> messages.Payload:
        return messages.with_note_above(payload, self.note) if self.note else payload


def deliver(services: Services, result: Result, where: dict[str, str]) -> str:
    """Bring the stored images to the requester; return the way that worked, for the log.

    ``where`` is the job's message: ``{"channel", "ts"}``, or ``{"via": "response_url"}``
    when the channel is closed to the bot.
    """
    if "ts" in where:
        way = _into_message(services, result, where["channel"], where["ts"])
    elif services.settings.image_delivery == "upload":
        # Files can be shared only where the bot may post: a closed channel's go by DM, and the
        # status shown through the response_url says so.
        way = "direct message, " + _into_direct_message(services, result)
        with contextlib.suppress(ResponseUrlRefused):
            job = result.job
            services.slack.respond(
                job,
                {
                    **messages.sent_by_direct_message(job.user_id, job.request),
                    "response_type": "in_channel",
                    "replace_original": True,
                },
            )
    else:
        try:
            way = _through_response_url(services, result)
        except ResponseUrlRefused:
            logger.info("response_url used up; delivering by direct message")
            way = "direct message, " + _into_direct_message(services, result)
    if way != "image blocks":
        metrics.add_metric(name="DeliveryFallbacks", unit=MetricUnit.Count, value=1)
    return way


def _into_message(services: Services, result: Result, channel: str, ts: str) -> str:
    """Update the channel message with the images; uploads go into its thread."""

    def update(payload: messages.Payload) -> None:
        # Through the poster: a message sent to the requester's DM keeps saying why it is there.
        services.slack.update(result.job, {"channel": channel, "ts": ts}, payload)

    # Threads do not nest: a follow-up's files go into the thread it lives in, in its own channel
    # (a message sent to the requester's DM has its own thread).
    job = result.job
    thread_ts = job.thread_ts if job.thread_ts and channel == job.channel_id else ts
    return _into_conversation(services, result, channel, update, thread_ts=thread_ts)


def _through_response_url(services: Services, result: Result) -> str:
    """A channel closed to the bot: only the command's response_url can reach it."""
    slack, job = services.slack, result.job
    links = _links(services, result)

    def respond(payload: messages.Payload) -> None:
        slack.respond(job, {**payload, "response_type": "in_channel", "replace_original": True})

    try:
        respond(_shown(services, result, links, images=True))
        return "image blocks"
    except ResponseUrlRefused as refused:
        if refused.status != 400:
            raise  # used up or expired: the caller goes on by DM
        # A response_url says only 400 for bad blocks; an image Slack could not fetch is the
        # likely one. No retries here: each try would spend one of its five uses.
    respond(_shown(services, result, links, images=False))
    return "plain links"


def _shown(services: Services, result: Result, links: list[str], *, images: bool) -> messages.Payload:
    """The result message on its stable links: with image blocks, or as plain links."""
    job, make = result.job, messages.result if images else messages.result_links
    return result.shown(make(job.user_id, job.request, links, result.seconds, job_id=job.job_id,
                             operations=services.settings.operations_on))  # fmt: skip


def _into_direct_message(services: Services, result: Result) -> str:
    channel = services.slack.open_direct_message(result.job.user_id)

    def post(payload: messages.Payload) -> None:
        services.slack.client.chat_postMessage(
            channel=channel, unfurl_links=False, unfurl_media=False, **payload
        )

    return _into_conversation(services, result, channel, post, thread_ts=None)


def _into_conversation(
    services: Services,
    result: Result,
    channel: str,
    send: Callable[[messages.Payload], None],
    *,
    thread_ts: str | None,
) -> str:
    """Image blocks (link delivery), else the files uploaded, else plain links."""
    job = result.job
    if not result.files:  # else an earlier delivery uploaded them, then stopped: never upload twice
        if services.settings.image_delivery == "link" and _with_image_blocks(services, result, send):
            return "image blocks"
        try:
            files = _upload(services, result, channel, thread_ts)
        except SlackApiError as error:
            if not services.settings.public_base_url:
                raise  # no links to fall back on: the upload's own error says what is wrong
            logger.warning("could not upload the images", error=error_code(error))
            links = _links(services, result)
            send(_shown(services, result, links, images=False))
            return "plain links"
        result.uploaded(files)
    if thread_ts:  # the job's own message says where its images went
        count = len(result.keys)
        send(
            result.shown(
                messages.result_uploaded(
                    job.user_id,
                    job.request,
                    count,
                    result.seconds,
                    job_id=job.job_id,
                    operations=services.settings.operations_on,
                )
            )
        )
    return "files"


def _with_image_blocks(services: Services, result: Result, send: Callable[[messages.Payload], None]) -> bool:
    """Send the result with image blocks; False when Slack would not download the images."""
    payload = _shown(services, result, _links(services, result), images=True)
    waits = services.settings.image_download_retry_seconds

    def post() -> bool:
        send(payload)
        return True

    return post_with_images(post, waits) is not None


def _upload(services: Services, result: Result, channel: str, thread_ts: str | None) -> list[str]:
    """Share the JPEGs as Slack files; the ids Slack gave them."""
    job, request = result.job, result.job.request
    uploads = []
    for index, key in enumerate(result.keys):
        jpeg = services.images.read(key)
        if jpeg is None:
            raise FileNotFoundError(key)
        title = request.prompt[:200] if len(result.keys) == 1 else f"{request.prompt[:190]} ({index + 1})"
        uploads.append({"content": jpeg, "filename": f"imagine-{job.job_id[:8]}-{index + 1}.jpg",
                        "title": title})  # fmt: skip
    shared = services.slack.client.files_upload_v2(
        file_uploads=uploads,
        channel=channel,
        thread_ts=thread_ts,
        initial_comment=messages.upload_comment(job.user_id, request),
    )
    # files_upload_v2 answers with files.completeUploadExternal's own answer, {"files": [{"id",
    # "title"}, ...]} (slack_sdk 3.48 web/client.py; docs.slack.dev/reference/methods/
    # files.completeUploadExternal).
    return [str(file["id"]) for file in shared.get("files") or []]


def _links(services: Services, result: Result) -> list[str]:
    settings = services.settings
    if not settings.public_base_url:
        raise SettingsError("PUBLIC_BASE_URL is not set: the images can be linked only with it")
    return [image_link(settings.public_base_url, settings.link_secret, key) for key in result.keys]
