"""What the person at the playground does, sent to the app the way Slack sends it: signed with the
signing secret (which never leaves this process) and POSTed to ``/slack/events``, where
``http_handler`` answers. The Slack stand-in hands out each interaction's response_url and
trigger_id, and keeps what Slack keeps: the person's own messages, what the app's answers show.

- ``/imagine …``: a slash command (bot.local.signing.command_body); its answer shows as Slack
  shows it, ephemeral unless ``in_channel``; a failed one as Slack words it.
- a message naming ``@imagine``: first the person's message in the channel or thread, then the
  ``app_mention`` event with that message's ts and text.
- anything else: the person's message, and nothing for the app.
- a click: ``block_actions`` echoing the button as the app posted it; in a message through
  bot.local.signing.click_body, in the Home tab with the view as its container.
- a modal's Submit: ``view_submission`` with what was typed, as Slack sends it
  (SlackRecorder.submission);
  the acknowledgement then does to the modal what Slack does (SlackRecorder.submitted).
- the Home tab opened: the ``app_home_opened`` event.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.local.playground.state import SLACKBOT, Seat
from bot.local.signing import (
    FORM,
    JSON,
    app_mention,
    click_body,
    command_body,
    event_body,
    signed_headers,
)

if TYPE_CHECKING:
    from bot.local.slack.recorder import SlackRecorder

COMMAND = "/imagine"
_MENTION = re.compile(r"(?<![\w@])@imagine\b", re.IGNORECASE)  # what the composer turns into <@bot user>
Answer = dict[str, Any]  # the page's answer, as JSON
NOT_A_COMMAND = (
    'In Slack, all messages that start with the "/" character are interpreted as commands.\n'
    'If you are trying to send a message and not run a command, try preceding the "/" with an empty space.'
)


class Refused(Exception):
    """A request the page should not have sent (no such message, button or view)."""


def escape(text: str) -> str:
    """Slack's escaping of what a person types (docs.slack.dev/messaging/formatting-message-text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Actions:
    def __init__(self, recorder: SlackRecorder, app_url: str, signing_secret: str, seat: Seat) -> None:
        self.recorder = recorder
        self.events_url = f"{app_url}/slack/events"
        self._secret = signing_secret
        self._count = itertools.count(1)
        self.seat = seat
        self.user, self.channel, self.team = seat.user, seat.channel, seat.team

    # ---- the composer -------------------------------------------------------------------------

    def send(self, text: str, thread_ts: str = "") -> Answer:
        text = text.strip()
        if not text:
            raise Refused("nothing to send")
        if text.startswith("/"):
            name = text.split()[0]
            if name == COMMAND:
                return self.command(text[len(COMMAND) :].strip(), thread_ts)
            # Slack runs every message that starts with "/" as a command; this is its only one.
            notice = {"text": f"{escape(name)} is not a valid command. {NOT_A_COMMAND}"}  # Slackbot's words
            self.recorder.show_ephemeral(
                self.user, self.channel, notice, thread_ts=thread_ts, sender=SLACKBOT
            )
            return {"ok": True, "sent": "nothing"}
        said = escape(text)
        mention = _MENTION.sub(f"<@{self.seat.bot_user}>", said)
        ts = self.recorder.post_as_person(self.channel, mention, user=self.user, thread_ts=thread_ts)
        if mention == said:
            return {"ok": True, "sent": "message", "ts": ts}
        event = app_mention("", channel_id=self.channel, user_id=self.user, team_id=self.team,
                            ts=ts, thread_ts=thread_ts or None, bot_user_id=self.seat.bot_user)  # fmt: skip
        event["text"] = mention  # as Slack sends it: the message's own text, mentions as <@U…>
        status, _ = self._post(event_body(event, team_id=self.team, bot_user_id=self.seat.bot_user), JSON)
        return {"ok": status == 200, "sent": "mention", "ts": ts, "status": status}

    def command(self, text: str, thread_ts: str = "") -> Answer:
        """``/imagine text``. Slack sends no thread with a command: its answer shows where it was
        typed, the thread included."""
        name = self._name("command")
        response_url = self.recorder.response_url(
            name, user=self.user, channel=self.channel, thread_ts=thread_ts
        )
        body = command_body(
            text,
            channel_id=self.channel,
            user_id=self.user,
            team_id=self.team,
            response_url=response_url,
            trigger_id=self.recorder.trigger_id(self.user),
        )
        status, answer = self._post(body, FORM)
        if status == 200:
            self.recorder.show_answer(name, answer)
        else:
            self._failed(status, thread_ts)
        return {"ok": status == 200, "sent": "command", "status": status}

    def _failed(self, status: int, thread_ts: str) -> None:
        """Slack's word when the app did not answer a command: `/cmd failed with the error "…"`
        (Netflix/dispatch issue 495: "http_client_error" for a 404; slackapi/bolt-python issue
        951: "dispatch_failed" when nothing answers)."""
        error = (
            "dispatch_failed"
            if status == 0
            else "http_client_error"
            if status < 500
            else "http_service_error"
        )
        message = {"text": f'{COMMAND} failed with the error "{error}"'}
        self.recorder.show_ephemeral(self.user, self.channel, message, thread_ts=thread_ts, sender=SLACKBOT)

    # ---- clicks -------------------------------------------------------------------------------

    def click(self, channel: str, ts: str, block_id: str, action_id: str) -> Answer:
        """A click on a button of the app's message at ``ts``, as the app posted it."""
        message = self.recorder.message(channel, ts)
        if message is None or not _button(message.get("blocks"), block_id, action_id):
            raise Refused("no such button")
        name = self._name("click")
        body = click_body(
            message,
            channel,
            ts,
            action_id=action_id,
            block_id=block_id,
            user_id=self.user,
            team_id=self.team,
            response_url=self.recorder.response_url(
                name,
                user=self.user,
                channel=channel,
                message_ts=ts,
                thread_ts=str(message.get("thread_ts") or ""),
            ),
            trigger_id=self.recorder.trigger_id(self.user),
        )
        status, _ = self._post(body, FORM)
        return {"ok": status == 200, "status": status}

    def click_in_view(self, view_id: str, block_id: str, action_id: str) -> Answer:
        """A click on a button in the Home tab or a modal: its container is the view
        (docs.slack.dev/reference/interaction-payloads/block_actions-payload), its trigger one
        for a views.push from inside it."""
        recorded = self.recorder.views.get(view_id)
        if recorded is None or recorded.user != self.user:
            raise Refused("no such view")
        button = _button(recorded.view.get("blocks"), block_id, action_id)
        if button is None:
            raise Refused("no such button")
        payload = {
            "type": "block_actions",
            "user": {"id": self.user, "username": self.seat.name, "team_id": self.team},
            "api_app_id": "A0LOCAL",
            "token": "unused-legacy-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.recorder.trigger_id(self.user, view_id=view_id),
            "team": {"id": self.team, "domain": self.team.lower()},
            "view": {**recorded.answer(), "state": {"values": {}}},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        status, _ = self._post(urlencode({"payload": json.dumps(payload)}), FORM)
        return {"ok": status == 200, "status": status}

    # ---- modals and the Home tab --------------------------------------------------------------

    def submit(self, view_id: str, values: dict[str, str | None]) -> Answer:
        """Submit the person's open modal with ``values`` by input block_id. The answer holds the
        ``errors`` to show under the inputs, if the app answered with them."""
        stack = self.recorder.modal_stack(self.user)
        if not stack or stack[-1].id != view_id:
            raise Refused("that view is not open")
        view = stack[-1].answer()
        status, answer = self._post(_submission(self.recorder, view, values, self.seat), FORM)
        if status != 200:
            # Slack keeps the modal open and says it could not reach the app.
            return {"ok": False, "status": status, "error": "We had some trouble connecting. Try again?"}
        refusal = self.recorder.submitted(self.user, view_id, answer)
        if refusal:
            return {"ok": False, "status": status, "error": f"Slack refused the answer ({refusal['error']})"}
        errors = answer.get("errors") if answer.get("response_action") == "errors" else None
        return {"ok": True, "status": status, "errors": errors or {}}

    def close(self, view_id: str, every_view: bool = False) -> Answer:
        stack = self.recorder.modal_stack(self.user)
        if not stack or stack[-1].id != view_id:
            raise Refused("that view is not open")
        self.recorder.close_modal(self.user, every_view=every_view)
        return {"ok": True}

    def open_home(self) -> Answer:
        """The person opened the app's Home tab: ``app_home_opened``, with the view published
        before when there is one (docs.slack.dev/reference/events/app_home_opened)."""
        ts = f"{time.time():.6f}"
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": self.user,
            "channel": self.recorder.dm_channel(self.user),
            "tab": "home",
            "event_ts": ts,
        }
        home = self.recorder.home_view(self.user)
        if home is not None:
            event["view"] = home.answer()
        status, _ = self._post(event_body(event, team_id=self.team, bot_user_id=self.seat.bot_user), JSON)
        return {"ok": status == 200, "status": status}

    # ---- to the app ---------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"playground-{kind}-{next(self._count)}-{secrets.token_hex(4)}"

    def _post(self, body: str, content_type: str) -> tuple[int, dict[str, Any]]:
        """POST ``body`` to the app signed as Slack signs it; the status (0: no answer) and its
        JSON answer ({} when empty)."""
        headers = signed_headers(self._secret, body, content_type=content_type)
        request = urllib.request.Request(  # noqa: S310 - our own loopback app
            self.events_url, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback app
                raw = response.read()
                status = int(response.status)
        except urllib.error.HTTPError as error:
            return error.code, {}
        except OSError:
            return 0, {}
        try:
            answer = json.loads(raw) if raw.strip() else {}
        except ValueError:
            answer = {"text": raw.decode("utf-8", "replace")}  # Slack shows a plain text answer as is
        return status, answer if isinstance(answer, dict) else {}


def _button(blocks: Any, block_id: str, action_id: str) -> dict[str, Any] | None:
    """The button ``action_id`` in the actions block ``block_id`` of ``blocks``, if there is one."""
    for block in blocks if isinstance(blocks, list) else []:
        if block.get("type") == "actions" and block.get("block_id") == block_id:
            for element in block.get("elements", []):
                if element.get("type") == "button" and element.get("action_id") == action_id:
                    return dict(element)
    return None


def _submission(
    recorder: SlackRecorder, view: dict[str, Any], values: dict[str, str | None], seat: Seat
) -> str:
    """The view_submission body, with what was typed into the view's inputs (and the
    response_urls Slack issues when the view asks for one)."""
    inputs = {b["block_id"] for b in view["blocks"] if b.get("type") == "input"}
    typed = {k: v for k, v in values.items() if k in inputs}
    return recorder.submission(seat.user, typed, view_id=str(view["id"]), team_id=seat.team)
