"""manifest.yml with the deployed stack's request URL in place of the placeholder: the slash
command's, interactivity's and the event subscriptions' (all three are ``/slack/events``); or,
for `make dev`, the manifest of a Socket Mode app, which has no request URL at all."""

from __future__ import annotations

# Re-exported: the CLI, the Slack stand-in and the tests read them from here.
from bot.ops.app_manifest import MANIFEST as MANIFEST
from bot.ops.stacks import stack_outputs as stack_outputs

PLACEHOLDER = "https://imagine.invalid/slack/events"
REDIRECT_PLACEHOLDER = "https://imagine.invalid/slack/oauth_redirect"  # oauth_config.redirect_urls
# The lines that name a request URL (the slash command's, the event subscriptions' and
# interactivity's), each holding the placeholder.
URL_KEYS = ("url", "request_url")
SOCKET_MODE_HEADER = (
    "# Socket Mode (`make dev`): Slack sends events, commands and clicks over the app's WebSocket,\n"
    "# so this manifest names no request URL. `imagine-bot manifest --socket-mode` wrote it.\n"
)


def filled(request_url: str, text: str | None = None) -> str:
    if not (request_url.startswith("https://") and request_url.rstrip("/").endswith("/slack/events")):
        raise ValueError("the request URL must be https://.../slack/events (the stack's SlackRequestUrl)")
    text = MANIFEST.read_text() if text is None else text
    base = request_url.rstrip("/").removesuffix("/slack/events")
    return text.replace(PLACEHOLDER, f"{base}/slack/events").replace(
        REDIRECT_PLACEHOLDER, f"{base}/slack/oauth_redirect"
    )


def socket_mode(text: str | None = None) -> str:
    """The manifest of a Socket Mode app: ``socket_mode_enabled: true`` and no request URLs.

    Slack's manifest reference makes every request URL optional (``features.slash_commands[].url``,
    ``settings.event_subscriptions.request_url``, ``settings.interactivity.request_url``; only
    ``interactivity.is_enabled`` is required there: api.slack.com/reference/manifests, as
    SchemaStore's slack-app-manifest.json encodes it), and a Socket Mode app receives all three
    over its WebSocket instead (api.slack.com/apis/socket-mode: "Socket Mode allows your app to
    use the Events API and interactive features without exposing a public HTTP Request URL").
    Everything else, comments included, stays as manifest.yml has it; the header's note about
    placeholders gives way to one about Socket Mode.
    """
    text = MANIFEST.read_text() if text is None else text
    lines = text.splitlines(keepends=True)
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    kept: list[str] = [lines[0], SOCKET_MODE_HEADER] if header else [SOCKET_MODE_HEADER]
    removed, switched = 0, 0
    for line in lines[header:]:
        key, _, value = line.strip().partition(":")
        if key in URL_KEYS and value.split("#")[0].strip() == PLACEHOLDER:
            removed += 1
            continue
        if key == "redirect_urls" or line.strip() == f"- {REDIRECT_PLACEHOLDER}":
            continue  # installed by hand in the one workspace a Socket Mode app serves
        if key == "socket_mode_enabled":
            line = line.replace("false", "true", 1)
            switched += 1
        kept.append(line)
    if removed != 3 or switched != 1:  # manifest.yml changed shape: better to say so than to guess
        raise ValueError(
            "manifest.yml should name the placeholder request URL 3 times and socket_mode_enabled once"
        )
    return "".join(kept)


def stack_request_url(stack_name: str) -> str:
    url = stack_outputs(stack_name).get("SlackRequestUrl")
    if not url:
        raise LookupError(f"stack {stack_name} has no SlackRequestUrl output")
    return url
