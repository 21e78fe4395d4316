"""Posting a job's messages to Slack: in the channel when the bot may, through the command's
``response_url`` when it may not (private channels it was not invited to, DMs), and where the
job has no response_url either (a form that asked Slack for none), in the requester's direct
message with the bot, told why."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.blocks import messages
from bot.blocks.messages import Payload
from bot.model.job import Job
from bot.slack.client import error_code, retry_handlers

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")
Posted = TypeVar("Posted")

# chat.postMessage errors that mean "this channel is closed to the bot", not "Slack is broken".
CHANNEL_CLOSED = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
VIA_RESPONSE_URL = {"via": "response_url"}
# Shown above the job's message when it went to the requester's DM because the bot may not post
# in the job's conversation and no response_url reaches it. Slack can add a bot to a channel
# (``/invite``), never to a DM between people; a ``G`` id is a private channel or, in older
# workspaces, a group DM, which the id alone cannot tell apart (api.slack.com/changelog/
# 2018-09-more-reasons-to-be-a-conversations-api-convert, 2018-09-06), and the bot cannot look
# up a conversation it is not in. <#C...> shows the channel's name to whoever is in it.
CANNOT_POST_IN_DM = "I can't post in that direct message, so your picture is here instead."
CANNOT_POST_IN_CHANNEL = (
    "I can't post in <#{channel}> (I'm not in it, or it is archived), so your picture is here"
    " instead. To have pictures posted there, `/invite` me to it."
)
CANNOT_POST_IN_PRIVATE = (
    "I can't post in <#{channel}> (I'm not in it, or it is archived), so your picture is here"
    " instead. If it is a channel, `/invite` me to it to have pictures posted there."
)


def why_here_instead(channel_id: str) -> str:
    """Why the job's message is in the requester's DM, in the words that fit its conversation."""
    if is_direct_message(channel_id):
        return CANNOT_POST_IN_DM
    template = CANNOT_POST_IN_PRIVATE if channel_id.startswith("G") else CANNOT_POST_IN_CHANNEL
    return template.format(channel=channel_id)


def is_direct_message(channel_id: str) -> bool:
    """A 1:1 DM: its id starts with D (conversations.open answers the bot's own as ``D...``)."""
    return channel_id.startswith("D")


class ResponseUrlRefused(Exception):
    """The command's response_url took no more: it allows 5 uses in 30 minutes, then answers
    404 ``used_url`` / ``expired_url`` (docs.slack.dev, "Handling user interaction")."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"response_url answered {status}")
        self.status, self.body = status, body


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, job: Job, payload: Payload, *, must_arrive: bool = False) -> dict[str, str]:
        """Post the job's message; return where it lives, for :meth:`update` and :meth:`reply`.

        A status note the response_url refuses is let go (the result finds another way, see
        bot/worker/delivery.py); with ``must_arrive`` the refusal is raised, for the caller to send it
        another way.
        """
        try:
            response = self.client.chat_postMessage(
                channel=job.channel_id,
                thread_ts=job.thread_ts or None,  # a follow-up goes into its result's thread
                unfurl_links=False,
                unfurl_media=False,
                **payload,
            )
        except SlackApiError as error:
            if error_code(error) not in CHANNEL_CLOSED:
                raise
            if not job.response_url:
                logger.info("channel closed to the bot, no response_url: a DM", error=error_code(error))
                return self._to_requester(job, payload)
            logger.info("channel closed to the bot; answering through response_url", error=error_code(error))
            # A response names its thread with thread_ts (docs.slack.dev/interactivity/
            # handling-user-interaction, "Publishing responses in thread").
            thread = {"thread_ts": job.thread_ts} if job.thread_ts else {}
            try:
                self.respond(job, {**payload, "response_type": "in_channel", **thread})
            except ResponseUrlRefused:
                if must_arrive:
                    raise
            return dict(VIA_RESPONSE_URL)
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    def _to_requester(self, job: Job, payload: Payload) -> dict[str, str]:
        """The job's message in the requester's DM with the bot, saying why it is there.

        The reason is part of the message itself, kept by every update (:meth:`update`): a job
        posts its message once (a retry after a lost claim takes the message back, reason and
        all), so the requester is told once per job, however often the job is tried."""
        channel = self.open_direct_message(job.user_id)
        response = self.client.chat_postMessage(
            channel=channel, unfurl_links=False, unfurl_media=False, **self._as_shown(job, channel, payload)
        )
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    @staticmethod
    def _as_shown(job: Job, channel: str, payload: Payload) -> Payload:
        """``payload`` as the job's message shows it in ``channel``: in the requester's DM in
        place of the job's own conversation, with the reason above it."""
        if channel == job.channel_id:
            return payload
        return messages.with_note_above(payload, why_here_instead(job.channel_id))

    def update(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        if "ts" in where:
            shown = self._as_shown(job, where["channel"], payload)
            self.client.chat_update(channel=where["channel"], ts=where["ts"], **shown)
        else:
            self.respond(job, {**payload, "response_type": "in_channel", "replace_original": True})

    def reply(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        """A follow-up in the message's thread, or an ephemeral note where there is no thread."""
        if "ts" in where:
            # Threads do not nest: a follow-up's notes go into the thread it lives in (in its
            # own channel: a message sent to the requester's DM has its own thread).
            thread = job.thread_ts if job.thread_ts and where["channel"] == job.channel_id else where["ts"]
            self.client.chat_postMessage(channel=where["channel"], thread_ts=thread, **payload)
        else:
            self.respond(job, {**payload, "response_type": "ephemeral", "replace_original": False})

    def respond(self, job: Job, body: dict[str, Any]) -> None:
        """Send through the command's response_url; :class:`ResponseUrlRefused` when it refuses."""
        # A 429 is waited out (Retry-After) and a 5xx tried again, as for the Web API client; a
        # dropped connection is not, since the message may have been posted.
        handlers = retry_handlers(connection_errors=False)
        response = WebhookClient(job.response_url, timeout=10, retry_handlers=handlers).send_dict(body)
        if response.status_code != 200:
            logger.warning("response_url refused the message", status=response.status_code, job_id=job.job_id)
            raise ResponseUrlRefused(response.status_code, str(response.body)[:200])

    def open_direct_message(self, user_id: str) -> str:
        """The bot's DM channel with a person (conversations.open, scope im:write)."""
        response = self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])


def post_with_images(
    post: Callable[[], Posted], waits: Sequence[float], sleep: Callable[[float], None] = time.sleep
) -> Posted | None:
    """``post()`` a message with image blocks, again after each of ``waits`` (seconds) while
    Slack refuses it because it could not download an image; None when it never could. Any
    other refusal is raised."""
    for wait in (*waits, None):
        try:
            return post()
        except SlackApiError as error:
            if not image_download_refused(error):
                raise
            logger.warning("Slack could not download an image", retry_in=wait)
            metrics.add_metric(name="ImageDownloadsRefused", unit=MetricUnit.Count, value=1)
        if wait is not None:
            sleep(wait)
    return None


def image_download_refused(error: SlackApiError) -> bool:
    """Slack's refusal of a message whose image it could not fetch: ``invalid_blocks`` with
    "downloading image failed [json-pointer:/blocks/N/image_url]" among its errors."""
    details = (error.response.get("errors") if error.response is not None else None) or []
    return error_code(error) == "invalid_blocks" and any("image_url" in str(d) for d in details)


__all__ = [
    "CHANNEL_CLOSED",
    "ResponseUrlRefused",
    "SlackPoster",
    "error_code",
    "image_download_refused",
    "is_direct_message",
    "post_with_images",
    "why_here_instead",
]
