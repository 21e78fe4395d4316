"""Events API listeners. Bolt acknowledges an event itself, and on Lambda only after the listener
returns, so a listener here makes no Slack Web API call: bot/usecases/mention.py queues the job,
or a notice task the worker sends once Slack has its answer; bot/usecases/home.py queues the
Home tab's publishing the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltRequest

from bot.services import Services

if TYPE_CHECKING:
    from bot.usecases.mention import Mention


def register(app: App, services: Services) -> None:
    @app.event("app_mention")
    def mentioned(
        body: dict[str, Any], event: dict[str, Any], request: BoltRequest, context: BoltContext
    ) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return  # only people's mentions render: another bot's could start a loop
        # Slack sends an event it thinks went unanswered again, with the same event_id and an
        # X-Slack-Retry-Num header (https://api.slack.com/apis/events-api#retries).
        retry = (request.headers.get("x-slack-retry-num") or [""])[0]
        from bot.usecases.mention import mention  # each use case imported when its event comes

        mention(
            services,
            mention_of(body, event, installed_in=_installed_in(context, body), slack_retry=bool(retry)),
        )

    @app.event("app_home_opened")
    def home_opened(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        # Sent on every open of any App Home tab; "tab" says which
        # (https://docs.slack.dev/reference/events/app_home_opened). Only Home shows a view.
        if event.get("tab") != "home":
            return
        from bot.usecases.home import HomeOpened, open_home

        opened = HomeOpened(
            team_id=_installed_in(context, body),
            user_id=str(event.get("user") or ""),
            event_id=str(body.get("event_id") or ""),
        )
        open_home(services, opened)  # a task: views.publish waits until Slack has its answer

    @app.event("app_uninstalled")
    def uninstalled(context: BoltContext) -> None:
        # The workspace removed the app: Slack revoked its tokens (docs.slack.dev/reference/events/
        # app_uninstalled). Its installation goes now; jobs queued for it end quietly.
        from bot.usecases.installs import forget

        org_wide = bool(context.is_enterprise_install)
        forget(services, context.enterprise_id, context.team_id, uninstalled=True, org_wide=org_wide)

    @app.event("tokens_revoked")
    def revoked(context: BoltContext, event: dict[str, Any]) -> None:
        # Some of the app's tokens in the workspace were revoked (docs.slack.dev/reference/events/
        # tokens_revoked): the bot's takes the installation with it.
        from bot.usecases.installs import forget

        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        users = [str(u) for u in (tokens or {}).get("oauth") or [] if isinstance(u, str)]
        bot, org_wide = bool((tokens or {}).get("bot")), bool(context.is_enterprise_install)
        forget(services, context.enterprise_id, context.team_id, bot=bot, users=users, org_wide=org_wide)


def _installed_in(context: BoltContext, body: dict[str, Any]) -> str:
    """The workspace whose installation the event is delivered for. In a channel shared with
    another organization (Slack Connect) the outer ``team_id`` is where the event occurred, maybe
    the partner's; Bolt reads the installation's from ``authorizations`` (slack_bolt/request/
    internals.py, extract_team_id; api.slack.com/changelog/2020-09-15-events-api-truncate-authed-users)."""
    return str(context.team_id or body.get("team_id") or "")


def mention_of(
    body: dict[str, Any], event: dict[str, Any], *, installed_in: str, slack_retry: bool = False
) -> Mention:
    from bot.usecases.mention import Mention

    authorizations = body.get("authorizations") or []
    bots = {str(a.get("user_id")) for a in authorizations if isinstance(a, dict) and a.get("is_bot")}
    return Mention(
        team_id=installed_in,
        channel_id=str(event.get("channel") or ""),
        user_id=str(event.get("user") or ""),
        text=str(event.get("text") or ""),
        event_id=str(body.get("event_id") or ""),
        thread_ts=str(event.get("thread_ts") or ""),
        slack_retry=slack_retry,
        bot_user_ids=frozenset(bots - {"None", ""}),
    )
