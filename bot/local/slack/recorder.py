"""A local stand-in for the Slack Web API and for ``response_url``s, on 127.0.0.1.

It answers the way Slack does, refusing what Slack refuses with Slack's own error, and records
every call (never the token), so the local stack and the tests see what the bot said and what
Slack would have done with it.

What it checks, as Slack does:
- every message (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, a
  ``response_url`` POST) against Block Kit's models and limits (:mod:`bot.local.slack.blocks`):
  ``invalid_blocks`` with ``errors`` and ``response_metadata.messages``, ``no_text``,
  ``msg_too_long``, ``invalid_blocks_format``;
- every ``image_url`` in it, downloaded over HTTP at the moment of the call
  (:mod:`bot.local.slack.images`): a failed, slow or non-image download refuses the whole message
  with "downloading image failed [json-pointer:/blocks/N/image_url]";
- ``response_url``: 5 uses within 30 minutes, then HTTP 404 (:mod:`bot.local.slack.response_urls`);
- ``chat.update`` of a message it never posted: ``message_not_found``;
- ``chat.postEphemeral`` without a ``user`` (or with one that is not a user id):
  ``user_not_in_channel``. The method's docs make ``user`` required and list that error for a
  recipient who is not in the channel ("Intended recipient is not in the specified channel",
  docs.slack.dev/reference/methods/chat.postEphemeral); Slack answers it for a ``user`` that
  names no user id (Inumedia/SlackAPI issue 150: a user name there). No source quotes the answer
  to an absent ``user``; an absent one is in no channel either, so it gets the same;
- a channel the bot is not in (``closed_channels``): ``not_in_channel``, Slack's answer for a
  public channel without ``chat:write.public`` (connorads/lockbot issue 11, 2020-05-20); a
  private channel the bot is not in (``private_channels``): ``channel_not_found``, since Slack
  hides a private channel from whoever is not in it (getsentry/sentry pull request 119600; a
  command in one, BeepBoopHQ/in-or-out issue 19, 2017-05-09); a DM channel (``D...``)
  that ``conversations.open`` did not open, or a user id (``U...``) as ``channel``:
  ``channel_not_found``. Slack's chat.postMessage docs say a user id there posts to the user's
  DM with Slackbot, not with the app (quoted in soxtoby/SlackNet issue 212); a DM from the bot
  goes through ``conversations.open``.

The API tests and tools use:
- ``start(port=0)``, ``stop()``, ``url``, ``api_url`` (for ``SLACK_API_URL``),
  ``response_url(name)`` (a command's ``response_url``; its 30 minutes start here);
- ``calls`` / ``snapshot()`` / ``calls_to(method)`` / ``clear()``: every call as a :class:`Call`
  (``method`` is a Web API method, ``"response_url"`` or ``"upload"`` for the bytes of a file
  upload; ``ok`` and ``error`` say how it was answered); a GET of ``url`` lists them as JSON;
- ``fail(method, times=, status=, error=, retry_after=)``: the next calls of a method fail;
- ``rate_limit(channel, times=1, retry_after=1)``: the next ``times`` chat.postMessage /
  chat.update calls for that channel answer HTTP 429 with ``Retry-After`` and ``ratelimited``;
- ``fail_image_downloads(times)``: the next ``times`` image downloads fail as Slack's
  intermittently do (slackapi/python-slack-sdk issue 1782); ``None`` fails every one until
  ``fail_image_downloads(0)``; ``image_fetches`` records each download (url, status, ok);
  ``image_timeout`` (seconds, default 5) is how long a download may take;
- ``files``: the :class:`SharedFile` s that files.completeUploadExternal shared (file_id,
  filename, title, data, channel_id, thread_ts, initial_comment); slack_sdk's
  ``files_upload_v2`` works against it end to end; ``files.delete`` of one takes it out of
  ``files`` (and so out of its thread), ``file_deleted`` the second time, ``file_not_found`` for
  an id it never shared (:mod:`bot.local.slack.files`);
- ``conversations.open`` with ``users=U...`` opens the bot's DM with that user: ``dm_channel(user)``
  is its ``D...`` id, the same on every call; chat.postMessage and file uploads then work there;
- ``closed_channels``: channels the bot is not in; ``private_channels``: private ones;
- views.open, views.push, views.update and views.publish, with Slack's rules for views and
  trigger ids (:mod:`bot.local.slack.views`): ``trigger_id(user, view_id=None)`` issues a trigger
  as an interaction by ``user`` would (in the view ``view_id``, for a push from inside a modal;
  3 seconds by ``clock``, one use); ``views`` is the latest :class:`RecordedView` by view id,
  ``home_view(user)`` a user's Home tab, ``modal_stack(user)`` the user's open modal, root first.
  A view's ``image_url``s are downloaded as a message's are.
- ``add_method(name, handler)`` plugs in a Web API method played by another stand-in (the Socket
  Mode stand-in's ``apps.connections.open``): ``handler(args, token)`` answers it; the token is
  passed so the method can check its type, and is never recorded;
- the playground (bot.local.playground) shows what a person sees: ``post_as_person(channel, text,
  thread_ts=)`` is a message the person typed (the bot may neither update nor delete it:
  ``cant_update_message``, ``cant_delete_message``); ``show_answer(name, answer)`` shows a
  command's acknowledgement as Slack does, ``show_ephemeral(user, channel, message)`` a word from
  Slack itself; chat.postEphemeral's messages, and a ``response_url``'s when it was issued with
  ``response_url(name, user=, channel=, message_ts=, thread_ts=)``, show where they belong;
  ``submission(user, typed)`` is the view_submission body Slack sends when ``user`` submits
  their open view: its state, and ``response_urls`` only when the view asked for one
  (:func:`bot.local.slack.views.response_url_select`), issued then for the conversation picked;
  ``submitted(user, view_id, answer)`` does to the modal what Slack does with a view_submission's
  acknowledgement, ``close_modal(user)`` what its Cancel does; ``conversation(user)`` is every
  message ``user`` sees in channels, oldest first;
- ``auth.test`` names the bot token's scopes in its ``x-oauth-scopes`` header, and
  ``apps.manifest.export`` answers an app configuration token with the app's manifest: ``app``
  (:mod:`bot.local.slack.apps`: ``app.scopes``, ``app.manifest``, ``app.config_token()``);
- ``chat.delete`` of a message the bot posted removes it (``message(channel, ts)`` is then None);
  one it never posted, or already deleted, is ``message_not_found``
  (docs.slack.dev/reference/methods/chat.delete: a bot token deletes only the bot's messages);
- ``chat.getPermalink`` (a GET, as slack_sdk sends it) of a message that exists answers its
  permalink, in the thread form (``?thread_ts=...&cid=...``) for a reply, as
  api.slack.com/methods/chat.getPermalink shows; else ``message_not_found``;
- ``users.info`` (a GET too) answers the people ``add_user(user_id, **fields)`` put in the
  workspace (:mod:`bot.local.slack.users`), ``user_not_found`` for anyone else;
- a ``response_url`` POST of ``{"delete_original": true}`` deletes the message the interaction
  came from (docs.slack.dev/messaging/modifying-messages) and counts as one of its uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.local.loopback import Loopback, QuietHandler, Served
from bot.local.signing import submission_body, view_state
from bot.local.slack.apps import SlackApp
from bot.local.slack.blocks import Problem, image_urls, invalid_blocks, message_refusal
from bot.local.slack.faults import Fault, Faults
from bot.local.slack.files import SharedFile, Uploads
from bot.local.slack.images import ImageFetch, fetch_all
from bot.local.slack.oauth import Workspaces
from bot.local.slack.response_urls import ResponseUrls
from bot.local.slack.users import Users
from bot.local.slack.views import RecordedView, Views, response_url_select

__all__ = ["Call", "Fault", "ImageFetch", "RecordedView", "Said", "SharedFile", "SlackRecorder"]

Answer = tuple[int, dict[str, Any] | str, dict[str, str]]  # status, body (JSON or text), headers
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
RATE_LIMITED = ("chat.postMessage", "chat.update")
# auth.test's answer for a bot token, in the shape of docs.slack.dev/reference/methods/auth.test.
AUTH_TEST = {
    "ok": True,
    "url": "https://local.slack.com/",
    "team": "Local Workspace",
    "user": "imagine",
    "team_id": "T0LOCAL",
    "user_id": "U0BOT",
    "bot_id": "B0BOT",
    "is_enterprise_install": False,
}
BOT_USER = "U0BOT"  # the bot's user id, as auth.test answers it
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")  # a member's id (W... on Enterprise Grid)


@dataclass
class Call:
    method: str  # a Web API method, "response_url", or "upload" (a file's bytes)
    args: dict[str, Any]
    authorized: bool  # whether a bearer token came with it (the token itself is not kept)
    ok: bool = True  # whether the recorder answered it with success
    error: str = ""  # Slack's error code when it did not
    team: str = ""  # the workspace whose installed token made it ("": the one-workspace token)


@dataclass(frozen=True)
class Said:
    """A message as people see it in a channel: the playground draws these."""

    channel: str
    ts: str
    thread_ts: str  # the root of its thread; "" at the top of the channel
    user: str  # who wrote it: a person's id, or BOT_USER
    message: dict[str, Any]  # as posted: text, blocks...
    to: str = ""  # for an ephemeral message, the only person who sees it

    @property
    def ephemeral(self) -> bool:
        return bool(self.to)


@dataclass
class Origin:
    """Where the interaction a response_url was issued for happened (the playground's)."""

    user: str
    channel: str
    message_ts: str  # the message clicked; "" for a command
    thread_ts: str
    last: tuple[bool, str] | None = None  # (ephemeral, ts) of what it last posted


@dataclass
class SlackRecorder(Served):
    closed_channels: set[str] = field(default_factory=set)
    private_channels: set[str] = field(default_factory=set)  # private, and the bot not in them
    calls: list[Call] = field(default_factory=list)
    _plan: Faults = field(default_factory=Faults)  # what it is told to get wrong (faults.py)
    image_timeout: float = 5.0
    image_fetches: list[ImageFetch] = field(default_factory=list)
    files: list[SharedFile] = field(default_factory=list)
    loopback_only: bool = True  # see bot.local.slack.images: no download leaves the machine
    clock: Callable[[], float] = time.time  # response_url's 30 minutes are read from it
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _open_dms: set[str] = field(default_factory=set)
    _uploads: Uploads = field(default_factory=Uploads)
    _views: Views = field(default_factory=Views)
    _users: Users = field(default_factory=Users)
    app: SlackApp = field(default_factory=SlackApp)  # its bot token's scopes, its manifest
    workspaces: Workspaces = field(default_factory=Workspaces)  # "Add to Slack" (bot.local.slack.oauth)
    _thread_of: dict[tuple[str, str], str] = field(default_factory=dict)  # a reply's thread_ts
    _response_urls: ResponseUrls | None = None
    _methods: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = field(default_factory=dict)
    _authors: dict[tuple[str, str], str] = field(default_factory=dict)  # people's messages' authors
    _ephemerals: dict[str, Said] = field(default_factory=dict)  # by ts
    _origins: dict[str, Origin] = field(default_factory=dict)  # by response_url name

    def start(self, port: int = 0) -> SlackRecorder:
        recorder = self
        self._response_urls = ResponseUrls(clock=lambda: recorder.clock())

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = recorder.answer(
                    self.path,
                    self.headers.get("Content-Type", ""),
                    raw,
                    self.headers.get("Authorization", ""),
                )
                self._send(status, body, headers)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/oauth/v2/authorize":  # a person approving an install
                    self._send(*recorder.workspaces.authorize(dict(parse_qsl(url.query))))
                    return
                if url.path.startswith("/api/"):  # chat.getPermalink, users.info
                    answer = recorder.answer(self.path, "", b"", self.headers.get("Authorization", ""))
                    self._send(*answer)
                    return
                self._send(200, [c.__dict__ for c in recorder.snapshot()], {})

            def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
                text = isinstance(body, str)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = Loopback(Handler, port)
        return self

    # ---- what tests and tools use -------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(
        self,
        name: str = "command",
        *,
        user: str = "",
        channel: str = "",
        message_ts: str = "",
        thread_ts: str = "",
    ) -> str:
        """A command's response_url, handed out now (its 30 minutes start). Given the ``channel``
        (and the ``message_ts`` clicked, the ``thread_ts`` it was in) and the ``user``, what it
        posts shows in :meth:`conversation` as Slack shows it."""
        self._urls().issue(name)
        if channel:
            with self._lock:
                self._origins.setdefault(name, Origin(user or "U0LOCAL", channel, message_ts, thread_ts))
        return f"{self.url}/response/{name}"

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.snapshot() if call.method == method]

    def clear(self) -> None:
        """Forget what was recorded (calls, downloads, shared files), not the state of Slack."""
        with self._lock:
            self.calls.clear()
            self.image_fetches.clear()
            self.files.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults it was told of, with how many times each has left."""
        return self._plan.faults

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 200,
        error: str = "internal_error",
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("response_url" included) fail."""
        self._plan.fail(Fault(method, times, status, error, retry_after))

    def rate_limit(self, channel: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` chat.postMessage / chat.update for ``channel`` with a 429."""
        self._plan.rate_limit(channel, times, retry_after)

    def fail_image_downloads(self, times: int | None) -> None:
        """Fail the next ``times`` image downloads; ``None``: all of them, until called with 0."""
        self._plan.fail_downloads(times)

    def trigger_id(self, user: str = "U0LOCAL", *, view_id: str | None = None) -> str:
        """A trigger id, as Slack hands one out with an interaction by ``user`` (inside the view
        ``view_id``, if given): good for one views.open or views.push within 3 seconds."""
        return self._views.issue(user, view_id, self.clock())

    @property
    def views(self) -> dict[str, RecordedView]:
        """Every view opened, pushed or published, as last updated, by view id."""
        with self._views.lock:
            return dict(self._views.by_id)

    def home_view(self, user: str) -> RecordedView | None:
        """The Home tab views.publish last gave ``user``."""
        with self._views.lock:
            return self._views.by_id.get(self._views.homes.get(user, ""))

    def modal_stack(self, user: str) -> list[RecordedView]:
        """The views of ``user``'s open modal, root first."""
        with self._views.lock:
            return [self._views.by_id[v] for v in self._views.stacks.get(user, [])]

    def add_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Make ``user_id`` a member of the workspace users.info knows (``is_admin=True``...)."""
        return self._users.add(user_id, **fields)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message at ``ts`` in ``channel`` as last posted or updated; None if there is none
        (never posted, or deleted)."""
        with self._lock:
            found = self._messages.get((channel, ts))
            return dict(found) if found is not None else None

    def add_method(self, name: str, handler: Callable[[dict[str, Any], str], dict[str, Any]]) -> None:
        """Answer Web API ``name`` with ``handler(args, token)``."""
        self._methods[name] = handler

    @staticmethod
    def dm_channel(user: str) -> str:
        """The id of the bot's DM with ``user``, as conversations.open gives it (stable)."""
        return "D" + hashlib.sha256(user.encode()).hexdigest()[:10].upper()

    # ---- what people see (the playground) -----------------------------------------------------

    def post_as_person(self, channel: str, text: str, *, user: str = "U0LOCAL", thread_ts: str = "") -> str:
        """A message ``user`` typed in ``channel`` (a reply in ``thread_ts``'s thread); its ts.
        ``text`` is as Slack stores it: ``&``, ``<`` and ``>`` escaped, mentions as ``<@U...>``."""
        with self._lock:
            ts = self._next_ts()
            self._messages[(channel, ts)] = {"text": text, "channel": channel, "user": user}
            self._authors[(channel, ts)] = user
            if thread_ts:
                self._messages[(channel, ts)]["thread_ts"] = thread_ts
                self._thread_of[(channel, ts)] = thread_ts
        return ts

    def show_answer(self, name: str, answer: dict[str, Any]) -> None:
        """A command's answer in its acknowledgement, shown where it was typed as a message to
        its response_url ``name`` would be (ephemeral unless ``response_type: in_channel``),
        without using the URL up (api.slack.com/interactivity/slash-commands#responding)."""
        if answer:
            self._show_response(name, answer)

    def show_ephemeral(
        self, user: str, channel: str, message: dict[str, Any], *, thread_ts: str = "", sender: str = BOT_USER
    ) -> str:
        """A message Slack itself shows ``user`` alone (from ``sender``: Slackbot's word that a
        command failed, say); its ts."""
        with self._lock:
            ts = self._next_ts()
            self._ephemerals[ts] = Said(channel, ts, thread_ts, sender, _shown(message), to=user)
        return ts

    def conversation(self, user: str) -> list[Said]:
        """Every message in every channel as ``user`` sees it (with the ephemeral ones only they
        see), oldest first."""
        with self._lock:
            said = [
                Said(channel, ts, self._thread_of.get((channel, ts), ""),
                     self._authors.get((channel, ts), BOT_USER), dict(message))
                for (channel, ts), message in self._messages.items()
            ]  # fmt: skip
            said += [e for e in self._ephemerals.values() if e.to == user]
        return sorted(said, key=lambda s: _order(s.ts))

    def submission(
        self,
        user: str,
        typed: Mapping[str, str | None],
        *,
        view_id: str | None = None,
        team_id: str = "T0LOCAL",
    ) -> str:
        """The view_submission body Slack sends when ``user`` submits their open view (the one on
        top of their modal; ``view_id`` must be it) with ``typed`` by block_id
        (:func:`bot.local.signing.view_state`). The view is the one Slack holds, not one a caller
        made up. Its ``response_urls`` hold one response_url, issued now (5 uses in 30 minutes),
        for the conversation picked in the select that asked for it, and none when the view asked
        for none or nothing was picked (see :mod:`bot.local.slack.views`). What the URL posts
        shows in that conversation, to ``user`` alone unless it says ``in_channel``. The stand-in
        does not know which conversation the person was viewing: a select that relies on
        ``default_to_current_conversation`` alone gets its conversation only from ``typed``."""
        stack = self.modal_stack(user)
        if not stack or (view_id is not None and stack[-1].id != view_id):
            raise ValueError(f"{user} has no open view {view_id or ''}".rstrip())
        view = stack[-1].answer()
        urls: list[dict[str, str]] = []
        asks = response_url_select(stack[-1].view)
        if asks is not None:
            block_id, action_id = asks
            state = view_state(view, typed).get(block_id, {}).get(action_id, {})
            picked = state.get("selected_conversation") or state.get("selected_channel")
            if isinstance(picked, str) and picked:
                name = f"view-{view['id']}-{secrets.token_hex(4)}"
                url = self.response_url(name, user=user, channel=picked)
                urls.append({"block_id": block_id, "action_id": action_id, "channel_id": picked,
                             "response_url": url})  # fmt: skip
        return submission_body(view, typed, user_id=user, team_id=team_id, response_urls=urls)

    def submitted(self, user: str, view_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        """What Slack does with the acknowledgement ``answer`` of a view_submission of ``user``'s
        open view ``view_id`` (:meth:`Views.submitted`): ``{}``, or Slack's refusal."""
        return self._views.submitted(user, view_id, answer, self.clock(), self._download_problems)

    def close_modal(self, user: str, *, every_view: bool = False) -> None:
        """``user`` dismissed their open modal: its Cancel button closes the view on top (a
        pushed view goes back to the one under it), the X every view."""
        self._views.close(user, every_view=every_view)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _show_response(self, name: str, args: dict[str, Any]) -> None:
        """Show a message a response_url accepted where its interaction happened, as Slack does
        (docs.slack.dev/messaging/modifying-messages): ``delete_original`` and
        ``replace_original`` act on the message clicked (for a command, on what the URL last
        posted); ``response_type: in_channel`` posts for everyone; anything else is ephemeral."""
        with self._lock:
            origin = self._origins.get(name)
            if origin is None:
                return
            original = (False, origin.message_ts) if origin.message_ts else origin.last
            if args.get("delete_original") in (True, "true"):
                if original is not None:
                    self._forget(origin.channel, original)
                return
            message = _shown(args)
            if args.get("replace_original") in (True, "true") and original is not None:
                ephemeral, ts = original
                if ephemeral and ts in self._ephemerals:
                    self._ephemerals[ts] = replace(self._ephemerals[ts], message=message)
                    return
                if not ephemeral and (origin.channel, ts) in self._messages:
                    self._messages[(origin.channel, ts)] = {**message, "channel": origin.channel}
                    return
            ts = self._next_ts()
            # A response can name its thread (docs.slack.dev/interactivity/handling-user-
            # interaction, "Publishing responses in thread"); else it goes where it came from.
            thread_ts = str(args.get("thread_ts") or origin.thread_ts)
            if args.get("response_type") == "in_channel":
                self._messages[(origin.channel, ts)] = {**message, "channel": origin.channel}
                if thread_ts:
                    self._thread_of[(origin.channel, ts)] = thread_ts
                origin.last = (False, ts)
            else:
                said = Said(origin.channel, ts, thread_ts, BOT_USER, message, to=origin.user)
                self._ephemerals[ts] = said
                origin.last = (True, ts)

    def _forget(self, channel: str, which: tuple[bool, str]) -> None:
        ephemeral, ts = which
        if ephemeral:
            self._ephemerals.pop(ts, None)
        elif (channel, ts) not in self._authors:  # the bot deletes only its own
            self._messages.pop((channel, ts), None)

    # ---- the HTTP side ------------------------------------------------------------------------

    def answer(self, path: str, content_type: str, raw: bytes | str, authorization: str) -> Answer:
        parts = urlsplit(path)
        authorized = authorization.startswith("Bearer ")
        if parts.path.startswith("/upload/"):
            return self._upload(
                parts.path.rsplit("/", 1)[-1], raw if isinstance(raw, bytes) else raw.encode()
            )
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        args = {**dict(parse_qsl(parts.query)), **_parse_body(content_type, text)}
        # Slack also takes the token as a parameter; it is never kept.
        bearer = authorization.removeprefix("Bearer ") if authorized else ""
        token = str(args.pop("token", "") or bearer)
        authorized = bool(token)
        is_response_url = parts.path.startswith("/response/")
        method = "response_url" if is_response_url else parts.path.rsplit("/", 1)[-1]
        team = self.workspaces.team_of(token)
        fault = self._plan.take(method)
        if fault:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            kept = {} if method == "oauth.v2.access" else args  # never a code or a client secret
            return self._record(
                method, kept, authorized, fault.status, {"ok": False, "error": fault.error}, headers
            )
        if method == "oauth.v2.access":  # the app's client id and secret, not a token
            return self._record(method, {}, False, 200, self.workspaces.access(args, authorization), {})
        if is_response_url:
            status, body, headers = self._respond(parts.path.rsplit("/", 1)[-1], args)
        elif not authorized:
            status, body, headers = 200, {"ok": False, "error": "not_authed"}, {}
        elif refused := self.workspaces.refusal(token):  # uninstalled, rotated away or expired
            status, body, headers = 200, {"ok": False, "error": refused}, {}
        elif method == "auth.test" and team:
            status, body, headers = 200, self.workspaces.auth_test(token) or {}, self.app.scope_header()
        elif method == "apps.manifest.export":  # an app configuration token's method
            status, body, headers = 200, self.app.export(args, token), {}
        elif method in self._methods:
            status, body, headers = 200, self._methods[method](args, token), {}
        else:
            status, body, headers = self._web_api(method, args)
        return self._record(method, args, authorized, status, body, headers, team)

    def _record(
        self,
        method: str,
        args: dict[str, Any],
        authorized: bool,
        status: int,
        body: Any,
        headers: dict[str, str],
        team: str = "",
    ) -> Answer:
        ok = status == 200 and isinstance(body, dict) and bool(body.get("ok"))
        error = "" if ok or not isinstance(body, dict) else str(body.get("error", f"HTTP {status}"))
        with self._lock:
            self.calls.append(Call(method, args, authorized, ok, error, team))
        return status, body, headers

    def _web_api(self, method: str, args: dict[str, Any]) -> Answer:
        channel = str(args.get("channel", ""))
        if method in RATE_LIMITED and (limited := self._plan.take_rate_limit(channel)) is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited)}
        if method in MESSAGE_METHODS:
            return self._message(method, channel, args)
        if method == "auth.test":  # with the token's scopes in x-oauth-scopes (bot.local.slack.apps)
            return 200, AUTH_TEST, self.app.scope_header()
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "conversations.open": self._open_conversation,
            "chat.delete": self._delete,
            "chat.getPermalink": self._permalink,
            "users.info": self._users.info,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.delete": self._delete_file,
            "views.open": lambda a: self._views.open(a, self.clock(), self._download_problems),
            "views.push": lambda a: self._views.push(a, self.clock(), self._download_problems),
            "views.update": lambda a: self._views.update(a, self.clock(), self._download_problems),
            "views.publish": lambda a: self._views.publish(a, self.clock(), self._download_problems),
        }
        handler = handlers.get(method)
        return 200, handler(args) if handler else {"ok": False, "error": "unknown_method"}, {}

    # ---- messages -----------------------------------------------------------------------------

    def _message(self, method: str, channel: str, args: dict[str, Any]) -> Answer:
        closed = self._channel_refusal(channel)
        if closed:
            return 200, {"ok": False, "error": closed}, {}
        if method == "chat.postEphemeral" and not USER_ID.match(str(args.get("user") or "")):
            return 200, {"ok": False, "error": "user_not_in_channel"}, {}  # see the module's docstring
        if method == "chat.update" and (channel, str(args.get("ts", ""))) not in self._messages:
            return 200, {"ok": False, "error": "message_not_found"}, {}
        if method == "chat.update" and (channel, str(args.get("ts", ""))) in self._authors:
            # A bot token updates only the bot's own messages (chat.update's documented errors).
            return 200, {"ok": False, "error": "cant_update_message"}, {}
        refusal = message_refusal(args) or self._download_refusal(args.get("blocks"))
        if refusal:
            return 200, refusal, {}
        if method == "chat.update":
            ts = str(args["ts"])
            with self._lock:
                self._messages[(channel, ts)] = args
            return 200, {"ok": True, "channel": channel, "ts": ts, "text": args.get("text", "")}, {}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method == "chat.postEphemeral":
            said = Said(
                channel,
                ts,
                str(args.get("thread_ts") or ""),
                BOT_USER,
                _shown(args),
                to=str(args.get("user", "")),
            )
            with self._lock:
                self._ephemerals[ts] = said
            return 200, {"ok": True, "message_ts": ts}, {}
        with self._lock:
            self._messages[(channel, ts)] = args
            if args.get("thread_ts"):
                self._thread_of[(channel, ts)] = str(args["thread_ts"])
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text", "")}}, {}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        closed = self._channel_refusal(channel)
        if closed:
            return {"ok": False, "error": closed}
        with self._lock:
            if (channel, ts) in self._authors:  # a bot token deletes only the bot's own messages
                return {"ok": False, "error": "cant_delete_message"}
            if self._messages.pop((channel, ts), None) is None:
                return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
        if not channel or channel[0] in "UW":
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            if (channel, ts) not in self._messages:
                return {"ok": False, "error": "message_not_found"}
            thread_ts = self._thread_of.get((channel, ts), "")
        link = f"https://local.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _channel_refusal(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        if channel in self.closed_channels:
            return "not_in_channel"
        if channel in self.private_channels:
            return "channel_not_found"
        if channel[0] in "UW" or (channel[0] == "D" and channel not in self._open_dms):
            return "channel_not_found"  # a user id, or a DM the bot is not part of
        return None

    def _respond(self, name: str, args: dict[str, Any]) -> Answer:
        """A POST to a response_url. Slack answers with HTTP status codes there, and gives no
        details for invalid blocks (slackapi/java-slack-sdk issue 1017)."""
        urls = self._urls()
        used_up = urls.refusal(name)
        if used_up:
            return 404, {"ok": False, "error": used_up}, {}
        if args.get("delete_original") in (True, "true"):  # needs no text: nothing is posted
            urls.use(name)
            self._show_response(name, args)
            return 200, {"ok": True}, {}
        refusal = message_refusal(args) or self._download_refusal(args.get("blocks"))
        if refusal:
            return 400, {"ok": False, "error": refusal["error"]}, {}
        urls.use(name)
        self._show_response(name, args)
        return 200, {"ok": True}, {}

    def _download_refusal(self, blocks: Any) -> dict[str, Any] | None:
        """Download every image_url now, as Slack does; its answer when any download fails."""
        problems = self._download_problems(blocks, "/blocks")
        return invalid_blocks(problems) if problems else None

    def _download_problems(self, blocks: Any, at: str) -> list[Problem]:
        """Download every image_url in ``blocks`` (at JSON pointer ``at``) now, as Slack does."""
        found = list(image_urls(blocks, at))
        if not found:
            return []
        forced = [self._plan.take_failing_download() for _ in found]
        real = fetch_all(
            [url for (_, url), fail in zip(found, forced, strict=True) if not fail],
            self.image_timeout,
            loopback_only=self.loopback_only,
        )
        results, fetched = [], iter(real)
        for (_, url), fail in zip(found, forced, strict=True):
            results.append(ImageFetch(url, None, False, error="failed on purpose") if fail else next(fetched))
        with self._lock:
            self.image_fetches.extend(results)
        return [
            Problem("downloading image failed", pointer)
            for (pointer, _), result in zip(found, results, strict=True)
            if not result.ok
        ]

    # ---- conversations and files --------------------------------------------------------------

    def _open_conversation(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users and args.get("channel"):  # resuming a conversation the bot already has
            known = args["channel"] in self._open_dms
            return (
                {"ok": True, "channel": {"id": args["channel"]}}
                if known
                else {"ok": False, "error": "channel_not_found"}
            )
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) > 1 or users[0][0] not in "UW":
            return {"ok": False, "error": "user_not_found"}  # group DMs are not played here
        channel = self.dm_channel(users[0])
        with self._lock:
            already = channel in self._open_dms
            self._open_dms.add(channel)
        answer: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
        return {**answer, "no_op": True, "already_open": True} if already else answer

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        answer, upload = self._uploads.start(args)
        if upload is not None:
            answer["upload_url"] = f"{self.url}/upload/v1/{upload.token}"
        return answer

    def _upload(self, token: str, data: bytes) -> Answer:
        status, body = self._uploads.receive(token, data)
        upload = next((u for u in self._uploads.uploads.values() if u.token == token), None)
        with self._lock:
            args = {"file_id": upload.file_id if upload else "", "length": len(data)}
            self.calls.append(Call("upload", args, False, status == 200, "" if status == 200 else body))
        return status, body, {}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel_id")
        closed = self._channel_refusal(str(channel)) if channel else None
        if closed and str(channel)[0] not in "UW":  # a user id is refused by the id check below
            return {"ok": False, "error": closed}
        answer, shared = self._uploads.complete(args)
        with self._lock:
            self.files.extend(shared)
        return answer

    def _delete_file(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = str(args.get("file", ""))
        answer = self._uploads.delete(file_id)
        if answer["ok"]:
            with self._lock:  # in place: whoever holds ``files`` sees the file go
                self.files[:] = [shared for shared in self.files if shared.file_id != file_id]
        return answer

    # ---- bookkeeping --------------------------------------------------------------------------

    def _urls(self) -> ResponseUrls:
        if self._response_urls is None:
            self._response_urls = ResponseUrls(clock=lambda: self.clock())
        return self._response_urls


def _shown(args: dict[str, Any]) -> dict[str, Any]:
    """What a message shows, of the arguments it was posted with."""
    return {name: args[name] for name in ("text", "blocks", "attachments") if name in args}


def _order(ts: str) -> tuple[int, int]:
    """A ts's place in time: seconds, then the sequence within them."""
    seconds, _, sequence = ts.partition(".")
    return int(seconds or 0), int(sequence or 0)


def _parse_body(content_type: str, raw: str) -> dict[str, Any]:
    if "json" in content_type:
        try:
            parsed = json.loads(raw or "{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    args: dict[str, Any] = dict(parse_qsl(raw))
    for name in ("blocks", "attachments"):
        if isinstance(args.get(name), str):
            with contextlib.suppress(ValueError):  # left a string: Slack says invalid_blocks_format
                args[name] = json.loads(args[name])
    return args
