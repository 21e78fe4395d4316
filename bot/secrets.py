"""The signing secret, the bot token and the link key, kept current while a container lives.

Values set directly (``SLACK_SIGNING_SECRET``, ``SLACK_BOT_TOKEN``, ``LINK_SECRET``) never change.
Values in Secrets Manager (``SLACK_SECRET_ID``, ``LINK_SECRET_ID``) are read through Powertools
Parameters, which keeps each one for ``SECRETS_REFRESH_SECONDS`` (its ``max_age``): calls within
that time make no Secrets Manager request, and the first one after it reads the stored value
again, so a new value is in use within that many seconds without a restart.

A failed Slack signature or an ``invalid_auth`` answer may mean the Slack secret just changed;
:meth:`SecretSource.refresh_slack` then reads it at once (``force_fetch``), but at most once every
``SECRETS_FORCED_REFRESH_SECONDS``, so forged traffic cannot turn into a Secrets Manager call per
request. No value read here is ever logged: errors name the variable, never what it holds.
(Powertools' max_age and force_fetch: docs.aws.amazon.com/powertools/python/latest/utilities/
parameters/.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from bot.settings import EnvReader, SettingsError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

logger = Logger(service="imagine", child=True)

REFRESH_SECONDS = 30  # the README promises a new value within a minute
FORCED_REFRESH_SECONDS = 5


@dataclass(frozen=True)
class SecretValues:
    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)
    link_secret: str = field(repr=False)


class SecretSource:
    def __init__(self, env: Mapping[str, str]) -> None:
        reader = EnvReader(env)
        self.slack_secret_id = reader.optional("SLACK_SECRET_ID", "")
        self.link_secret_id = reader.optional("LINK_SECRET_ID", "")
        self.max_age = reader.integer("SECRETS_REFRESH_SECONDS", REFRESH_SECONDS, 1, 3600)
        self.forced_interval = reader.integer(
            "SECRETS_FORCED_REFRESH_SECONDS", FORCED_REFRESH_SECONDS, 1, 3600
        )
        # Checked up front, so a missing variable is named before any Secrets Manager call.
        self._fixed = {
            name: reader.required(name)
            for name, needed in (
                ("SLACK_SIGNING_SECRET", not self.slack_secret_id),
                ("SLACK_BOT_TOKEN", not self.slack_secret_id),
                ("LINK_SECRET", not self.link_secret_id),
            )
            if needed
        }
        self._provider: SecretsProvider | None = None
        self._lock = threading.Lock()
        self._forced_at: float | None = None
        self._quiet_until = 0.0
        self._stored: tuple[str, str] | None = None  # the raw values behind _values
        self._values: SecretValues | None = None

    def current(self) -> SecretValues:
        """The values in use; cheap when nothing changed (Powertools answers from its cache)."""
        if self._values is not None and time.monotonic() < self._quiet_until:
            return self._values
        try:
            stored = (self._read(self.slack_secret_id), self._read(self.link_secret_id))
        except Exception as error:  # Powertools wraps every failure in GetParameterError
            if self._values is None:
                raise
            # Keep serving with the values in hand, and let Secrets Manager be for a moment
            # rather than asking again on every settings lookup.
            self._quiet_until = time.monotonic() + self.forced_interval
            logger.warning("Secrets Manager could not be read; the previous values stay in use",
                           error=type(error).__name__)  # fmt: skip
            return self._values
        if stored == self._stored and self._values is not None:
            return self._values
        try:
            values = self._parse(*stored)
        except SettingsError as error:
            if self._values is None:
                raise
            if stored != self._stored:  # said once per bad value, not on every lookup
                logger.error(
                    "a stored secret is malformed; the previous value stays in use", problem=str(error)
                )
            self._stored = stored
            return self._values
        self._stored, self._values = stored, values
        return values

    def refresh_slack(self) -> bool:
        """Read the Slack secret now, unless that was done in the last few seconds.

        True when the values in use changed.
        """
        if not self.slack_secret_id:
            return False
        with self._lock:
            now = time.monotonic()
            if self._forced_at is not None and now - self._forced_at < self.forced_interval:
                return False
            self._forced_at = now
        before = self._values
        try:
            self._read(self.slack_secret_id, force=True)
        except Exception as error:
            logger.warning("Secrets Manager could not be read", error=type(error).__name__)
            return False
        self._quiet_until = 0.0
        changed = self.current() != before
        if changed:
            logger.info("the Slack secret changed; using the new value")
        return changed

    def _read(self, secret_id: str, *, force: bool = False) -> str:
        if not secret_id:
            return ""
        value = self._secrets().get(secret_id, max_age=self.max_age, force_fetch=force)
        return value.decode() if isinstance(value, bytes) else str(value)

    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from botocore.config import Config

            # Its own provider, so its cache and endpoint live and die with this source.
            config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5,
                            read_timeout=10)  # fmt: skip
            self._provider = SecretsProvider(boto_config=config)
        return self._provider

    def _parse(self, slack: str, link: str) -> SecretValues:
        if self.slack_secret_id:
            stored = _json_object(slack, "SLACK_SECRET_ID")
            signing = str(stored.get("SLACK_SIGNING_SECRET", "")).strip()
            token = str(stored.get("SLACK_BOT_TOKEN", "")).strip()
            if not signing or not token:
                raise SettingsError(
                    "SLACK_SECRET_ID must hold SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN as JSON keys"
                )
        else:
            signing, token = self._fixed["SLACK_SIGNING_SECRET"], self._fixed["SLACK_BOT_TOKEN"]
        if self.link_secret_id:
            link = link.strip()
            if not link:
                raise SettingsError("LINK_SECRET_ID names an empty secret")
        else:
            link = self._fixed["LINK_SECRET"]
        return SecretValues(signing_secret=signing, bot_token=token, link_secret=link)


def _json_object(raw: str, variable: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError(f"{variable} must name a JSON secret") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{variable} must name a JSON object secret")
    return value
