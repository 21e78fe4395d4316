"""The playground's HTTP side, served by bot.local.server.LocalServer next to ``/slack/events``.

Its POSTs sign requests with the signing secret, so they are taken only from the page itself:
a Host of 127.0.0.1 or localhost on this port (a DNS-rebound name is refused), an Origin of the
same (a browser sends one with every POST; another site's page cannot forge it), and a JSON body
(which a cross-site form cannot send without a CORS preflight, never answered here). Anything
else is 403. The page gets a Content-Security-Policy that runs only its own script.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from bot.local.playground.actions import Actions, Refused
from bot.local.playground.state import Seat, page_state
from bot.local.slack.oauth import DEFAULT_TEAM

if TYPE_CHECKING:
    from bot.local.slack.recorder import SlackRecorder

Reply = tuple[int, dict[str, str], bytes]
STATE = "/playground/state"
NONCE = "__NONCE__"  # in index.html: each serving gets its own
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def _page() -> str:
    return resources.files("bot.local.playground").joinpath("index.html").read_text(encoding="utf-8")


class Playground:
    """``per_workspace``: the app is installed with "Add to Slack", so the person is in each of the
    Slack stand-in's workspaces (``team`` in a POST, ``?team=`` on the state; the first when
    absent) and installs the app in each through the real flow; else in the one workspace."""

    def __init__(self, recorder: SlackRecorder, app_url: str, signing_secret: str, *,
                 per_workspace: bool = False) -> None:  # fmt: skip
        self.recorder = recorder
        self.per_workspace = per_workspace
        teams = list(recorder.workspaces.names) if per_workspace else [DEFAULT_TEAM]
        self._seats = {team: Actions(recorder, app_url, signing_secret, Seat.of(team)) for team in teams}
        port = urlsplit(app_url).port
        self._hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        self._origins = {f"http://{host}" for host in self._hosts}
        self._posts: dict[str, Callable[[Actions, dict[str, Any]], dict[str, Any]]] = {
            "/playground/send": lambda a, d: a.send(_text(d, "text"), _text(d, "thread_ts", "")),
            "/playground/click": self._click,
            "/playground/submit": lambda a, d: a.submit(_text(d, "view_id"), _values(d)),
            "/playground/close": lambda a, d: a.close(_text(d, "view_id"), d.get("every_view") is True),
            "/playground/home": lambda a, d: a.open_home(),
        }

    def actions(self, team: str = DEFAULT_TEAM) -> Actions:
        """What the person does in workspace ``team``."""
        found = self._seats.get(team or DEFAULT_TEAM)
        if found is None:
            raise ValueError(f"no workspace {team}")
        return found

    @staticmethod
    def serves(target: str) -> bool:
        path = urlsplit(target).path
        return path == "/" or path.startswith("/playground/")

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer a request for the page or its API; ``headers`` by lower-case name."""
        path = urlsplit(target).path
        if headers.get("host", "") not in self._hosts:
            return _json(
                403, {"ok": False, "error": "the playground answers at 127.0.0.1 and localhost only"}
            )
        if method in ("GET", "HEAD"):
            if path == "/":
                nonce = secrets.token_urlsafe(18)
                return 200, _page_headers(nonce), _page().replace(NONCE, nonce).encode()
            if path == STATE:
                team = parse_qs(urlsplit(target).query).get("team", [DEFAULT_TEAM])[0]
                try:
                    seat = self.actions(team).seat
                except ValueError as unknown:
                    return _json(400, {"ok": False, "error": str(unknown)})
                return _json(200, page_state(self.recorder, seat, per_workspace=self.per_workspace))
            return _text_reply(404, "Not found.\n")
        route = self._posts.get(path)
        if method != "POST" or route is None:
            return _text_reply(405 if route else 404, "Not here.\n")
        if not self._from_the_page(headers):
            return _json(403, {"ok": False, "error": "only the playground's own page may do this"})
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _json(403, {"ok": False, "error": "JSON only"})
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return _json(200, route(self.actions(_text(data, "team", DEFAULT_TEAM)), data))
        except Refused as refused:
            return _json(409, {"ok": False, "error": str(refused)})
        except (ValueError, TypeError) as bad:
            return _json(400, {"ok": False, "error": f"bad request: {bad}"})

    def _from_the_page(self, headers: Mapping[str, str]) -> bool:
        """A POST the page itself sent: its own Origin, and (where the browser says) same-origin."""
        fetched_from = headers.get("sec-fetch-site", "same-origin")
        return headers.get("origin", "") in self._origins and fetched_from in ("same-origin", "none")

    @staticmethod
    def _click(actions: Actions, data: dict[str, Any]) -> dict[str, Any]:
        block_id, action_id = _text(data, "block_id"), _text(data, "action_id")
        if data.get("view_id"):
            return actions.click_in_view(_text(data, "view_id"), block_id, action_id)
        return actions.click(_text(data, "channel"), _text(data, "ts"), block_id, action_id)


def _text(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _values(data: dict[str, Any]) -> dict[str, str | None]:
    values = data.get("values")
    if not isinstance(values, dict) or not all(isinstance(v, str | None) for v in values.values()):
        raise ValueError("values must map block ids to text or null")
    return {str(k): v for k, v in values.items()}


def _page_headers(nonce: str) -> dict[str, str]:
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src * data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _json(status: int, body: Any) -> Reply:
    headers = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return status, headers, json.dumps(body).encode()


def _text_reply(status: int, text: str) -> Reply:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
