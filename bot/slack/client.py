"""A Slack Web API client that makes each call with the token of the moment, and survives a
changed one.

The token is its owner's to say, per call (bot/services.py): the one workspace's bot token, or,
with the app installed per workspace, the token of the workspace acted for (bot/model/workspace.py).
It rides in the call's own headers, since the client is shared. Slack answers a call made with a
token it no longer accepts with ``ok: false`` and ``invalid_auth`` (or ``token_revoked``,
``not_authed``) in an HTTP 200 body (https://github.com/slackhq/slack-api-docs/blob/master/index_web.md).
The token may have been replaced a moment ago (in Secrets Manager, or by a reinstall or a
rotation), so the client asks for it again, fresh, and when it differs makes the same call once
more with it. slack_sdk's retry handlers cannot do this: a retry resends the request as first
built, with the old Authorization header.
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

from bot.tracing import traced

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked"})


class RefreshingWebClient(WebClient):
    def __init__(self, *, token_of: Callable[[bool], str], **options: Any) -> None:
        super().__init__(**options)
        # The token to call with (True: read it again, fresh, rather than the one in hand).
        self._token_of = token_of

    def api_call(self, api_method: str, **options: Any) -> SlackResponse:
        with traced("slack", method=api_method):
            return self._call(api_method, **options)

    def _call(self, api_method: str, **options: Any) -> SlackResponse:
        if _own_token(options):  # a call that names its token (an app-level token's, say) keeps it
            return super().api_call(api_method, **options)
        token_of = self._token_of
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


def _own_token(options: dict[str, Any]) -> bool:
    """Whether the call names a token of its own (slack_sdk takes ``token`` in its parameters or
    JSON body over the client's: web/internal_utils.py, _build_req_args)."""
    return any(
        isinstance(options.get(part), dict) and options[part].get("token")
        for part in ("params", "json", "data")
    )


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


def retry_handlers(*, connection_errors: bool = True, server_errors: bool = True) -> list[RetryHandler]:
    """What every Slack call is tried again on: a 429 after its Retry-After, a 5xx twice with
    backoff, and (for the Web API, whose calls a retry cannot duplicate harmfully) a dropped
    connection. A one-use exchange (an OAuth code, a refresh token) takes neither of the last two:
    Slack may have spent it on the try whose answer was lost, and a second try would fail."""
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler()] if connection_errors else []
    handlers.append(RetryAfterHandler(max_retry_count=2))  # a 429: nothing was done
    return [*handlers, ServerErrorRetryHandler(max_retry_count=2)] if server_errors else handlers
