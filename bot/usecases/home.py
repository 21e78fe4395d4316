"""The App Home tab: opening it (the ``app_home_opened`` event) queues a ``home`` task; the task
builds the person's view and publishes it with ``views.publish``.

Slack sends ``app_home_opened`` every time someone opens the tab, each time with a new event
id, and a ``view`` field once a view was published before
(https://docs.slack.dev/reference/events/app_home_opened). So every open builds the view afresh
from the stores: the previous view is never read, and no ``hash`` is sent, since the newest
build is always the one to show. An Events API request is answered only once the listener
returns, so nothing here calls the Web API before the acknowledgement: the task does, from the
tasks queue. Slack's retry of one event (the same event id) is the same task, published once.

Each result names its channel (``<#C123>``, which Slack shows as a link to it) and links to
its message: ``chat.getPermalink`` (https://docs.slack.dev/reference/methods/chat.getPermalink,
"special" rate limits), one call per result listed, at most ``RECENT_LIMIT`` per open, made in
the task. A result Slack has no permalink for (its message deleted, the channel closed to the
bot, a result only posted through a response_url) is listed without one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from bot.blocks import home_tab, messages
from bot.model.guards import describe_reset
from bot.model.task import Task
from bot.stores.images import image_link

if TYPE_CHECKING:
    from bot.services import Services

logger = Logger(service="imagine", child=True)

DOWNLOAD_FAILED = "downloading image failed"  # in Slack's answer to a view whose image it cannot fetch


@dataclass(frozen=True)
class HomeOpened:
    team_id: str
    user_id: str
    event_id: str = ""  # the same on Slack's every retry of the event


def open_home(services: Services, opened: HomeOpened) -> Task | None:
    """Queue the publishing of ``opened.user_id``'s Home tab; no Slack Web API call."""
    fields = {"team_id": opened.team_id, "user_id": opened.user_id}
    try:
        if opened.event_id:
            task = Task("home", fields, task_id=Task.id_for("home", opened.event_id))
        else:
            task = Task("home", fields)
    except ValueError:  # no person, or no workspace, to publish for
        logger.warning("a Home tab opened with no person to show it to; nothing was queued")
        return None
    # If the tasks queue is down this raises, Bolt answers 500, and Slack sends the event again.
    services.tasks.send(task)
    return task


def publish_home(services: Services, team_id: str, user_id: str, *, now: datetime | None = None) -> None:
    """Build ``user_id``'s Home tab from the stores and publish it."""
    now = now or datetime.now(UTC)
    shown = build(services, team_id, user_id, now, admin=is_admin(services, user_id))
    client = services.slack_client
    try:
        client.views_publish(user_id=user_id, view=home_tab.view(shown))
    except Exception as error:
        if not _download_failed(error) or not any(item.thumbnail for item in shown.recent):
            raise
        # An image Slack could not fetch refuses the whole view: show the prompts without them.
        logger.warning("Slack could not fetch a thumbnail; the Home tab shows the prompts alone")
        bare = replace(shown, recent=tuple(replace(item, thumbnail="") for item in shown.recent))
        client.views_publish(user_id=user_id, view=home_tab.view(bare))


def build(services: Services, team_id: str, user_id: str, now: datetime, *, admin: bool) -> home_tab.Home:
    """What ``user_id``'s Home tab shows, read from the job and quota stores."""
    settings = services.settings
    guards = services.guards  # the workspace's own quotas, within the stack's
    limits = settings.limits
    refusal = ""
    if guards.allowed_team_ids and team_id not in guards.allowed_team_ids:
        refusal = "Sorry, /imagine is not enabled for this workspace."
    quotas = services.quotas
    return home_tab.Home(
        user_id=user_id,
        recent=recent(services, team_id, user_id, now),
        mine=home_tab.Count(quotas.used_by_user(team_id, user_id, now), guards.daily_images_per_user),
        workspace=(
            home_tab.Count(quotas.used_by_workspace(team_id, now), guards.daily_images_per_workspace)
            if admin
            else None
        ),
        resets=describe_reset(now),
        cheat_sheet=messages.USAGE.format(
            default_steps=limits.default_steps,
            max_steps=limits.max_steps,
            default_guidance=limits.default_guidance,
        ),
        refusal=refusal,
        settings=admin and settings.installs_per_workspace,
    )


def recent(services: Services, team_id: str, user_id: str, now: datetime) -> tuple[home_tab.Recent, ...]:
    """The person's recent finished jobs, newest first; deleted or expired ones left out."""
    settings = services.settings
    store = services.store
    images_kept_since = now.timestamp() - store.keep_days * 86400  # the bucket's lifecycle rule
    shown: list[home_tab.Recent] = []
    for job_id in store.recent(team_id, user_id):
        found = store.find(job_id)
        if found is None:
            continue  # its record is gone: expired with its images, or deleted
        job, progress = found
        if job is None or progress.status != "done" or not progress.keys or progress.deleted_at:
            continue  # not a finished result, or deleted (its links answer 410 Gone)
        if (job.team_id, job.user_id) != (team_id, user_id) or job.created_at < images_kept_since:
            continue  # its images are gone, though TTL has not removed its record yet
        thumbnail = ""
        if settings.public_base_url:  # upload delivery may have no links to show
            thumbnail = image_link(settings.public_base_url, settings.link_secret, progress.keys[0])
        message = progress.message
        shown.append(
            home_tab.Recent(
                request=job.request,
                created_at=job.created_at,
                channel_id=job.channel_id,
                in_thread=bool(job.thread_ts),
                thumbnail=thumbnail,
                permalink=_permalink(services, message.get("channel", ""), message.get("ts", "")),
            )
        )
    return tuple(shown)


def _permalink(services: Services, channel: str, ts: str) -> str:
    """The message's permalink, or "" when there is no message Slack will link to."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.client import error_code

    if not channel or not ts:
        return ""  # posted through a response_url: no ts to link to
    try:
        return str(services.slack_client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except SlackApiError as error:
        logger.info("no permalink for a recent result", error=error_code(error))
        return ""


def is_admin(services: Services, user_id: str) -> bool:
    """Whether the person is a workspace admin or owner (users.info, scope ``users:read``:
    https://docs.slack.dev/reference/methods/users.info). When Slack cannot say, the person
    sees their own usage only."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.client import error_code

    try:
        user = services.slack_client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        logger.warning("could not tell whether the person is a workspace admin", error=error_code(error))
        return False
    return bool(user.get("is_admin") or user.get("is_owner"))


def _download_failed(error: Exception) -> bool:
    from slack_sdk.errors import SlackApiError

    if not isinstance(error, SlackApiError):
        return False
    answer = error.response.data if isinstance(error.response.data, dict) else {}
    said = (answer.get("response_metadata") or {}).get("messages") or []
    return any(DOWNLOAD_FAILED in str(message) for message in said)
