"""Slack's requests to ``POST /slack/events``: refuse what Slack could never have sent, then hand
the rest to the Bolt app built for the signing secret in use."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.http.events import Event, Response, cookies, query, text_response
from bot.model.workspace import act_for
from bot.services import Services

# Slack sends Unix seconds as a plain decimal integer. Anything else could not have come from
# Slack, and slack_sdk's SignatureVerifier would raise on it (int("1e3"), or an int too large to
# compare with the clock) instead of refusing it.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# What reading a hostile body can raise: JSON that is not JSON or nests past the recursion limit,
# and values of the wrong type where Bolt expects an object.
_UNREADABLE = (ValueError, RecursionError, TypeError, AttributeError, LookupError)
# The fields Bolt's middleware and listener matchers read without checking their type, with the
# JSON type Slack sends them as (docs.slack.dev/reference/interaction-payloads, the Events API's
# event wrapper). ``event`` and ``view`` must be objects when present; the rest may be null.
_TEXT = str | None
_FIELDS: dict[str, Any] = {
    "type": _TEXT,
    "command": _TEXT,
    "callback_id": _TEXT,
    "action_id": _TEXT,
    "block_id": _TEXT,
    "actions": list | None,
}
_INNER: dict[str, dict[str, Any]] = {
    "event": {"type": _TEXT, "subtype": _TEXT, "bot_id": _TEXT, "user": _TEXT},
    "view": {"type": str, "callback_id": _TEXT, "id": _TEXT},  # Slack always names a view's type
}
_ACTION = {"type": _TEXT, "action_id": _TEXT, "block_id": _TEXT}


def slack_refusal(event: Event) -> tuple[int, str] | None:
    """Why a normalized ``POST /slack/events`` cannot be a Slack request, checked before Bolt reads
    it: ``(401, reason)`` for a malformed timestamp, ``(400, reason)`` for a body Bolt cannot read
    (JSON that is not an object, also inside a form's ``payload=``, or a field Bolt reads unchecked
    holding a type Slack never sends); ``None`` when Bolt may go on."""
    headers: dict[str, str] = event["headers"]
    stamp = next((v for k, v in headers.items() if k.lower() == "x-slack-request-timestamp"), None)
    if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
        return 401, "the request timestamp is not a whole number of seconds"
    try:
        # The same reading Bolt's Lambda adapter does next: JSON for a JSON content type or a
        # body that starts with "{", the JSON inside a form's payload=, then the context fields.
        request = BoltRequest(body=event["body"], headers=dict(headers))
    except _UNREADABLE:
        return 400, "the body is not a JSON object or a form"
    if not isinstance(request.body, dict):
        return 400, "the body is not a JSON object or a form"
    if not _well_typed(request.body):
        return 400, "a field of the body has a type Slack never sends"
    return None


def _well_typed(body: dict[str, Any]) -> bool:
    if not _fields_fit(body, _FIELDS):
        return False
    for name, fields in _INNER.items():
        if name in body and not (isinstance(body[name], dict) and _fields_fit(body[name], fields)):
            return False
    actions = body.get("actions")
    if actions is None:  # a block_actions payload always carries the action that was taken
        return body.get("type") != "block_actions"
    return bool(actions) and all(isinstance(a, dict) and _fields_fit(a, _ACTION) for a in actions)


def _fields_fit(value: dict[str, Any], fields: dict[str, Any]) -> bool:
    return all(isinstance(value.get(name), kind) for name, kind in fields.items())


class SlackHandler:
    """Slack's requests through the Bolt app built for the signing secret in use.

    Bolt takes the signing secret once, when the app is built, so a new secret gets a new app.
    A request that fails the signature check may have been signed with a secret stored moments
    ago: the Slack secret is read again (at most once every few seconds, see bot/config/secrets.py)
    and, if the signing secret changed, the same request is checked once more with it, so the
    first command after a rotation already succeeds.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._handler: SlackRequestHandler | None = None
        self._built_for: tuple[str, str, str] = ("", "", "")

    def handle(self, event: Event, context: Any) -> Response:
        try:
            return self._handle(event, context)
        finally:
            act_for(None)  # the request's workspace, set by the app's middleware (bot/app.py)

    def _handle(self, event: Event, context: Any) -> Response:
        handler = self._current()
        response: Response = handler.handle(event, context)  # type: ignore[no-untyped-call]
        # Bolt answers 401 when a request fails its check (the v0 HMAC of the body under the
        # signing secret: https://api.slack.com/docs/verifying-requests-from-slack).
        if response.get("statusCode") == 401 and self._services.refresh_slack_secret():
            renewed = self._current()
            if renewed is not handler:
                response = renewed.handle(event, context)  # type: ignore[no-untyped-call]
        return response

    def handle_oauth(self, event: Event, *, redirect: bool) -> Response:
        """``GET /slack/install`` (the page that sends a browser to Slack's authorize step, with
        a new state in a cookie) or ``GET /slack/oauth_redirect`` (Slack sends the browser back
        with a code and that state), through Bolt's OAuth flow; 404 with one workspace's token."""
        flow = self._current().app.oauth_flow
        if flow is None:
            return text_response(404, "Not found.")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        request = BoltRequest(body="", query=query(event), headers={**headers, "cookie": cookies(event)})
        answer = flow.handle_callback(request) if redirect else flow.handle_installation(request)
        # One Set-Cookie at most (the new state, or its deletion): a header both payloads take.
        return {"statusCode": answer.status, "headers": answer.first_headers(), "body": answer.body}

    def _current(self) -> SlackRequestHandler:
        # Bolt takes the signing secret and the OAuth client once, when the app is built: a new
        # secret, or "Add to Slack" turned on or off in the Slack secret, gets a new app.
        settings = self._services.settings
        built_for = (settings.signing_secret, settings.client_id, settings.client_secret)
        if self._handler is None or built_for != self._built_for:
            self._handler = SlackRequestHandler(build_app(self._services))
            self._built_for = built_for
        return self._handler
