"""What the playground's page draws (pure): one person's view of one channel, built from what the
Slack stand-in holds. Messages keep the bot's own text and blocks, untouched: the page renders
them (mrkdwn included) the way Slack does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.local.slack.oauth import DEFAULT_TEAM, Workspaces

if TYPE_CHECKING:
    from bot.local.slack.recorder import RecordedView, Said, SlackRecorder

USER = "U0LOCAL"  # the person at the page, as bot.local.signing signs their requests
CHANNEL = "C0LOCAL"
BOT_USER = "U0BOT"  # the bot's messages, in every workspace (the stand-in posts them as it)
SLACKBOT = "USLACKBOT"


@dataclass(frozen=True)
class Seat:
    """The person at the page in one workspace: their id, the workspace's #general and its bot
    user (a user id is a workspace's own, the app's bot user too: bot.local.slack.oauth)."""

    team: str
    user: str
    channel: str
    bot_user: str

    @property
    def name(self) -> str:
        """Their name, as mentions of them show: local-user, other-user."""
        return f"{self.user[2:].lower()}-user"

    @classmethod
    def of(cls, team: str) -> Seat:
        if team == DEFAULT_TEAM:
            return cls(team, USER, CHANNEL, BOT_USER)
        return cls(team, Workspaces.person(team), f"C0{team[2:]}", Workspaces.bot_user(team))


def page_state(recorder: SlackRecorder, seat: Seat, *, per_workspace: bool = False) -> dict[str, Any]:
    """The channel's messages (a thread's replies under its root), the person's open modal and
    their Home tab; with the app installed per workspace, the workspaces the person is in and
    whether the app is installed in each."""
    user, channel = seat.user, seat.channel
    top: list[dict[str, Any]] = []
    threads: dict[str, list[dict[str, Any]]] = {}
    for said in recorder.conversation(user):
        if said.channel != channel:
            continue
        if said.thread_ts and said.thread_ts != said.ts:
            threads.setdefault(said.thread_ts, []).append(_message(said))
        else:
            top.append(_message(said))
    roots = {m["ts"] for m in top}
    # A thread whose first message was deleted keeps its replies under "This message was deleted."
    top += [{"ts": ts, "user": "", "deleted": True} for ts in threads if ts not in roots]
    top.sort(key=lambda m: _order(m["ts"]))
    for message in top:
        replies = [r for r in threads.get(message["ts"], []) if not r["ephemeral"]]
        message["reply_count"] = len(replies)
    stack = recorder.modal_stack(user)
    home = recorder.home_view(user)
    workspaces = recorder.workspaces
    return {
        "team": seat.team,
        "workspaces": [
            {"team": team, "name": name, "installed": not per_workspace or workspaces.installed(team)}
            for team, name in workspaces.names.items()
            if per_workspace or team == DEFAULT_TEAM
        ],
        "user": user,
        "channel": channel,
        "bot": BOT_USER,
        "names": {
            "users": {user: seat.name, BOT_USER: "imagine", seat.bot_user: "imagine", SLACKBOT: "Slackbot"},
            "channels": {channel: "general"},
        },
        "messages": top,
        "threads": threads,
        "modal": _view(stack[-1]) if stack else None,
        "home": _view(home) if home else None,
    }


def _message(said: Said) -> dict[str, Any]:
    shown = said.message
    return {
        "ts": said.ts,
        "thread_ts": said.thread_ts,
        "user": said.user,
        "bot": said.user in (BOT_USER, SLACKBOT),
        "ephemeral": said.ephemeral,
        "text": shown.get("text", ""),
        "blocks": shown.get("blocks") or [],
    }


def _view(recorded: RecordedView) -> dict[str, Any]:
    view = recorded.view
    return {
        "id": recorded.id,
        "hash": recorded.hash,
        "type": recorded.type,
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks") or [],
        "stacked": recorded.previous_view_id is not None,
    }


def _order(ts: str) -> tuple[int, int]:
    seconds, _, sequence = ts.partition(".")
    return int(seconds or 0), int(sequence or 0)
