"""``imagine-bot dev`` (``make dev``): the bot in your own Slack workspace over Socket Mode, on the
local stack (moto, the local worker, the placeholder backend or SAGEMAKER_ENDPOINT_NAME's
endpoint). Slack cannot reach a laptop, so Socket Mode brings Slack's events to it over a
WebSocket the bot opens, and images are uploaded to Slack (IMAGE_DELIVERY=upload by default).

The tokens come from the environment, else from ``.env`` in the current directory (the
environment wins, as python-dotenv's ``load_dotenv(override=False)`` does). Both are checked
before anything starts, each with the one Slack call that proves it: ``auth.test`` for the bot
token, ``apps.connections.open`` for the app-level token (whose URL the connection then uses:
the method is rate limited at Tier 1, docs.slack.dev/reference/methods/apps.connections.open).
A missing or refused token gets one sentence saying which, where to get it and which scope it
needs; never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient

    from bot.local.server import LocalServer
    from bot.local.stack import LocalStack

DOTENV = Path(".env")
APP_HOW = (
    "create an app-level token with the connections:write scope at api.slack.com/apps → your app → "
    "Basic Information → App-Level Tokens, and put it in .env as SLACK_APP_TOKEN=xapp-…"
)
BOT_HOW = (
    "copy the Bot User OAuth Token from api.slack.com/apps → your app → OAuth & Permissions "
    "(install the app to your workspace first) into .env as SLACK_BOT_TOKEN=xoxb-…"
)
KINDS = {"xoxb-": "a bot token", "xoxp-": "a user token", "xapp-": "an app-level token"}


class CannotStart(Exception):
    """A token is missing or Slack refused it, or the connection would not open: the message is
    one sentence for the person."""


@dataclass(frozen=True)
class Tokens:
    app: str
    bot: str


def read_tokens(env: MutableMapping[str, str], dotenv: Path = DOTENV) -> Tokens:
    """SLACK_APP_TOKEN and SLACK_BOT_TOKEN, from ``env`` or else ``dotenv``. The rest of
    ``dotenv`` (SAGEMAKER_ENDPOINT_NAME, PORT...) is added to ``env`` where it is unset too."""
    if dotenv.is_file():
        from dotenv import dotenv_values

        for name, value in dotenv_values(dotenv).items():
            if value is not None and not env.get(name, "").strip():
                env[name] = value
    tokens = Tokens(app=env.get("SLACK_APP_TOKEN", "").strip(), bot=env.get("SLACK_BOT_TOKEN", "").strip())
    check_shape("SLACK_APP_TOKEN", tokens.app, "xapp-", APP_HOW)
    check_shape("SLACK_BOT_TOKEN", tokens.bot, "xoxb-", BOT_HOW)
    return tokens


def check_shape(name: str, token: str, prefix: str, how: str) -> None:
    """A token that is missing, or of another kind than ``prefix``'s (the prefix says which:
    api.slack.com/authentication/token-types); the message never shows the token."""
    if not token:
        raise CannotStart(f"{name} is not set: {how}")
    if not token.startswith(prefix):
        kind = next((k for p, k in KINDS.items() if token.startswith(p)), "not a Slack token")
        raise CannotStart(f"{name} is {kind}, not {KINDS[prefix]} ({prefix}…): {how}")


def check_bot_token(web: WebClient) -> dict[str, Any]:
    """``auth.test`` with ``web``'s (bot) token: its answer (team, url...). Slack's errors there:
    ``invalid_auth`` (not a valid token), ``account_inactive`` (a deleted user or workspace),
    ``not_authed`` (no token) (slackhq/slack-api-docs, methods/auth.test.json), and
    ``token_revoked``: "for a deleted user or workspace or the app has been removed" (the same
    repository's methods, e.g. auth.revoke.json)."""
    from slack_sdk.errors import SlackApiError

    try:
        return dict(web.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if code in ("account_inactive", "token_revoked"):
            raise CannotStart(
                f"Slack says SLACK_BOT_TOKEN no longer works ({code}: the app was uninstalled or the "
                f"workspace or user is gone): reinstall the app, then {BOT_HOW}"
            ) from None
        raise CannotStart(f"Slack refused SLACK_BOT_TOKEN ({code}): {BOT_HOW}") from None


def open_connection_url(web: WebClient, token: str) -> str:
    """``apps.connections.open`` with the app-level token: a WebSocket URL. Slack answers
    ``not_allowed_token_type`` for a token of another kind (slack-ruby/slack-ruby-client issue
    363), ``missing_scope`` without connections:write (api.slack.com/scopes/connections:write),
    ``invalid_auth`` for a token it does not know."""
    from slack_sdk.errors import SlackApiError

    try:
        return str(web.apps_connections_open(app_token=token)["url"])
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        why = {
            "missing_scope": "Slack says SLACK_APP_TOKEN lacks the connections:write scope",
            "not_allowed_token_type": "Slack says SLACK_APP_TOKEN is not an app-level token",
        }.get(code, "Slack refused SLACK_APP_TOKEN")
        raise CannotStart(f"{why} ({code}): {APP_HOW}") from None


def web_api_url(env: Mapping[str, str]) -> str:
    from bot.config.settings import SLACK_API_DEFAULT

    return (env.get("SLACK_API_URL", "").strip() or SLACK_API_DEFAULT).rstrip("/") + "/"


def workspace(auth: Mapping[str, Any]) -> str:
    """How auth.test names the workspace: its name and URL, else its id."""
    team, url = str(auth.get("team") or auth.get("team_id") or "your workspace"), str(auth.get("url") or "")
    return f"{team} ({url.rstrip('/')})" if url else team


def run_dev() -> int:
    """`imagine-bot dev`: check the tokens, start the local stack and the Socket Mode connection,
    run the worker here until Ctrl-C or SIGTERM; 0 when stopped, 1 on a token or port problem."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    env = os.environ
    try:
        tokens = read_tokens(env)
        web = _web_client(env, tokens.bot)
        auth = check_bot_token(web)
        url = open_connection_url(web, tokens.app)
    except CannotStart as problem:
        print(problem, file=sys.stderr)
        return 1
    except OSError as error:  # urllib's URLError too: no network, or SLACK_API_URL answers nothing
        reason = getattr(error, "reason", error)
        fix = "check SLACK_API_URL" if env.get("SLACK_API_URL", "").strip() else "check the network"
        print(f"could not reach Slack at {web_api_url(env)} ({reason}): {fix}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped: nothing had started yet")
        return 0
    # Slack cannot fetch images from a laptop: upload them, unless told otherwise.
    env.setdefault("IMAGE_DELIVERY", "upload")
    # The handlers' CloudWatch metrics (EMF JSON lines on stdout) are noise in a terminal that
    # watches Slack; Powertools' documented switch turns them off (set it to false to see them).
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    return _serve(tokens, auth, url)


def _web_client(env: Mapping[str, str], bot_token: str) -> WebClient:
    from slack_sdk import WebClient

    return WebClient(token=bot_token, base_url=web_api_url(env), timeout=10)


def _serve(tokens: Tokens, auth: Mapping[str, Any], url: str) -> int:
    started: list[tuple[str, Callable[[], None]]] = []  # what to stop, in the order it started
    problem: CannotStart | None = None
    try:
        server = _local_server()
        if server is None:
            return 1
        started.append((f"the image server on {server.url}", server.stop))
        stack = _stack(server)
        started.append(("moto" if stack.moto else "the local stack", stack.stop))
        handler = _connect(tokens, url)
        started.append(("the Socket Mode connection", handler.client.close))
        from bot.local.poller import EventSources
        from bot.services import process_services as services

        # Both queues, in turn, as `imagine-bot run` does.
        poller = EventSources.of(services(), wait_seconds=1)
        started.append(("the local worker", lambda: None))  # it runs here: stopping is leaving
        print(f"imagine is connected to {workspace(auth)} over Socket Mode, drawing with "
              f"{_backend()}: type /imagine in Slack; Ctrl-C stops", flush=True)  # fmt: skip
        poller.run_forever()
    except KeyboardInterrupt:
        pass
    except CannotStart as refused:  # between the checks and the connection
        problem = refused
    finally:
        names = _stop(started)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    print(f"stopped: {_listed(names) if names else 'nothing had started yet'}", flush=True)
    return 0


def _backend() -> str:
    from bot.services import process_services as services

    settings = services().settings
    endpoint = f" ({settings.sagemaker_endpoint_name})" if settings.sagemaker_endpoint_name else ""
    return f"the {settings.image_backend} backend{endpoint}"


def _local_server() -> LocalServer | None:
    from bot.local.server import LocalServer

    raw = os.environ.get("PORT", "").strip() or "3000"
    if not (raw.isascii() and raw.isdigit() and int(raw) <= 65535):
        print(f"PORT={raw!r} is not a port number (0 to 65535)", file=sys.stderr)
        return None
    try:
        return LocalServer(int(raw)).start()
    except OSError as error:  # taken, or not ours to use: one line, no traceback
        print(
            f"port {raw} on 127.0.0.1 is not available ({error.strerror}): "
            "choose another with `make dev PORT=8080` (or `PORT=8080 imagine-bot dev`)",
            file=sys.stderr,
        )
        return None


def _stack(server: LocalServer) -> LocalStack:
    """The local stack, as `imagine-bot run` starts it. SLACK_BOT_TOKEN is set, so it starts no
    Slack recorder: the bot talks to Slack, or to SLACK_API_URL."""
    from bot.local.stack import LocalStack

    stack = LocalStack().start(public_base_url=os.environ.get("PUBLIC_BASE_URL", server.url))
    server.ready()
    return stack


def _connect(tokens: Tokens, url: str) -> SocketModeHandler:
    """Bolt's Socket Mode handler (slack_sdk's built-in client) around the bot's Bolt app,
    connected on ``url``: the client connects to a URL it already holds instead of asking for
    one (slack_sdk.socket_mode.builtin.SocketModeClient.connect), and asks again by itself when
    Slack refreshes the connection."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    from bot.app import build_app
    from bot.services import process_services as services

    handler = SocketModeHandler(build_app(services()), tokens.app)
    handler.client.wss_uri = url
    handler.client.connect()
    if not handler.client.is_connected():  # the URL went stale while the stack started: ask anew
        try:
            # Not forced: the client's own monitor may be reconnecting already, and this then
            # waits for it rather than opening a second connection.
            handler.client.connect_to_new_endpoint()
        except SlackApiError as error:
            handler.client.close()
            raise CannotStart(
                f"Slack refused SLACK_APP_TOKEN ({error.response.get('error', '')}): {APP_HOW}"
            ) from None
    if not handler.client.is_connected():
        handler.client.close()
        raise CannotStart(
            "the Socket Mode connection did not open (the warnings above say why): check that Socket Mode "
            "is on at api.slack.com/apps → your app → Socket Mode, then try again"
        )
    return handler


def _stop(started: list[tuple[str, Callable[[], None]]]) -> list[str]:
    """Stop what was started, newest first; their names, in that order. A second Ctrl-C meanwhile
    is ignored, and one piece failing to stop does not keep the others running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stopped = list(reversed(started))
    for _, stop in stopped:
        with contextlib.suppress(Exception):
            stop()
    return [name for name, _ in stopped]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
