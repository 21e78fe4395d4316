"""One retry policy for the worker's lanes (jobs, tasks and the asynchronous answers): which
failures a later delivery may get past, how long to wait for it, the Slack errors that no retry
changes, and the runner that runs each job or task once per id.

A lane's own failure says for itself whether it is worth a retry: any exception with a boolean
``retryable`` and a ``reason`` (a backend's :class:`~bot.backends.BackendError`, a job
interrupted past its last delivery, a task another delivery still runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.config.env import SettingsError
from bot.slack.client import error_code

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer

IDEMPOTENCY_SECONDS = 86400  # as long as the queue keeps a message
# Slack errors no later delivery changes (chat.postEphemeral's among them:
# https://docs.slack.dev/reference/methods/chat.postEphemeral).
PERMANENT_SLACK_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
    "channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel", "msg_too_long",
    "no_text", "invalid_blocks", "invalid_arguments", "restricted_action",
})  # fmt: skip
NOT_CONFIGURED = "the bot is not configured correctly (an administrator has been told in the logs)"


def classify(error: Exception) -> tuple[bool, str]:
    """Whether a later delivery could succeed, and the reason in words (for the requester and
    the dead letter)."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
    from botocore.exceptions import BotoCoreError, ClientError
    from slack_sdk.errors import SlackApiError

    if isinstance(error, IdempotencyPersistenceLayerError) and isinstance(error.__cause__, Exception):
        return classify(error.__cause__)  # the job store's own error, wrapped by Powertools
    retryable, reason = getattr(error, "retryable", None), getattr(error, "reason", None)
    if isinstance(retryable, bool) and isinstance(reason, str):
        return retryable, reason
    if isinstance(error, SettingsError):
        return False, NOT_CONFIGURED
    if isinstance(error, SlackApiError):
        code = error_code(error)
        return code not in PERMANENT_SLACK_ERRORS, f"Slack refused it ({code or 'unknown error'})"
    if isinstance(error, ClientError):
        return True, f"a storage service failed ({error.operation_name})"
    if isinstance(error, BotoCoreError | OSError):
        return True, "a storage service could not be reached"
    return True, "an unexpected error"


def backoff(receives: int, steps: tuple[int, ...]) -> int:
    """Seconds until the next delivery after a retryable failure on delivery ``receives``."""
    return steps[min(max(receives, 1), len(steps)) - 1]


def run_once(
    persistence: BasePersistenceLayer,
    work: Callable[[dict[str, Any]], dict[str, str]],
    payload: dict[str, Any],
    *,
    key: str,
    name: str,
    context: Any,
) -> None:
    """``work(payload)`` guarded by Powertools Idempotency on the JMESPath ``key`` of the
    payload: one run at a time and one that completes per key, for each ``name``. Raises
    Powertools' IdempotencyAlreadyInProgressError while another run holds the key."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath=key, expires_after_seconds=IDEMPOTENCY_SECONDS, raise_on_no_idempotency_key=True
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)  # a claim lapses when this invocation would end

    def step(payload: dict[str, Any]) -> dict[str, str]:
        return work(payload)

    # The idempotency record's key starts with the function's module and qualified name.
    step.__name__ = step.__qualname__ = name
    guarded = idempotent_function(
        data_keyword_argument="payload", persistence_store=persistence, config=config
    )(step)
    guarded(payload=payload)
