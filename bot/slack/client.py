"""A Slack Web API client that survives a changed bot token.

Slack answers a call made with a token it no longer accepts with ``ok: false`` and
``invalid_auth`` (or ``token_revoked``, ``not_authed``) in an HTTP 200 body
(https://github.com/slackhq/slack-api-docs/blob/master/index_web.md). The token may simply have
been replaced in Secrets Manager a moment ago, so the client asks for the current one and, when
it differs, makes the same call once more with it. slack_sdk's retry handlers cannot do this: a
retry resends the request as first built, with the old Authorization header.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked"})


class RefreshingWebClient(WebClient):
    """With ``workspace_token`` (an app installed per workspace), each call is made with the token
    of the workspace acted for (bot/model/workspace.py), asked for again, fresh, when Slack
    refuses it; else with the one token, read again when Slack refuses it."""

    def __init__(
        self,
        *,
        current_token: Callable[[], str],
        workspace_token: Callable[[bool], str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        # Refreshes the stored token (rate-limited by its owner) and returns the one to use.
        self._current_token = current_token
        # The acted-for workspace's token (True: read again, not the one in hand).
        self._workspace_token = workspace_token

    def api_call(self, api_method: str, **options: Any) -> SlackResponse:
        if self._workspace_token is not None:
            return self._as_workspace(api_method, options, self._workspace_token)
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

    def _as_workspace(
        self, api_method: str, options: dict[str, Any], token_of: Callable[[bool], str]
    ) -> SlackResponse:
        # The token rides in the call's own headers: the client is shared, its token attribute is not.
        token = token_of(False)
        try:
            return super().api_call(api_method, **_with_token(options, token))
        except SlackApiError as error:
            if error_code(error) not in AUTH_ERRORS:
                raise
            fresh = token_of(True)  # reinstalled, or rotated by another container meanwhile
            if not fresh or fresh == token:
                raise
        return super().api_call(api_method, **_with_token(options, fresh))


def _with_token(options: dict[str, Any], token: str) -> dict[str, Any]:
    return {**options, "headers": {**(options.get("headers") or {}), "Authorization": f"Bearer {token}"}}


def error_code(error: SlackApiError) -> str:
    """Slack's error code in a refused call's answer ("" when there is none)."""
    return str(error.response.get("error", "")) if error.response is not None else ""


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """A 429 sent again after the Retry-After Slack asked for (whole seconds, per
    docs.slack.dev/apis/web-api/rate-limits; 1 when it gave none), plus jitter of up to a second
    but never more than the wait itself. slack_sdk's own handler (http_retry/builtin_handlers.py,
    3.x) always adds up to a second, so a Retry-After of 0 (a stand-in's) still slept; ``sleep``
    is where the wait goes (a test hands in a recorder)."""

    def __init__(self, max_retry_count: int = 2, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("a rate limit without an answer")
        state.next_attempt_requested = True
        asked = next((v[0] for k, v in response.headers.items() if k.lower() == "retry-after" and v), "1")
        wait = float(asked) if asked.strip().isdigit() else 1.0
        self._sleep(wait + random.uniform(0, min(1.0, wait)))
        state.increment_current_attempt()


def retry_handlers(*, connection_errors: bool = True) -> list[RetryHandler]:
    """What every Slack call is tried again on: a 429 after its Retry-After, a 5xx twice with
    backoff, and (for the Web API, whose calls a retry cannot duplicate harmfully) a dropped
    connection."""
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler()] if connection_errors else []
    return [*handlers, RetryAfterHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2)]
