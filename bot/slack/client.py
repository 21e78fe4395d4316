"""A Slack Web API client that survives a changed bot token.

Slack answers a call made with a token it no longer accepts with ``ok: false`` and
``invalid_auth`` (or ``token_revoked``, ``not_authed``) in an HTTP 200 body
(https://github.com/slackhq/slack-api-docs/blob/master/index_web.md). The token may simply have
been replaced in Secrets Manager a moment ago, so the client asks for the current one and, when
it differs, makes the same call once more with it. slack_sdk's retry handlers cannot do this: a
retry resends the request as first built, with the old Authorization header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked"})


class RefreshingWebClient(WebClient):
    def __init__(self, *, current_token: Callable[[], str], **options: Any) -> None:
        super().__init__(**options)
        # Refreshes the stored token (rate-limited by its owner) and returns the one to use.
        self._current_token = current_token

    def api_call(self, api_method: str, **options: Any) -> SlackResponse:
        refused = self.token
        try:
            return super().api_call(api_method, **options)
        except SlackApiError as error:
            if error_code(error) not in AUTH_ERRORS:
                raise
            token = self._current_token()  # its owner may set self.token on the way
            if not token or token == refused:
                raise
            self.token = token
        return super().api_call(api_method, **options)


def error_code(error: SlackApiError) -> str:
    """Slack's error code in a refused call's answer ("" when there is none)."""
    return str(error.response.get("error", "")) if error.response is not None else ""
