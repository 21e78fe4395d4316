"""The Slack app itself, as Slack holds it: the scopes its bot token was granted, and its
configuration for the App Manifest API.

- ``auth.test`` (and every Web API answer) carries the token's scopes in the ``x-oauth-scopes``
  response header, comma-separated: the Node SDK splits it into ``response_metadata.scopes``
  (slackapi/node-slack-sdk, packages/web-api/src/WebClient.ts, buildResult), and
  slack-ruby/slack-ruby-client issue 378 reads it from auth.test as "a list of scopes that the
  token has". By default the token has the bot scopes manifest.yml asks for, as an app
  installed from it would.
- ``apps.manifest.export`` takes an app configuration token (``xoxe.xoxp-...``: Slack's
  "Your App Configuration Tokens", each good for 12 hours: api.slack.com/methods/tooling.tokens.rotate)
  and ``app_id``, and answers ``{"ok": true, "manifest": {...}}``, the manifest as JSON with
  ``_metadata`` (docs.slack.dev/reference/methods/apps.manifest.export). Refused as Slack refuses:
  another kind of token, ``not_allowed_token_type``; a configuration token Slack never issued,
  ``invalid_auth``; an expired one, ``token_expired``; an id that is no app id,
  ``invalid_app_id``; another app's, ``app_not_found`` (the method's documented errors).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from bot.ops.app_manifest import load_manifest, manifest_bot_scopes

APP_ID = "A0LOCAL"  # the app the stand-in plays
CONFIG_TOKEN_PREFIX = "xoxe.xoxp-"  # noqa: S105 - the kind of token, not one
_APP_ID = re.compile(r"^A[A-Z0-9]{2,}$")


@dataclass
class SlackApp:
    app_id: str = APP_ID
    manifest: dict[str, Any] = field(default_factory=load_manifest)  # as the app's settings hold it
    # The bot token's scopes: the manifest's bot scopes unless a test grants others.
    scopes: list[str] | None = None
    config_tokens: set[str] = field(default_factory=set)
    expired_tokens: set[str] = field(default_factory=set)

    def bot_scopes(self) -> list[str]:
        if self.scopes is not None:
            return list(self.scopes)
        return manifest_bot_scopes(self.manifest)

    def scope_header(self) -> dict[str, str]:
        return {"x-oauth-scopes": ",".join(self.bot_scopes())}

    def config_token(self) -> str:
        """A new app configuration token, as "Generate Token" on api.slack.com/apps makes one."""
        token = f"{CONFIG_TOKEN_PREFIX}1-{secrets.token_hex(24)}"
        self.config_tokens.add(token)
        return token

    def expire(self, token: str) -> None:
        self.expired_tokens.add(token)

    def export(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if not token.startswith(CONFIG_TOKEN_PREFIX):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token in self.expired_tokens:
            return {"ok": False, "error": "token_expired"}
        if token not in self.config_tokens:
            return {"ok": False, "error": "invalid_auth"}
        app_id = str(args.get("app_id", ""))
        if not _APP_ID.match(app_id):
            return {"ok": False, "error": "invalid_app_id"}
        if app_id != self.app_id:
            return {"ok": False, "error": "app_not_found"}
        return {
            "ok": True,
            "manifest": {"_metadata": {"major_version": 1, "minor_version": 1}, **self.manifest},
        }
