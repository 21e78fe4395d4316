"""``build_app(services)``: the Bolt app with every listener registered."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from bot.listeners import actions, commands, events, shortcuts, views
from bot.services import Services


def build_app(services: Services) -> App:
    def authorize(enterprise_id: str | None, team_id: str | None, **_: object) -> AuthorizeResult:
        # A single-workspace token known up front. Bolt's default authorization would call
        # auth.test on the first request, putting a Slack round trip on the acknowledgement path.
        # Read per request: the token can change while the app lives.
        token = services.settings.bot_token
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    bolt_logger = logging.getLogger("imagine.bolt")
    # Bolt also reads SLACK_BOT_TOKEN from the environment and warns that `authorize` wins over
    # it; that is the intent here, so keep the warning out of every cold start's log.
    bolt_logger.setLevel(logging.ERROR)
    app = App(
        signing_secret=services.settings.signing_secret,
        authorize=authorize,
        client=services.slack_client,
        # Lambda freezes the process after the response, so listeners finish before acking.
        process_before_response=True,
        logger=bolt_logger,
    )
    bolt_logger.setLevel(logging.NOTSET)
    commands.register(app, services)
    actions.register(app, services)
    events.register(app, services)
    shortcuts.register(app, services)
    views.register(app, services)
    return app
