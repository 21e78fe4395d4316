"""``build_app(services)``: the Bolt app with every listener registered, and ``SlackHandler``,
which keeps that app keyed to the current signing secret."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

from bot.http_events import Event, Response
from bot.listeners import commands
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
    return app


class SlackHandler:
    """Slack's requests through the Bolt app built for the signing secret in use.

    Bolt takes the signing secret once, when the app is built, so a new secret gets a new app.
    A request that fails the signature check may have been signed with a secret stored moments
    ago: the Slack secret is read again (at most once every few seconds, see bot/secrets.py)
    and, if the signing secret changed, the same request is checked once more with it, so the
    first command after a rotation already succeeds.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._handler: SlackRequestHandler | None = None
        self._signed_with = ""

    def handle(self, event: Event, context: Any) -> Response:
        handler = self._current()
        response: Response = handler.handle(event, context)  # type: ignore[no-untyped-call]
        # Bolt answers 401 when a request fails its check (the v0 HMAC of the body under the
        # signing secret: https://api.slack.com/docs/verifying-requests-from-slack).
        if response.get("statusCode") == 401 and self._services.refresh_slack_secret():
            renewed = self._current()
            if renewed is not handler:
                response = renewed.handle(event, context)  # type: ignore[no-untyped-call]
        return response

    def _current(self) -> SlackRequestHandler:
        secret = self._services.settings.signing_secret
        if self._handler is None or secret != self._signed_with:
            self._handler = SlackRequestHandler(build_app(self._services))
            self._signed_with = secret
        return self._handler
