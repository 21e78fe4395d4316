"""The playground: one page, served at ``/`` by ``imagine-bot run`` (and ``demo``, at its end),
that looks and behaves like a Slack channel with the bot in it, for someone with no workspace.

Routes (bot.local.playground.web; the page is ``index.html``, no build step, no external URL):
- ``GET /``: the page;
- ``GET /playground/state``: what the page draws, as JSON (bot.local.playground.state), polled;
- ``POST /playground/send`` ``{"text", "thread_ts"?}``: the composer (``/imagine …``, ``@imagine …``);
- ``POST /playground/click`` ``{"channel", "ts", "block_id", "action_id"}`` (or ``"view_id"``
  for a button in a view): a button;
- ``POST /playground/submit`` ``{"view_id", "values": {block_id: text or null}}``: a modal's
  Submit; ``POST /playground/close`` ``{"view_id", "every_view"?}``: its Cancel or X;
- ``POST /playground/home``: the Home tab opened.
Each POST becomes the request Slack would send, signed (bot.local.playground.actions). With the app
installed per workspace (``imagine-bot run --workspaces``), each takes a ``team`` and the state a
``?team=``: the person is in each of the Slack stand-in's workspaces, with an "Add to Slack" link
(the app's ``/slack/install``) in those the app is not installed in yet.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bot.local.playground.web import Playground

if TYPE_CHECKING:
    from bot.local.slack.recorder import SlackRecorder

__all__ = ["Playground", "playground_for"]


def playground_for(
    app_url: str, recorder: SlackRecorder | None, *, per_workspace: bool = False
) -> Playground | None:
    """The playground of the app at ``app_url`` on the Slack stand-in ``recorder``, signing with
    SLACK_SIGNING_SECRET; none with a real workspace, where Slack itself shows what the bot does."""
    if recorder is None:
        return None
    return Playground(recorder, app_url, os.environ["SLACK_SIGNING_SECRET"], per_workspace=per_workspace)
