"""How long a job that failed in a way a retry may get past waits for its next delivery."""

from __future__ import annotations

import pytest

from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.worker.retry import backoff

REQUIRED = {
    "JOBS_QUEUE_URL": "http://127.0.0.1:1/q",
    "TASKS_QUEUE_URL": "http://127.0.0.1:1/t",
    "JOBS_TABLE": "t",
    "IMAGES_BUCKET": "b",
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_BOT_TOKEN": "xoxb-t",
    "LINK_SECRET": "l",
}


def steps(raw: str | None) -> tuple[int, ...]:
    env = dict(REQUIRED) if raw is None else {**REQUIRED, "RETRY_BACKOFF_SECONDS": raw}
    return Settings.from_env(env).retry_backoff_seconds


def test_backoff_grows_with_each_delivery_then_stays() -> None:
    assert [backoff(receives, steps(None)) for receives in (1, 2, 3, 4, 10)] == [10, 30, 90, 90, 90]


def test_backoff_follows_retry_backoff_seconds() -> None:
    assert [backoff(receives, steps(" 2, 5 ")) for receives in (1, 2, 3)] == [2, 5, 5]


@pytest.mark.parametrize("raw", ["soon", "10,,30", "-1", "43201", "1.5", "１０"])
def test_a_malformed_backoff_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="RETRY_BACKOFF_SECONDS"):
        steps(raw)
