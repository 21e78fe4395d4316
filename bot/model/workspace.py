"""The workspace the code is acting for: the one a Slack request came from, or the one a queued
job or task belongs to. Every Slack call made meanwhile uses that workspace's bot token
(bot/slack/client.py), so nothing one workspace asks for is done with another's token.

An app installed per workspace ("Add to Slack") keeps one installation per workspace, or one
per Enterprise Grid org when installed org-wide (its team id is then the request's, its
installation the org's): ``enterprise_id`` and ``org_wide`` say where it is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from bot.model.workspace_settings import WorkspaceSettings


@dataclass(frozen=True)
class Workspace:
    team_id: str
    enterprise_id: str = ""
    org_wide: bool = False
    # The bot token, when the request's authorization already found it (the http function).
    token: str = field(default="", repr=False, compare=False)
    # Its admins' own settings, read with its installation (None: the stack's alone).
    settings: WorkspaceSettings | None = field(default=None, compare=False)


_ACTING: ContextVar[Workspace | None] = ContextVar("imagine_acting_for", default=None)


@contextmanager
def acting_for(workspace: Workspace) -> Iterator[Workspace]:
    """Within the block, Slack calls act for ``workspace``."""
    reset = _ACTING.set(workspace)
    try:
        yield workspace
    finally:
        _ACTING.reset(reset)


def act_for(workspace: Workspace | None) -> None:
    """Act for ``workspace`` from now on in this context (None: for none), for code that cannot
    wrap what follows in :func:`acting_for`: Bolt runs a request's listener after its middleware
    has returned (slack_bolt/app/app.py, ``dispatch``), so the http function sets it for the
    request and clears it when the request is answered (bot/http/slack_requests.py)."""
    _ACTING.set(workspace)


def acting() -> Workspace | None:
    """The workspace acted for now, if any."""
    return _ACTING.get()


def acting_org(team_id: str) -> tuple[str, bool]:
    """The enterprise id and whether the install is org-wide, of the workspace acted for now when
    ``team_id`` is served by it (its own, or any of an org-wide install's, whose requests may name
    no team): what a job or task queued now keeps, to find its installation later."""
    here = _ACTING.get()
    if here is None or not (here.org_wide or here.team_id == team_id):
        return "", False
    return here.enterprise_id, here.org_wide
