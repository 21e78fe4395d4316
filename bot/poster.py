"""Posting a job's messages to Slack: in the channel when the bot may, through the command's
``response_url`` when it may not (private channels it was not invited to, DMs)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.jobs import Job
from bot.messages import Payload
from bot.slack_client import error_code

logger = Logger(service="imagine", child=True)

# chat.postMessage errors that mean "this channel is closed to the bot", not "Slack is broken".
CHANNEL_CLOSED = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
VIA_RESPONSE_URL = {"via": "response_url"}


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
        bot/delivery.py); with ``must_arrive`` the refusal is raised, for the caller to send it
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
            if error_code(error) not in CHANNEL_CLOSED or not job.response_url:
                raise
            logger.info("channel closed to the bot; answering through response_url", error=error_code(error))
            try:
                self.respond(job, {**payload, "response_type": "in_channel"})
            except ResponseUrlRefused:
                if must_arrive:
                    raise
            return dict(VIA_RESPONSE_URL)
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    def update(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        if "ts" in where:
            self.client.chat_update(channel=where["channel"], ts=where["ts"], **payload)
        else:
            self.respond(job, {**payload, "response_type": "in_channel", "replace_original": True})

    def reply(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        """A follow-up in the message's thread, or an ephemeral note where there is no thread."""
        if "ts" in where:
            # Threads do not nest: a follow-up's notes go into the thread it lives in.
            thread = job.thread_ts or where["ts"]
            self.client.chat_postMessage(channel=where["channel"], thread_ts=thread, **payload)
        else:
            self.respond(job, {**payload, "response_type": "ephemeral", "replace_original": False})

    def respond(self, job: Job, body: dict[str, Any]) -> None:
        """Send through the command's response_url; :class:`ResponseUrlRefused` when it refuses."""
        # A 429 is waited out (Retry-After) and a 5xx tried again, as for the Web API client.
        handlers = [RateLimitErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2)]
        response = WebhookClient(job.response_url, timeout=10, retry_handlers=handlers).send_dict(body)
        if response.status_code != 200:
            logger.warning("response_url refused the message", status=response.status_code, job_id=job.job_id)
            raise ResponseUrlRefused(response.status_code, str(response.body)[:200])

    def open_direct_message(self, user_id: str) -> str:
        """The bot's DM channel with a person (conversations.open, scope im:write)."""
        response = self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])


__all__ = ["CHANNEL_CLOSED", "ResponseUrlRefused", "SlackPoster", "error_code"]
