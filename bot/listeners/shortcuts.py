"""Shortcuts. "Imagine this" on a message opens the ``/imagine`` modal with the message's words
as the prompt. A message shortcut's payload (``message_action``) carries the message, its
channel, a trigger_id and a response_url (api.slack.com/reference/interaction-payloads/shortcuts);
the modal opens before the acknowledgement, and a refusal goes to the person alone through the
response_url afterwards."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks import messages
from bot.listeners.views import OPEN_FAILED, open_modal
from bot.services import Services

IMAGINE_THIS = "imagine_this"  # the shortcut's callback_id in manifest.yml


def register(app: App, services: Services) -> None:
    @app.message_shortcut(IMAGINE_THIS)
    def imagine_this(ack: Ack, shortcut: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.modal import message_form  # imported when the shortcut is used

        form = message_form(
            services,
            # An org-wide install's payloads may carry team: null; the person's own team is the workspace.
            team_id=_id(shortcut.get("team")) or str(_object(shortcut.get("user")).get("team_id") or ""),
            channel_id=_id(shortcut.get("channel")),
            message=_object(shortcut.get("message")),
        )
        problem = form.refusal
        if form.view is not None and open_modal(services, str(shortcut.get("trigger_id") or ""), form.view):
            problem = OPEN_FAILED
        ack()
        if problem and shortcut.get("response_url"):
            respond(**messages.notice(problem))


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str:
    return str(_object(value).get("id") or "")
