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

Image links carry an HMAC under the link key current when they were posted, so a rotated
``LINK_SECRET_ID`` must not break the links already in Slack. Secrets Manager keeps the value
before the current one under the ``AWSPREVIOUS`` staging label (PutSecretValue moves it there:
docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html), and
:meth:`SecretSource.previous_link` reads it (GetSecretValue with ``VersionStage``), once per
current value. Only one rotation back is kept: rotating twice retires the oldest links. A token
that matches neither may come from a worker that already reads a newer key than this container:
:meth:`SecretSource.refresh_link` reads it again at once, rate-limited as the Slack secret is.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from bot.config.env import EnvReader, SettingsError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger(service="imagine", child=True)

REFRESH_SECONDS = 30  # docs/deployment.md promises a new value within a minute
FORCED_REFRESH_SECONDS = 5


def forced_refresh_seconds(env: Mapping[str, str]) -> int:
    """``SECRETS_FORCED_REFRESH_SECONDS``, or its default when unset or malformed.

    Also the pause after a failed start (bot/handlers.py), which must not depend on the very
    settings that may have failed.
    """
    try:
        return EnvReader(env).integer("SECRETS_FORCED_REFRESH_SECONDS", FORCED_REFRESH_SECONDS, 1, 3600)
    except SettingsError:
        return FORCED_REFRESH_SECONDS


class _Throttle:
    """Lets one caller through at most once every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._at: float | None = None

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._at is not None and now - self._at < self.interval:
                return False
            self._at = now
            return True


@dataclass(frozen=True)
class SecretValues:
    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)  # "" when the app is installed through OAuth, per workspace
    link_secret: str = field(repr=False)
    # The app's OAuth credentials ("Add to Slack", one installation per workspace); "" in the
    # single-workspace mode, where SLACK_BOT_TOKEN is the one token.
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


class SecretSource:
    def __init__(self, env: Mapping[str, str]) -> None:
        reader = EnvReader(env)
        self.slack_secret_id = reader.optional("SLACK_SECRET_ID", "")
        self.link_secret_id = reader.optional("LINK_SECRET_ID", "")
        self.max_age = reader.integer("SECRETS_REFRESH_SECONDS", REFRESH_SECONDS, 1, 3600)
        self.forced_interval = reader.integer(
            "SECRETS_FORCED_REFRESH_SECONDS", FORCED_REFRESH_SECONDS, 1, 3600
        )
        # Checked up front, so a missing variable is named before any Secrets Manager call. With
        # an OAuth client id, each workspace's token comes from its installation instead.
        oauth = bool(reader.optional("SLACK_CLIENT_ID", ""))
        self._fixed = {
            name: reader.required(name)
            for name, needed in (
                ("SLACK_SIGNING_SECRET", not self.slack_secret_id),
                ("SLACK_BOT_TOKEN", not self.slack_secret_id and not oauth),
                ("SLACK_CLIENT_ID", not self.slack_secret_id and oauth),
                ("SLACK_CLIENT_SECRET", not self.slack_secret_id and oauth),
                ("LINK_SECRET", not self.link_secret_id),
            )
            if needed
        }
        self._provider: SecretsProvider | None = None
        self._slack_forced = _Throttle(self.forced_interval)
        self._link_forced = _Throttle(self.forced_interval)
        self._quiet_until = 0.0
        self._stored: tuple[str, str] | None = None  # the raw values behind _values
        self._values: SecretValues | None = None
        self._previous: tuple[str, str] | None = None  # (link key, the one before it; "" if none)
        self._previous_retry_at = 0.0  # after a failed read of the previous link key

    def current(self) -> SecretValues:
        """The values in use; cheap when nothing changed (Powertools answers from its cache)."""
        if self._values is not None and time.monotonic() < self._quiet_until:
            return self._values
        try:
            slack = self._read(self.slack_secret_id)
            if self._values is None:
                # Checked before the link key is read, so a malformed Slack secret at a cold
                # start costs one Secrets Manager call, not two.
                self._slack_fields(slack)
            stored = (slack, self._read(self.link_secret_id))
        except Exception as error:  # Powertools wraps every failure in GetParameterError
            if self._values is None:  # a malformed Slack secret at a cold start lands here too
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
                    "a stored secret is malformed; the previous value stays in use",
                    problem=str(error),
                    docs="docs/deployment.md#3-the-slack-app",
                )
            self._stored = stored
            return self._values
        self._stored, self._values = stored, values
        if self.link_secret_id and (self._previous is None or self._previous[0] != values.link_secret):
            # Read with each new key rather than at the first image link, so a forged link
            # later costs no more Secrets Manager calls than the forced refresh allows.
            self._look_up_previous(values.link_secret)
        return values

    def refresh_slack(self) -> bool:
        """Read the Slack secret now, unless that was done in the last few seconds.

        True when the values in use changed.
        """
        if not self.slack_secret_id or not self._slack_forced.allow():
            return False
        changed = self._reread(self.slack_secret_id)
        if changed:
            logger.info("the Slack secret changed; using the new value")
        return changed

    def refresh_link(self) -> bool:
        """Read the link key now, unless that was done in the last few seconds.

        For a link token that matches neither key in hand: a worker may already mint with a
        newer one. True when the values in use changed.
        """
        if not self.link_secret_id or not self._link_forced.allow():
            return False
        changed = self._reread(self.link_secret_id)
        if changed:
            logger.info("the link secret changed; using the new value")
        return changed

    def previous_link(self) -> str:
        """The link key before the current one (``AWSPREVIOUS``), or "" when there is none.

        Read along with each new current key, so checking a link costs no Secrets Manager call.
        """
        if not self.link_secret_id:
            return ""
        current = self.current().link_secret
        if self._previous is None or self._previous[0] != current:
            self._look_up_previous(current)  # the read with the key failed; tried again here
        return self._previous[1] if self._previous and self._previous[0] == current else ""

    def _look_up_previous(self, current: str) -> None:
        if time.monotonic() < self._previous_retry_at:
            return
        try:
            previous = self._read_previous(self.link_secret_id)
        except Exception as error:  # old links wait; everything else goes on
            self._previous_retry_at = time.monotonic() + self.forced_interval
            logger.warning("the previous link secret could not be read", error=type(error).__name__)
            return
        self._previous = (current, previous)

    def _reread(self, secret_id: str) -> bool:
        before = self._values
        try:
            self._read(secret_id, force=True)
        except Exception as error:
            logger.warning("Secrets Manager could not be read", error=type(error).__name__)
            return False
        self._quiet_until = 0.0
        return self.current() != before

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

    def _read_previous(self, secret_id: str) -> str:
        """GetSecretValue with ``VersionStage=AWSPREVIOUS`` (docs.aws.amazon.com/secretsmanager/
        latest/apireference/API_GetSecretValue.html), straight from boto3: Powertools keys its
        cache on the name alone, not the SDK options (``BaseProvider._build_cache_key``; the same
        in its TypeScript sibling, aws-powertools/powertools-lambda-typescript#5622), so through
        the provider the previous value would overwrite the current one in its cache.
        """
        client: SecretsManagerClient = self._secrets().client
        try:
            answer = client.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
        except client.exceptions.ResourceNotFoundException:
            return ""  # never rotated: no version holds the label
        value = answer.get("SecretString")
        if value is None:
            value = answer.get("SecretBinary", b"").decode(errors="replace")
        return value.strip()

    def _parse(self, slack: str, link: str) -> SecretValues:
        signing, token, client_id, client_secret = self._slack_fields(slack)
        if self.link_secret_id:
            link = link.strip()
            if not link:
                raise SettingsError("LINK_SECRET_ID names an empty secret")
        else:
            link = self._fixed["LINK_SECRET"]
        return SecretValues(signing_secret=signing, bot_token=token, link_secret=link,
                            client_id=client_id, client_secret=client_secret)  # fmt: skip

    def _slack_fields(self, slack: str) -> tuple[str, str, str, str]:
        """The signing secret, the bot token and the OAuth client id and secret: the token for
        one workspace, or the client's pair for any workspace that installs the app."""
        if not self.slack_secret_id:
            fixed = self._fixed
            return (fixed["SLACK_SIGNING_SECRET"], fixed.get("SLACK_BOT_TOKEN", ""),
                    fixed.get("SLACK_CLIENT_ID", ""), fixed.get("SLACK_CLIENT_SECRET", ""))  # fmt: skip
        stored = _json_object(slack, "SLACK_SECRET_ID")
        signing, token, client_id, client_secret = (
            str(stored.get(key, "")).strip()
            for key in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
        )
        if not signing or not (token or (client_id and client_secret)):
            raise SettingsError(
                "SLACK_SECRET_ID must hold SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN as JSON keys "
                "(or, to install in any workspace, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)"
            )
        if bool(client_id) != bool(client_secret):
            raise SettingsError("SLACK_SECRET_ID must hold SLACK_CLIENT_ID and SLACK_CLIENT_SECRET together")
        return signing, token if not client_id else "", client_id, client_secret


def _json_object(raw: str, variable: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError(f"{variable} must name a JSON secret") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{variable} must name a JSON object secret")
    return value
