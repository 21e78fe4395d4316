"""Share on a result: post it for more people to see, saying who shared it, with a link back.

- A result inside a thread is posted to its channel itself (:func:`share_clicked` queues the
  ``share`` task at once).
- A result already in a channel opens a small modal to pick a conversation
  (:func:`share_clicked` returns the view; the listener opens it, views.open being the one call
  allowed before the acknowledgement); its submission queues the task (:func:`share_submitted`).

The worker runs the task (:func:`run_share`): the result is posted with image blocks on its
stable links (plain links when Slack cannot fetch them, as bot/worker/delivery.py does), a permalink
back to the original (chat.getPermalink) and the result's buttons. Where the bot may not post
(a private channel it is not in) the sharer is told why, ephemerally, where they clicked. Each
copy is recorded with the job, so Delete removes it with the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.blocks import messages
from bot.blocks.form import SHARE_TO, chosen_conversation, share_metadata, share_modal
from bot.model.guards import place_refusal
from bot.model.job import Job, Progress
from bot.model.task import Task
from bot.services import Services
from bot.slack.client import error_code
from bot.slack.poster import CHANNEL_CLOSED, post_with_images
from bot.stores.images import image_link
from bot.usecases.follow_up import CLICK_MEMORY_SECONDS, GONE
from bot.usecases.modal import Submission

logger = Logger(service="imagine", child=True)
metrics = Metrics(namespace="imagine")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
NOT_FINISHED = "This picture is not finished yet; share it once it is."
NOT_QUEUED = "Sharing could not start right now; nothing was posted. Try again soon."
OUT_OF_DATE = "This form can no longer be used; close it and click Share again."
PICK_ONE = "Pick a channel to post it in."
ALREADY_THERE = "This picture is already in that channel."
ALREADY_SHARED = "This picture was already shared in the channel."
_PROMPT_SHOWN = 500  # characters of the prompt in the modal's summary


@dataclass(frozen=True)
class ShareClick:
    """What a Share click leads to: the modal to open, or a word for the clicker (or neither:
    the task is queued and the post itself is the answer)."""

    view: dict[str, Any] | None = None
    refusal: str = ""


def _shareable(services: Services, job_id: str, team_id: str) -> tuple[Job, Progress] | str:
    """The job and its progress, or why it cannot be shared."""
    found = services.store.find(job_id) if _JOB_ID.match(job_id) else None
    job, progress = found if found else (None, Progress())
    if job is None or job.team_id != team_id or progress.deleted_at:
        return GONE
    if progress.status != "done" or not progress.keys:
        return NOT_FINISHED
    return job, progress


def share_clicked(
    services: Services,
    *,
    job_id: str,
    team_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str = "",
) -> ShareClick:
    """A click on Share on the message at ``message_ts`` in ``channel_id``."""
    found = _shareable(services, job_id, team_id)
    if isinstance(found, str):
        return ShareClick(refusal=found)
    job, progress = found
    # The result's own message in a thread goes to the channel; a copy of it already in a
    # channel (posted by an earlier Share) offers the picker like any channel message.
    in_thread = bool(job.thread_ts) and message_ts in ("", progress.message.get("ts", ""))
    if not in_thread:
        headline = f"<@{job.user_id}> imagined *{messages.escape(job.request.prompt[:_PROMPT_SHOWN])}*"
        return ShareClick(view=share_modal(job.job_id, channel_id, headline))
    if job.channel_id in _already_in(job, progress):
        return ShareClick(refusal=ALREADY_SHARED)
    optional = {"thread_ts": job.thread_ts}  # where the sharer clicked
    if response_url:
        optional["response_url"] = response_url
    refusal = _queue(services, job, user_id, to=job.channel_id, from_channel=channel_id, **optional)
    return ShareClick(refusal=refusal)


def _already_in(job: Job, progress: Progress) -> set[str]:
    """The channels where the picture already shows at the top: the original's, unless it is
    in a thread, and those of the copies Share posted."""
    channels = {copy.get("channel", "") for copy in progress.shared}
    if not job.thread_ts:
        channels.add(progress.message.get("channel", job.channel_id))
    return channels


def share_submitted(services: Services, submission: Submission) -> dict[str, Any]:
    """The Share modal submitted: queue the post; the acknowledgement's body (empty closes the
    modal; ``response_action: errors`` shows what is wrong under the picker, modal kept open)."""
    meta = share_metadata(submission.private_metadata)
    if meta is None:
        return _error(OUT_OF_DATE)
    job_id, from_channel = meta
    to = chosen_conversation(submission.values)
    if not to:
        return _error(PICK_ONE)
    found = _shareable(services, job_id, submission.team_id)
    if isinstance(found, str):
        return _error(found)
    job, progress = found
    refusal = place_refusal(services.guards, submission.team_id, to)
    if refusal:
        return _error(refusal)
    if to in _already_in(job, progress):
        return _error(ALREADY_THERE)
    refusal = _queue(services, job, submission.user_id, to=to, from_channel=from_channel)
    return _error(refusal) if refusal else {}


def _error(text: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {SHARE_TO: text}}


def _queue(services: Services, job: Job, user_id: str, *, to: str, from_channel: str, **optional: str) -> str:
    """Queue the share task, once per sharer and destination within a double-click; "" or why
    nothing was queued."""
    fields = {"team_id": job.team_id, "user_id": user_id, "job_id": job.job_id, "channel_id": to,
              "from_channel_id": from_channel, **optional}  # fmt: skip
    try:
        task = Task("share", fields)
    except ValueError:
        return GONE  # no sharer or place Slack named
    if not services.store.remember(f"share#{job.job_id}#{user_id}#{to}", CLICK_MEMORY_SECONDS):
        logger.info("second share click ignored", job_id=job.job_id)
        return ""
    try:
        services.tasks.send(task)
    except Exception:
        logger.exception("could not queue a share", job_id=job.job_id)
        return NOT_QUEUED
    return ""


# ---- the task ----------------------------------------------------------------------------------


def run_share(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    job_id: str,
    channel_id: str,
    from_channel_id: str,
    thread_ts: str = "",
    response_url: str = "",
) -> None:
    """Post the result in ``channel_id`` for ``user_id``; tell them where they clicked if not."""
    sharer = _Sharer(services, user_id, from_channel_id, thread_ts, response_url)
    found = _shareable(services, job_id, team_id)
    if isinstance(found, str):
        sharer.tell(found)
        return
    job, progress = found
    build = _shared_payload(services, user_id, job, progress)
    try:
        where = _post(services, channel_id, build)
    except SlackApiError as error:
        code = error_code(error)
        if code not in CHANNEL_CLOSED:
            raise
        logger.info("could not share there", error=code, job_id=job_id)
        sharer.tell(_closed(code, channel_id))
        return
    metrics.add_metric(name="ResultsShared", unit=MetricUnit.Count, value=1)
    # Posted: from here on nothing fails the task, whose retry would post it twice.
    try:
        services.store.note_shared(job_id, where)
        found_again = services.store.find(job_id)
        if found_again is not None and found_again[1].deleted_at:  # Delete ran meanwhile: follow it
            services.slack_client.chat_delete(channel=where["channel"], ts=where["ts"])
            return
    except Exception:
        logger.exception("the shared copy could not be recorded; Delete will not find it", job_id=job_id)
    if not response_url:  # shared from the modal, which closed: say where it went
        sharer.tell(f"Shared in <#{channel_id}>.")


def _shared_payload(
    services: Services, sharer_id: str, job: Job, progress: Progress
) -> Callable[[bool], messages.Payload]:
    """The shared message, with image blocks (True) or plain links (False)."""
    settings = services.settings
    links = (
        [image_link(settings.public_base_url, settings.link_secret, key) for key in progress.keys]
        if settings.public_base_url
        else []
    )
    permalink = _permalink(services, progress.message)

    def build(images: bool) -> messages.Payload:
        return messages.shared(sharer_id, job.user_id, job.request, links, progress.seconds,
                               job_id=job.job_id, permalink=permalink, images=images,
                               operations=settings.operations_on)  # fmt: skip

    return build


def _permalink(services: Services, where: dict[str, str]) -> str:
    """The original message's permalink (chat.getPermalink: no scope needed, thread replies
    included: api.slack.com/methods/chat.getPermalink); "" when there is none to give."""
    if "ts" not in where:
        return ""  # it lives behind a response_url, in a channel closed to the bot
    try:
        answer = services.slack_client.chat_getPermalink(channel=where["channel"], message_ts=where["ts"])
    except SlackApiError as error:
        logger.warning("no permalink for the original", error=error_code(error))
        return ""
    return str(answer.get("permalink") or "")


def _post(services: Services, channel: str, build: Callable[[bool], messages.Payload]) -> dict[str, str]:
    """Post with image blocks (IMAGE_DELIVERY=link), waiting and trying again while Slack cannot
    fetch an image, then with plain links: bot/worker/delivery.py's way with the same refusal."""
    client = services.slack_client

    def post(payload: messages.Payload) -> dict[str, str]:
        answer = client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **payload)
        return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}

    if services.settings.image_delivery == "link":
        waits = services.settings.image_download_retry_seconds
        posted = post_with_images(lambda: post(build(True)), waits)
        if posted is not None:
            return posted
    return post(build(False))


def _closed(code: str, channel_id: str) -> str:
    if code == "is_archived":
        return f"<#{channel_id}> is archived, so nothing can be posted there."
    if code == "restricted_action":
        return f"Posting in <#{channel_id}> is restricted, so the picture was not shared there."
    # A private channel the bot was never added to: Slack answers not_in_channel (or
    # channel_not_found, when the bot cannot even see it).
    return (
        f"I can't post in <#{channel_id}>: it is a private channel I'm not in. "
        "Add me there (`/invite @imagine`), then share again."
    )


class _Sharer:
    """Tells the sharer something, where they clicked: through the click's response_url when
    there is one, else ephemerally in the channel (and thread) they clicked in."""

    def __init__(
        self, services: Services, user_id: str, channel_id: str, thread_ts: str, response_url: str
    ) -> None:
        self.services, self.user_id, self.channel_id = services, user_id, channel_id
        self.thread_ts, self.response_url = thread_ts, response_url

    def tell(self, text: str) -> None:
        try:
            if self.response_url:
                WebhookClient(self.response_url, timeout=10).send_dict(
                    {**messages.notice(text), "replace_original": False}
                )
            else:
                self.services.slack_client.chat_postEphemeral(
                    channel=self.channel_id, user=self.user_id, text=text, thread_ts=self.thread_ts or None
                )
        except Exception as error:  # a word to the sharer is best effort: the share is settled
            logger.warning("could not tell the sharer", error=type(error).__name__)
