"""Doctor's Slack checks: the Slack secret, the bot token and its scopes (``auth.test``), and
the request URLs in Slack's app config (``apps.manifest.export``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.ops.app_manifest import manifest_bot_scopes
from bot.ops.checks import FAIL, PASS, SKIP, Context, Result, read_secret

# What infra/template.yaml's SlackSecret holds until someone pastes the app's values in.
PLACEHOLDER = "replace-me"
UNREACHABLE_FIX = "Check this machine's connection to Slack (or SLACK_API_URL)."


def slack_secret(ctx: Context) -> Result:
    """The Slack secret holds the app's values, not the template's placeholder."""
    name = "Slack secret"
    d = ctx.deployment
    secret_id = d.setting("SLACK_SECRET_ID")
    if secret_id:
        raw = read_secret(ctx, name, secret_id, "SLACK_SECRET_ID")
        if isinstance(raw, Result):
            return raw
        try:
            values = json.loads(raw)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            return Result(
                name,
                FAIL,
                "is not a JSON object",
                'Store {"SLACK_BOT_TOKEN": "xoxb-...", "SLACK_SIGNING_SECRET": "..."} in it.',
            )
        where = "SLACK_SECRET_ID"
    else:
        keys = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
        values = {key: d.setting(key) for key in keys}
        where = "the environment"
    token = str(values.get("SLACK_BOT_TOKEN", "")).strip()
    signing = str(values.get("SLACK_SIGNING_SECRET", "")).strip()
    if (
        str(values.get("SLACK_CLIENT_ID") or "").strip()
        or str(values.get("SLACK_CLIENT_SECRET") or "").strip()
    ):
        return _oauth_client(ctx, name, values, signing, where)
    unset = [
        key
        for key, value in (("SLACK_BOT_TOKEN", token), ("SLACK_SIGNING_SECRET", signing))
        if not value or value == PLACEHOLDER
    ]
    if unset:
        return Result(
            name,
            FAIL,
            f"{' and '.join(unset)} still unset in {where} (placeholder or empty)",
            "Paste the app's Bot User OAuth Token and Signing Secret into the stack's "
            "SlackSecret (Secrets Manager console, or aws secretsmanager put-secret-value).",
        )
    if not token.startswith("xoxb-"):
        return Result(
            name,
            FAIL,
            "SLACK_BOT_TOKEN is not a bot token (xoxb-...)",
            "Use the Bot User OAuth Token from the app's OAuth & Permissions page.",
        )
    ctx.bot_token = token
    return Result(name, PASS, f"holds a bot token and a signing secret ({where})")


def _ask_slack(
    ctx: Context,
    check: str,
    token: str,
    method: str,
    call: Callable[[WebClient], SlackResponse],
    refused_fix: str,
    refused: str = "refused",
) -> SlackResponse | Result:
    """Slack's answer to ``call`` (Web API ``method``) with ``token``, or the check's failure in
    one line: Slack's error code when it refused, the error's kind when Slack could not be
    reached; never a traceback."""
    try:
        return call(WebClient(token=token, base_url=ctx.slack_api_url, timeout=10))
    except SlackApiError as error:
        code = str(error.response.get("error", "error"))
        return Result(check, FAIL, f"{method} {refused}: {code}", refused_fix)
    except Exception as error:  # the network
        return Result(check, FAIL, f"{method} could not be reached ({type(error).__name__})", UNREACHABLE_FIX)


def _oauth_client(ctx: Context, name: str, values: dict[str, object], signing: str, where: str) -> Result:
    """Installed per workspace ("Add to Slack"): the client id and secret and the signing secret."""
    held = {key: str(values.get(key) or "").strip() for key in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")}
    unset = [key for key, value in (*held.items(), ("SLACK_SIGNING_SECRET", signing))
             if not value or value == PLACEHOLDER]  # fmt: skip
    if unset:
        return Result(name, FAIL, f"{' and '.join(unset)} still unset in {where} (placeholder or empty)",
                      "Paste the app's Client ID, Client Secret and Signing Secret (Basic Information) "
                      "into the stack's SlackSecret.")  # fmt: skip
    ctx.per_workspace = True
    return Result(
        name, PASS, f"holds the app's OAuth client and a signing secret ({where}): installed per workspace"
    )


def slack_token(ctx: Context) -> Result:
    """auth.test answers for the bot token; Slack names the token's scopes in its
    ``x-oauth-scopes`` response header (a comma-separated list, which the Node SDK splits into
    ``response_metadata.scopes``: slackapi/node-slack-sdk packages/web-api/src/WebClient.ts,
    buildResult; slack-ruby/slack-ruby-client issue 378: "x-oauth-scopes is a list of scopes
    that the token has", read from auth.test)."""
    name = "Slack bot token"
    if ctx.per_workspace:
        return Result(
            name, SKIP, "skipped: each workspace's token is its installation's, checked as it is used"
        )
    if not ctx.bot_token:
        return Result(name, SKIP, "skipped: needs the Slack secret above")
    answer = _ask_slack(
        ctx,
        name,
        ctx.bot_token,
        "auth.test",
        lambda client: client.auth_test(),
        "Reinstall the app to the workspace and store its new Bot User OAuth Token in the secret.",
        refused="refused it",
    )
    if isinstance(answer, Result):
        return answer
    headers = {k.lower(): v for k, v in (answer.headers or {}).items()}
    raw = headers.get("x-oauth-scopes")
    raw = raw[0] if isinstance(raw, list) else raw
    ctx.auth_ok = True
    ctx.scopes = [s.strip() for s in str(raw).split(",") if s.strip()] if raw is not None else None
    return Result(name, PASS, f"auth.test: bot {answer.get('user', '?')} in {answer.get('team', '?')}")


def slack_scopes(ctx: Context) -> Result:
    """The token's scopes cover what manifest.yml asks for (its bot scopes)."""
    name = "Slack scopes"
    if not ctx.auth_ok:
        return Result(
            name, SKIP, f"skipped: needs {'auth.test' if ctx.bot_token else 'the Slack secret'} above"
        )
    if ctx.scopes is None:
        return Result(
            name,
            FAIL,
            "Slack named no scopes for the token (no x-oauth-scopes header)",
            "Reinstall the app to the workspace, then run doctor again.",
        )
    wanted = manifest_bot_scopes()
    missing = [s for s in wanted if s not in ctx.scopes]
    if missing:
        return Result(
            name,
            FAIL,
            f"the token lacks {', '.join(missing)}",
            "Add them under OAuth & Permissions (or update the app from manifest.yml) and "
            "reinstall the app to the workspace.",
        )
    return Result(name, PASS, f"all {len(wanted)} that manifest.yml asks for")


def request_url(ctx: Context) -> Result:
    """Slack's app config sends requests to the stack's SlackRequestUrl: apps.manifest.export
    with an app configuration token (``xoxe.xoxp-...``, made under "Your App Configuration
    Tokens" on api.slack.com/apps, good for 12 hours: api.slack.com/methods/tooling.tokens.rotate)
    and the app's id answers ``{"ok": true, "manifest": {...}}`` with the app's manifest as JSON
    (docs.slack.dev/reference/methods/apps.manifest.export; its errors include invalid_app_id and
    app_not_found). The request URLs are the slash command's ``url``, and
    ``settings.event_subscriptions.request_url`` / ``settings.interactivity.request_url``
    (api.slack.com/reference/manifests)."""
    name = "Slack request URL"
    if not ctx.app_config_token:
        return Result(
            name,
            SKIP,
            "skipped: set SLACK_APP_CONFIG_TOKEN (an app configuration token) "
            "and pass --app-id to compare Slack's app config with the stack",
        )
    expected = ctx.deployment.request_url
    if not ctx.app_id:
        return Result(
            name,
            FAIL,
            "an app configuration token but no app id",
            "Pass --app-id A0... (the app's Basic Information page shows it).",
        )
    if not expected:
        return Result(
            name,
            FAIL,
            f"{ctx.deployment.where} names no request URL",
            "Give --stack NAME (its SlackRequestUrl output) or set PUBLIC_BASE_URL.",
        )
    app_id = ctx.app_id
    answer = _ask_slack(
        ctx,
        name,
        ctx.app_config_token,
        "apps.manifest.export",
        lambda client: client.apps_manifest_export(app_id=app_id),
        "Make a fresh app configuration token (they last 12 hours) and check --app-id.",
    )
    if isinstance(answer, Result):
        return answer
    manifest = answer.get("manifest") or {}
    settings = manifest.get("settings", {})
    found = {
        f"slash command {c.get('command', '?')}": c.get("url", "")
        for c in manifest.get("features", {}).get("slash_commands", [])
    }
    found["event subscriptions"] = settings.get("event_subscriptions", {}).get("request_url", "")
    found["interactivity"] = settings.get("interactivity", {}).get("request_url", "")
    wrong = [what for what, url in found.items() if str(url).rstrip("/") != expected.rstrip("/")]
    if wrong:
        return Result(
            name,
            FAIL,
            f"{', '.join(wrong)} not {expected}",
            "Run `make manifest` and paste it into the app's App Manifest page "
            "(or set each request URL to the stack's SlackRequestUrl).",
        )
    return Result(name, PASS, f"the command, events and interactivity all go to {expected}")
