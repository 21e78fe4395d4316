"""What the worker does around a render: the prompt translated for the model (TRANSLATE_PROMPTS;
bot/screening/translation.py), its English checked against the blocked terms too; and the images
it made, through the image check before any is stored or shown
(IMAGE_MODERATION=rekognition; bot/screening/image_check.py): a flagged image is never kept under
``images/``, linked, uploaded or listed; the others are delivered as usual. The requester is told
privately which labels withheld which image, and the withheld images are given back to the day's
quota. Never retried: the same request would likely draw the same."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError

from bot.blocks import screening
from bot.model.guards import blocked_term
from bot.model.job import Job, Progress
from bot.services import Services
from bot.tracing import traced

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")


class BlockedTranslation(Exception):
    """The prompt's English has a blocked term: refused, as the acknowledgement refuses the prompt
    (said in the thread, its images given back; not dead-lettered: a redrive would refuse again)."""

    retryable = False
    refused = True

    def __init__(self, term: str) -> None:
        super().__init__(term)
        self.reason = "its English translation contains a term that is not allowed here"


def translated(services: Services, job: Job) -> Job:
    """The job with its texts' English for the model, when TRANSLATE_PROMPTS=auto and they are
    not English; :class:`BlockedTranslation` when the English has a blocked term."""
    if services.settings.screening.translate_prompts == "off":
        return job
    with traced("translation"):
        request = services.translator.translated(job.request)
    translation = request.translation
    if translation is not None and translation.translated:
        term = blocked_term(services.guards, translation.english, translation.english_negative)
        if term:
            raise BlockedTranslation(term)
    return job if request is job.request else replace(job, request=request)


def screened(services: Services, jpegs: list[bytes]) -> tuple[list[tuple[int, bytes]], list[dict[str, Any]]]:
    """The images that may be shown, by their index in the render, and the ones withheld."""
    if services.settings.screening.image_moderation == "off":
        return list(enumerate(jpegs)), []
    check = services.image_check
    kept: list[tuple[int, bytes]] = []
    withheld: list[dict[str, Any]] = []
    for index, jpeg in enumerate(jpegs):
        with traced("moderation", image=str(index + 1)):
            labels = check.flagged(jpeg)  # ImageCheckUnavailable: fails closed, nothing stored
        if labels:
            withheld.append({"image": index + 1, "labels": [label.to_dict() for label in labels]})
        else:
            kept.append((index, jpeg))
    if withheld:
        metrics.add_metric(name="ImagesWithheld", unit=MetricUnit.Count, value=len(withheld))
    return kept, withheld


def after_withheld(services: Services, job: Job, progress: Progress) -> None:
    """Tell the requester alone what was withheld, and give those images back to the quota."""
    payload = screening.withheld_privately(job.request, progress.withheld, job.request.count)
    where = progress.message
    try:
        if "ts" in where:
            # Beside the result: in its thread when it is a follow-up there, else in the channel.
            thread = job.thread_ts if job.thread_ts and where["channel"] == job.channel_id else None
            services.slack_client.chat_postEphemeral(
                channel=where["channel"], user=job.user_id, thread_ts=thread, **payload
            )
        else:
            channel = services.slack.open_direct_message(job.user_id)
            services.slack_client.chat_postMessage(channel=channel, **payload)
    except SlackApiError as error:
        logger.warning(
            "could not tell the requester what was withheld", error=str(error.response.get("error"))
        )
    try:
        services.quotas.release(team_id=job.team_id, user_id=job.user_id, images=len(progress.withheld),
                                command_id="", now=job.created)  # fmt: skip
    except Exception:
        logger.exception("could not give the withheld images back to the quota")
