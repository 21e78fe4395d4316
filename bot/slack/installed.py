"""A workspace's bot, as its installation keeps it: who a request from that workspace acts as,
and the token the worker posts with for a job of that team.

The acknowledgement asks Slack nothing: the bot user id and bot id were saved at install time
(Bolt's own InstallationStoreAuthorize calls auth.test on every request: slack_bolt/authorization/
authorize.py). A token the app rotates (token rotation on: a 12-hour token with a refresh token,
docs.slack.dev/authentication/using-token-rotation) is refreshed through oauth.v2.access when it
is within two hours of expiring, and saved back; a refresh Slack refuses is logged, and the
workspace's request is answered with :data:`NOT_INSTALLED` rather than a traceback.
"""

from __future__ import annotations

from logging import Logger, getLogger
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk import WebClient
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, InstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.model.workspace_settings import STORED_AS

# The bot scopes the app asks for at install time: manifest.yml's oauth_config (a test holds them equal).
BOT_SCOPES = ("app_mentions:read", "commands", "chat:write", "chat:write.public", "files:write", "im:write",
              "users:read")  # fmt: skip
NOT_INSTALLED = (
    "imagine is not installed in this workspace any more, or its installation could not be read. "
    "A workspace admin can add it again from the app's install page."
)


class NotInstalled(Exception):
    """The workspace acted for has no installation (uninstalled, or its token revoked)."""


class RefreshFailed(Exception):
    """Slack could not refresh a workspace's token just now, without refusing the refresh token
    itself (an outage, a rate limit): a later try may, so the job is delivered again."""

    retryable = True  # read by bot/worker/retry.py
    reason = "Slack could not refresh this workspace's token just now"


# What oauth.v2.access answers when the refresh token itself is done for: the app must be reinstalled.
REFRESH_REFUSED = frozenset({
    "invalid_refresh_token", "token_revoked", "invalid_client_id", "bad_client_secret", "invalid_grant_type",
    "token_expired",
})  # fmt: skip


ROTATE_MINUTES_BEFORE_EXPIRY = 120  # Bolt's default: well inside a rotating token's 12 hours


class InstalledBots:
    """Each workspace's bot from the installation store, its token refreshed when it must be."""

    def __init__(
        self, store: InstallationStore, *, client_id: str, client_secret: str, client: WebClient,
        logger: Logger | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.rotator = TokenRotator(client_id=client_id, client_secret=client_secret, client=client)
        self.logger = logger or getLogger("imagine.installations")

    def find(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False
    ) -> Bot | None:
        """The workspace's (or the org's) bot with a token good for two hours at least; None when
        it is not installed, or its token could not be refreshed (said in the log)."""
        bot = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                  is_enterprise_install=is_enterprise_install)  # fmt: skip
        if bot is None or bot.bot_refresh_token is None:
            return bot
        try:
            refreshed = self.rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY
            )
        except SlackTokenRotationError as error:
            # Another container may have spent the refresh token a moment ago: its token is saved.
            again = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                        is_enterprise_install=is_enterprise_install)  # fmt: skip
            if again is not None and again.bot_token != bot.bot_token:
                return again
            said = str(error.api_error.response.get("error") or "")
            where = {"team_id": team_id, "enterprise_id": enterprise_id, "error": said}
            self.logger.error("a workspace's bot token could not be refreshed", extra=where)
            if said not in REFRESH_REFUSED:
                raise RefreshFailed(said) from None
            return None
        if refreshed is None:
            return bot
        self.store.save_bot(refreshed)
        return refreshed


class InstalledAuthorize(Authorize):
    """Bolt's authorize for an app installed per workspace, with no Web API call when the token is current."""

    def __init__(self, bots: InstalledBots) -> None:
        self.bots = bots

    def __call__(
        self, *, context: Any, enterprise_id: str | None, team_id: str | None, user_id: str | None, **_: Any
    ) -> AuthorizeResult | None:
        try:
            bot = self.bots.find(enterprise_id, team_id, bool(context.is_enterprise_install))
        except RefreshFailed:  # said in the log; the request is answered with NOT_INSTALLED's sentence
            return None
        if bot is None:
            return None
        result = AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )
        result[STORED_AS] = bot.custom_values.get(STORED_AS)  # the workspace's own settings
        return result
