"""``build_app(services)``: the Bolt app with every listener registered."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.exceptions import OrphanedChildLoggerError
from slack_bolt import App, BoltContext
from slack_bolt.authorization import AuthorizeResult

from bot.listeners import actions, commands, events, shortcuts, views
from bot.model.workspace import Workspace, act_for
from bot.model.workspace_settings import stored
from bot.services import Services
from bot.slack.installed import BOT_SCOPES, NOT_INSTALLED, InstalledAuthorize

if TYPE_CHECKING:
    from slack_bolt.oauth import OAuthFlow


INSTALL_PATH, REDIRECT_PATH = "/slack/install", "/slack/oauth_redirect"


def build_app(services: Services) -> App:
    def authorize(enterprise_id: str | None, team_id: str | None, **_: object) -> AuthorizeResult:
        # A single-workspace token known up front. Bolt's default authorization would call
        # auth.test on the first request, putting a Slack round trip on the acknowledgement path.
        # Read per request: the token can change while the app lives.
        token = services.settings.bot_token
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    settings = services.settings
    bolt_logger = logging.getLogger("imagine.bolt")
    # Bolt also reads SLACK_BOT_TOKEN from the environment and warns that `authorize` wins over
    # it; that is the intent here, so keep the warning out of every cold start's log.
    bolt_logger.setLevel(logging.ERROR)
    per_workspace = settings.installs_per_workspace
    # Bolt takes an Authorize of its own kind as it is, beside OAuth settings (slack_bolt/app/app.py).
    chosen: Callable[..., Any] = InstalledAuthorize(services.installed_bots) if per_workspace else authorize
    app = App(
        signing_secret=settings.signing_secret,
        authorize=chosen,
        oauth_flow=_oauth_flow(services) if per_workspace else None,
        user_facing_authorize_error_message=NOT_INSTALLED,
        client=services.slack_client,
        # Lambda freezes the process after the response, so listeners finish before acking.
        process_before_response=True,
        logger=bolt_logger,
    )
    bolt_logger.setLevel(logging.NOTSET)

    @app.middleware
    def act_for_the_requests_workspace(
        context: BoltContext, body: dict[str, Any], next: Callable[[], None]
    ) -> None:
        # After authorize: Slack calls made for this request use its workspace's token. Set, not
        # wrapped: the listener runs after this returns (bot/model/workspace.py).
        org_wide = bool(context.is_enterprise_install)
        found = context.authorize_result
        settings = stored(found) if found is not None else None  # read with the installation
        team, enterprise, token = context.team_id or "", context.enterprise_id or "", context.bot_token or ""
        act_for(Workspace(team, enterprise, org_wide, token=token, settings=settings))
        # Every line this request logs names it as Slack does: an event's id, else the interaction's
        # or the command's trigger id (the job id joins them once the job is queued).
        said_by_slack = str(body.get("event_id") or body.get("trigger_id") or "")
        with contextlib.suppress(OrphanedChildLoggerError):  # `make dev` has no function's Logger to tag
            _LOG.append_keys(slack_request=said_by_slack, team_id=team)
        next()

    commands.register(app, services)
    actions.register(app, services)
    events.register(app, services)
    shortcuts.register(app, services)
    views.register(app, services)
    return app


def _oauth_flow(services: Services) -> OAuthFlow:
    """Bolt's OAuth flow ("Add to Slack"): the install page issues a one-use state, kept in the
    table and in a cookie of the browser that asked, and the redirect exchanges Slack's code with
    oauth.v2.access, through SLACK_API_URL like every Slack call, with a client of no workspace's."""
    from slack_bolt.oauth import OAuthFlow
    from slack_bolt.oauth.oauth_settings import OAuthSettings

    from bot.stores.installations import STATE_SECONDS

    settings = services.settings
    oauth = OAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=services.installations,
        state_store=services.oauth_states,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        state_expiration_seconds=STATE_SECONDS,  # the cookie's Max-Age, as long as the stored state
        # Slack's authorize page beside its Web API: https://slack.com/oauth/v2/authorize.
        authorization_url=settings.slack_api_url.removesuffix("api/") + "oauth/v2/authorize",
        success_url=settings.install_success_url or None,  # None: Bolt's page, which opens Slack
    )
    return OAuthFlow(client=services.installed_bots.rotator.client, logger=_OAUTH_LOGGER, settings=oauth)


class _WithoutCodes(logging.Filter):
    """Bolt logs a refused exchange with its code (slack_bolt/oauth/oauth_flow.py, run_installation):
    the line is kept, the code is not."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = re.sub(r"code: \S+", "code: [not logged]", record.getMessage()), ()
        return True


_OAUTH_LOGGER = logging.getLogger("imagine.oauth")
_OAUTH_LOGGER.addFilter(_WithoutCodes())
_LOG = Logger(service="imagine", child=True)
