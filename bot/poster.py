"""Posting a job's messages to Slack: in the channel when the bot may, through the command's
``response_url`` when it may not (private channels it was not invited to, DMs)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.jobs import Job
from bot.messages import Payload

logger = Logger(service="imagine", child=True)

# chat.postMessage errors that mean "this channel is closed to the bot", not "Slack is broken".
CHANNEL_CLOSED = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
VIA_RESPONSE_URL = {"via": "response_url"}


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, job: Job, payload: Payload) -> dict[str, str]:
        """Post the job's message; return where it lives, for :meth:`update` and :meth:`reply`."""
        try:
            response = self.client.chat_postMessage(
                channel=job.channel_id, unfurl_links=False, unfurl_media=False, **payload
            )
        except SlackApiError as error:
            if _error_code(error) not in CHANNEL_CLOSED or not job.response_url:
                raise
            logger.info("channel closed to the bot; answering through response_url", error=_error_code(error))
            self._respond(job, {**payload, "response_type": "in_channel"})
            return dict(VIA_RESPONSE_URL)
        return {"channel": str(response["channel"]), "ts": str(response["ts"])}

    def update(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        if "ts" in where:
            self.client.chat_update(channel=where["channel"], ts=where["ts"], **payload)
        else:
            self._respond(job, {**payload, "response_type": "in_channel", "replace_original": True})

    def reply(self, job: Job, where: dict[str, str], payload: Payload) -> None:
        """A follow-up in the message's thread, or an ephemeral note where there is no thread."""
        if "ts" in where:
            self.client.chat_postMessage(channel=where["channel"], thread_ts=where["ts"], **payload)
        else:
            self._respond(job, {**payload, "response_type": "ephemeral", "replace_original": False})

    def _respond(self, job: Job, body: dict[str, Any]) -> None:
        response = WebhookClient(job.response_url, timeout=10).send_dict(body)
        if response.status_code != 200:
            # response_url expires after 30 minutes or 5 uses; nothing more can be said that way.
            logger.warning("response_url refused the message", status=response.status_code, job_id=job.job_id)


def _error_code(error: SlackApiError) -> str:
    return str(error.response.get("error", "")) if error.response is not None else ""
