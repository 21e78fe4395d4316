"""The result's buttons. Each is acknowledged at once; a refusal (quota, a result that is gone)
is said only to the clicker, through the interaction's response_url. Edit, and Share on a result
in a channel, open a modal before the acknowledgement (views.open, the one call allowed there);
Delete and Share's posting are tasks the worker runs after it. Each listener imports its use case
when a click comes: a cold start pays only for the one it runs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond

from bot.blocks import messages
from bot.blocks.buttons import ACTION_PREFIX, ON_CLICK, RENDER_AGAIN, image_index
from bot.blocks.workspace_form import SETTINGS_BUTTON
from bot.listeners.views import OPEN_FAILED, open_modal
from bot.services import Services

if TYPE_CHECKING:
    from bot.usecases.follow_up import Clicked

# The buttons that queue at once: Re-roll and Variations, and the image operations but Change….
FOLLOW_UP = re.compile(rf"^{ACTION_PREFIX}({'|'.join(RENDER_AGAIN + ON_CLICK)})$")
CHANGE = ACTION_PREFIX + "change"
EDIT = ACTION_PREFIX + "edit"
SHARE = ACTION_PREFIX + "share"
DELETE = ACTION_PREFIX + "delete"


def register(app: App, services: Services) -> None:
    @app.action(FOLLOW_UP)
    def follow_up_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.follow_up import follow_up, operate

        click = clicked(body, action)
        answer = (operate if click.kind in ON_CLICK else follow_up)(services, click)
        ack()
        if answer.job is None:
            _tell_clicker(body, respond, answer.payload)

    @app.action(CHANGE)
    def change_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.change import change_form

        form = change_form(services, clicked(body, action))
        _open_or_tell(services, ack, body, respond, form.view, form.refusal)

    @app.action(SETTINGS_BUTTON)  # on the Home tab, for a workspace's admins and owners
    def settings_clicked(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.workspace_settings import settings_form

        form = settings_form(services)
        _open_or_tell(services, ack, body, respond, form.view, form.refusal)

    @app.action(EDIT)
    def edit_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.modal import edit_form

        form = edit_form(
            services,
            job_id=str(action.get("value", "")),
            index=image_index(str(action.get("block_id", ""))),
            team_id=_id(body, "team"),
        )
        _open_or_tell(services, ack, body, respond, form.view, form.refusal)

    @app.action(SHARE)
    def share_pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.share import share_clicked

        container = body.get("container") or {}
        click = share_clicked(
            services,
            job_id=str(action.get("value", "")),
            team_id=_id(body, "team"),
            user_id=_id(body, "user"),
            channel_id=str(container.get("channel_id") or (body.get("channel") or {}).get("id", "")),
            message_ts=str(container.get("message_ts") or ""),
            response_url=str(body.get("response_url") or ""),
        )
        _open_or_tell(services, ack, body, respond, click.view, click.refusal)

    @app.action(DELETE)
    def delete_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        from bot.usecases.delete import ask_delete

        refusal = ask_delete(
            services,
            job_id=str(action.get("value", "")),
            team_id=_id(body, "team"),
            user_id=_id(body, "user"),
            response_url=str(body.get("response_url") or ""),
        )
        ack()
        if refusal:
            _tell_clicker(body, respond, refusal)


def _id(body: dict[str, Any], field: str) -> str:
    """The id of the payload's ``team`` or ``user``. An org-wide install's payloads may carry
    ``team: null`` (slack_bolt/request/internals.py): the clicker's own team is the workspace."""
    found = str((body.get(field) or {}).get("id", ""))
    if not found and field == "team":
        found = str((body.get("user") or {}).get("team_id", ""))
    return found


def _open_or_tell(
    services: Services,
    ack: Ack,
    body: dict[str, Any],
    respond: Respond,
    view: dict[str, Any] | None,
    refusal: str,
) -> None:
    """Open ``view`` before the acknowledgement (views.open, the one call allowed there), or tell
    the clicker alone why no form opens."""
    problem = refusal
    if view is not None and open_modal(services, str(body.get("trigger_id") or ""), view):
        problem = OPEN_FAILED
    ack()
    if problem:
        _tell_clicker(body, respond, messages.notice(problem))


def _tell_clicker(body: dict[str, Any], respond: Respond, payload: messages.Payload) -> None:
    """Say something to the clicker alone, through the click's response_url."""
    if body.get("response_url"):
        respond(**payload, replace_original=False)


def clicked(body: dict[str, Any], action: dict[str, Any]) -> Clicked:
    """Who clicked which of a result's buttons, on which image."""
    from bot.usecases.follow_up import Clicked

    return Clicked(
        kind=str(action.get("action_id", "")).removeprefix(ACTION_PREFIX),
        job_id=str(action.get("value", "")),
        index=image_index(str(action.get("block_id", ""))),
        team_id=_id(body, "team"),
        user_id=_id(body, "user"),
        response_url=str(body.get("response_url") or ""),
    )
