"""The Slack stand-in's side of "Add to Slack": the workspaces the app can be installed in, the
authorize step, ``oauth.v2.access`` and the tokens it issued, each known by its workspace.

- ``GET /oauth/v2/authorize?client_id=…&scope=…&state=…`` is Slack's page where a person approves
  the install; here it approves at once for ``team`` (or the first workspace) and sends the browser
  back to the app's redirect URL with ``code`` and ``state``
  (docs.slack.dev/authentication/installing-with-oauth, steps 2 and 3). A ``redirect_uri`` that is
  not the app's Redirect URL is refused on the page ("redirect_uri did not match any configured
  URIs": slackapi/slack-skills-plugin#19), and an exchange must then repeat it
  (``bad_redirect_uri``: oauth.v2.access's docs, as quoted in slack-edge/slack-cloudflare-workers#1).
- ``oauth.v2.access`` exchanges a code, once, for the bot token (client id and secret by HTTP
  Basic auth, as slack_sdk sends them, or as parameters), answering in Slack's shape: ``access_token``,
  ``token_type: bot``, ``scope``, ``bot_user_id``, ``app_id``, ``team``, ``enterprise``,
  ``authed_user``, ``is_enterprise_install``, and with token rotation on ``refresh_token`` and
  ``expires_in`` (docs.slack.dev/reference/methods/oauth.v2.access). A code used before or
  unknown: ``invalid_code``; another app's client: ``invalid_client_id``, or ``bad_client_secret``.
  ``grant_type=refresh_token`` trades a refresh token for a new pair, the old refresh token then
  spent (docs.slack.dev/authentication/using-token-rotation): ``invalid_refresh_token`` after.
- A token it issued is known by its workspace, so the recorder notes which workspace's token made
  each call (never the token), ``auth.test`` answers as that workspace's bot, and a token revoked
  (uninstalled, rotated away, expired) answers ``token_revoked`` / ``token_expired``.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

APP_ID = "A0LOCAL"
DEFAULT_TEAM = "T0LOCAL"
ROTATING_TOKEN_SECONDS = 43200  # a rotating token lives 12 hours
OTHER_TEAM = "T0OTHER"
WORKSPACES = {DEFAULT_TEAM: "Local Workspace", OTHER_TEAM: "Other Workspace"}  # where it can be installed


@dataclass
class Grant:
    team_id: str
    user_id: str
    scope: str
    enterprise_id: str = ""
    org_wide: bool = False
    redirect_uri: str = ""  # the one the authorize step was given, which the exchange must repeat


@dataclass
class Issued:
    team_id: str
    enterprise_id: str
    expires_at: float | None  # None: a token that does not rotate


@dataclass
class Workspaces:
    client_id: str = "1111.2222"
    client_secret: str = field(default="local-client-secret", repr=False)
    redirect_url: str = ""  # the app's Redirect URL, as its manifest lists it
    rotation: bool = False  # token rotation on: each token expires, with a refresh token
    token_seconds: int = ROTATING_TOKEN_SECONDS
    names: dict[str, str] = field(default_factory=lambda: dict(WORKSPACES))
    enterprise_id: str = ""  # set for an org-wide install (Enterprise Grid)
    clock: Any = time.time
    _codes: dict[str, Grant] = field(default_factory=dict, repr=False)
    _tokens: dict[str, Issued] = field(default_factory=dict, repr=False)
    _refresh: dict[str, Issued] = field(default_factory=dict, repr=False)

    @staticmethod
    def bot_user(team_id: str) -> str:
        return "U0BOT" if team_id == DEFAULT_TEAM else f"U0BOT{team_id[2:]}"

    @staticmethod
    def person(team_id: str) -> str:
        """The person who approves an install there (one per workspace: a user id is a workspace's own)."""
        return "U0LOCAL" if team_id == DEFAULT_TEAM else f"U0{team_id[2:]}"

    def installed(self, team_id: str) -> bool:
        """Whether the app is installed there: a token or refresh token it was issued is still good."""
        return any(issued.team_id == team_id for issued in [*self._tokens.values(), *self._refresh.values()])

    def authorize(self, query: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """Slack's authorize step, approved at once: a redirect back with a one-use code."""
        if query.get("client_id") != self.client_id:
            return 400, "Invalid client_id parameter", {}
        asked = query.get("redirect_uri", "")
        if asked and asked != self.redirect_url:
            return 400, f"redirect_uri did not match any configured URIs. Passed URI: {asked}", {}
        redirect = asked or self.redirect_url
        if not redirect:
            return 400, "The app has no Redirect URL", {}
        team = query.get("team") or DEFAULT_TEAM
        if team not in self.names:
            return 400, f"No workspace {team}", {}
        code = f"{int(self.clock())}.{secrets.token_hex(12)}"
        self._codes[code] = Grant(team, self.person(team), query.get("scope", ""), self.enterprise_id,
                                  org_wide=bool(self.enterprise_id), redirect_uri=asked)  # fmt: skip
        location = f"{redirect}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, "", {"Location": location}

    def access(self, args: dict[str, Any], authorization: str) -> dict[str, Any]:
        client_id, client_secret = _basic(authorization) or (
            args.get("client_id", ""),
            args.get("client_secret", ""),
        )
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        if args.get("grant_type") == "refresh_token":
            return self._refreshed(str(args.get("refresh_token", "")))
        grant = self._codes.pop(str(args.get("code", "")), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri and args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        answer: dict[str, Any] = {
            "ok": True,
            "token_type": "bot",
            "scope": grant.scope,
            "bot_user_id": self.bot_user(grant.team_id),
            "app_id": APP_ID,
            "team": None if grant.org_wide else {"id": grant.team_id, "name": self.names[grant.team_id]},
            "enterprise": {"id": grant.enterprise_id, "name": "Local Grid"} if grant.enterprise_id else None,
            "authed_user": {"id": grant.user_id},
            "is_enterprise_install": grant.org_wide,
        }
        return answer | self._issue(grant.team_id, grant.enterprise_id)

    def _refreshed(self, refresh_token: str) -> dict[str, Any]:
        issued = self._refresh.pop(refresh_token, None)
        if issued is None:
            return {"ok": False, "error": "invalid_refresh_token"}
        return {"ok": True, "token_type": "bot", "app_id": APP_ID} | self._issue(
            issued.team_id, issued.enterprise_id
        )

    def _issue(self, team_id: str, enterprise_id: str) -> dict[str, Any]:
        token = f"xoxb-{team_id}-{secrets.token_hex(12)}"
        if not self.rotation:
            self._tokens[token] = Issued(team_id, enterprise_id, None)
            return {"access_token": token}
        issued = Issued(team_id, enterprise_id, self.clock() + self.token_seconds)
        refresh = f"xoxe-1-{secrets.token_hex(16)}"
        self._tokens[token], self._refresh[refresh] = issued, issued
        return {"access_token": token, "refresh_token": refresh, "expires_in": self.token_seconds}

    def team_of(self, token: str) -> str:
        issued = self._tokens.get(token)
        return issued.team_id if issued else ""

    def refusal(self, token: str) -> str | None:
        """Why a token this stand-in issued cannot be used now (None: it can, or is not one of its)."""
        if not token.startswith("xoxb-T") or token.count("-") < 2:
            return None
        issued = self._tokens.get(token)
        if issued is None:
            return "token_revoked"
        if issued.expires_at is not None and self.clock() >= issued.expires_at:
            return "token_expired"
        return None

    def auth_test(self, token: str) -> dict[str, Any] | None:
        """auth.test's answer for a token this stand-in issued, as its workspace's bot."""
        issued = self._tokens.get(token)
        if issued is None:
            return None
        return {"ok": True, "url": "https://local.slack.com/", "team": self.names.get(issued.team_id, ""),
                "user": "imagine", "team_id": issued.team_id, "user_id": self.bot_user(issued.team_id),
                "bot_id": "B0BOT" + issued.team_id[2:], "is_enterprise_install": False}  # fmt: skip

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: every token it was issued stops working."""
        for tokens in (self._tokens, self._refresh):
            for token in [t for t, issued in tokens.items() if issued.team_id == team_id]:
                del tokens[token]

    def expire(self, team_id: str) -> None:
        """Let the workspace's rotating tokens reach their expiry (a test's clock, moved on)."""
        for issued in self._tokens.values():
            if issued.team_id == team_id and issued.expires_at is not None:
                issued.expires_at = self.clock()


def _basic(authorization: str) -> tuple[str, str] | None:
    if not authorization.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password
