"""Modals and the Home tab: ``views.open``, ``views.push``, ``views.update``, ``views.publish``,
and the trigger ids that open modals, as Slack answers them.

The view object (docs.slack.dev/reference/views/modal-views, .../home-tab-views): ``type``
``modal`` or ``home``; a modal's ``title`` (required), ``close`` and ``submit`` are plain_text of
1 to 24 characters, and ``submit`` is required when the view has an ``input`` block; ``blocks``
are required, at most 100, each under the same Block Kit rules as a message's
(:mod:`bot.local.slack.blocks`); ``private_metadata`` is at most 3000 characters, ``callback_id``
and ``external_id`` 255, and an ``external_id`` is unique in the team. Then slack_sdk's
``View`` model has its say (a home view has no ``submit`` or ``close``). A view over 250 kB is
``view_too_large`` (the methods' documented errors).

A view Slack refuses is ``invalid_arguments`` with ``response_metadata.messages`` in the form
users report from views.open: "[ERROR] must be less than 25 characters
[json-pointer:/view/title/text]", "[ERROR] must define `submit` to use an `input` block in
modals [json-pointer:/view/blocks/2/input]", and "[ERROR] failed to match all allowed schemas
[json-pointer:/view]" before "[ERROR] must be less than 3001 characters
[json-pointer:/view/private_metadata]".

Trigger ids (api.slack.com/docs/triggers: they "expire in three seconds" and "may be used only
once"), checked before the view, as the methods' docs say:
- not in Slack's form "132456.7890123.abcdef": ``invalid_trigger_id`` (views.open and
  views.push's documented errors);
- never issued, or, for views.push, not from an interaction inside an open modal:
  ``invalid_arguments`` "invalid `trigger_id`" (views.open's documented error response;
  slackapi/python-slack-sdk issue 804 for a push from a shortcut);
- from the Home tab, for views.push: "must match the `type` of the root view whose stack we're
  pushing onto [json-pointer:/view/type]";
- older than 3 seconds: ``expired_trigger_id`` (slackapi/bolt-python issue 886, slackapi/bolt-js
  issue 1662); presented before: ``exchanged_trigger_id`` (slackapi/bolt-js issue 1371). The
  first call that presents a fresh trigger uses it up, whatever becomes of its view.

A select that asks for a ``response_url`` (docs.slack.dev/surfaces/modals#modal_response_url):
``response_url_enabled`` belongs to a ``conversations_select`` or ``channels_select``, and "only
works with menus in input blocks in modals". On any other element Slack refuses the view with
"invalid additional property: response_url_enabled [json-pointer:/view/blocks/1/element]"
(slackapi/bolt-python issue 670, 2022-06-17, a plain_text_input). A submission carries
``response_urls``, ``[]`` when no element asked (slackapi/node-slack-sdk issue 970,
2020-03-02), else ``[{"block_id", "action_id", "channel_id", "response_url"}]`` for the
conversation picked (bolt-js's ViewResponseUrl type; yhatt/jsx-slack pull request 135 shows one),
and never more than one (slackapi/bolt-python issue 260, Slack's SDK maintainer, 2021-03-19:
"the response_urls can have only one element"): :func:`response_url_select` is the one element
that gets it, the first that asks.

A modal holds up to 3 views (docs.slack.dev/surfaces/modals): a push past that is
``push_limit_reached``. views.update finds the view by ``view_id`` or ``external_id``
(``not_found`` otherwise) and refuses a ``hash`` that is not the view's current one with
``hash_conflict``, as views.publish does; views.publish needs a user id: "invalid `user_id`".
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from bot.local.slack.blocks import Problem, block_problems, string_problems, text_problems

TRIGGER_SECONDS = 3.0
STACK_LIMIT = 3  # views in one modal: the root and two pushed
MAX_VIEW_BLOCKS = 100
MAX_VIEW_BYTES = 250 * 1024  # "greater than 250kb", read as KiB of the view's JSON
TRIGGER_FORM = re.compile(r"^[0-9]+\.[0-9]+\.[0-9a-f]+$")
PUSH_FROM_HOME = "must match the `type` of the root view whose stack we're pushing onto"
RESPONSE_URL_SELECTS = ("conversations_select", "channels_select")  # the elements that may ask

# Checks a view's image_urls the way Slack downloads them: (blocks, JSON pointer) -> problems.
Downloads = Callable[[Any, str], list[Problem]]


@dataclass
class RecordedView:
    """A view as the app last sent it, with what Slack keeps about it."""

    id: str
    user: str  # whose modal or Home tab it is
    view: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None

    @property
    def type(self) -> str:
        return str(self.view["type"])

    def answer(self) -> dict[str, Any]:
        """The view object Slack answers with (docs.slack.dev/reference/methods/views.open)."""
        view = self.view
        return {
            "id": self.id,
            "team_id": "T0LOCAL",
            "type": self.type,
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": "A0LOCAL",
            "bot_id": "B0BOT",
        }


@dataclass
class Trigger:
    user: str
    issued: float
    view_id: str | None  # the view the interaction happened in, if any
    used: bool = False


class Refused(Exception):
    """Slack's answer to a views.* call it refuses."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.answer: dict[str, Any] = {"ok": False, "error": error}
        if messages:
            self.answer["response_metadata"] = {"messages": list(messages)}


def invalid(problems: list[Problem]) -> Refused:
    return Refused("invalid_arguments", *(f"[ERROR] {problem}" for problem in problems))


@dataclass
class Views:
    by_id: dict[str, RecordedView] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)  # user -> their Home tab's view id
    stacks: dict[str, list[str]] = field(default_factory=dict)  # user -> open modal, root first
    triggers: dict[str, Trigger] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def issue(self, user: str, view_id: str | None, now: float) -> str:
        trigger = f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"
        with self.lock:
            self.triggers[trigger] = Trigger(user, now, view_id)
        return trigger

    # ---- the methods: each answers Slack's body --------------------------------------------------
    # State is read and changed under the lock; the view is checked (and its images downloaded)
    # outside it, so one slow download does not hold up every other call.

    def open(self, args: dict[str, Any], now: float, downloads: Downloads) -> dict[str, Any]:
        try:
            with self.lock:
                trigger = self._exchange(args, now)
            view = _checked(args, "modal", downloads)
            with self.lock:
                self._unique(view, None)
                recorded = self._new(trigger.user, view, now)
                self.stacks[trigger.user] = [recorded.id]
                answer = recorded.answer()
        except Refused as refused:
            return refused.answer
        return {"ok": True, "view": answer}

    def push(self, args: dict[str, Any], now: float, downloads: Downloads) -> dict[str, Any]:
        try:
            with self.lock:
                trigger = self._exchange(args, now)
                self._pushable(trigger)
            view = _checked(args, "modal", downloads)
            with self.lock:
                stack = self._pushable(trigger)
                self._unique(view, None)
                recorded = self._new(trigger.user, view, now, root=stack[0], previous=stack[-1])
                stack.append(recorded.id)
                answer = recorded.answer()
        except Refused as refused:
            return refused.answer
        return {"ok": True, "view": answer}

    def update(self, args: dict[str, Any], now: float, downloads: Downloads) -> dict[str, Any]:
        try:
            with self.lock:
                current = self._find(args)
                self._fresh(current, args)
            view = _checked(args, current.type, downloads)
            with self.lock:
                self._fresh(current, args)
                self._unique(view, current.id)
                current.view, current.hash = view, _hash(now)
                answer = current.answer()
        except Refused as refused:
            return refused.answer
        return {"ok": True, "view": answer}

    def publish(self, args: dict[str, Any], now: float, downloads: Downloads) -> dict[str, Any]:
        user = args.get("user_id")
        if not isinstance(user, str) or not user or user[0] not in "UW":
            return Refused("invalid_arguments", "invalid `user_id`").answer
        try:
            with self.lock:
                current = self.by_id.get(self.homes.get(user, ""))
                if current is not None:
                    self._fresh(current, args)
            view = _checked(args, "home", downloads)
            with self.lock:
                current = self.by_id.get(self.homes.get(user, ""))
                if current is None:
                    self._unique(view, None)
                    current = self._new(user, view, now)
                    self.homes[user] = current.id
                else:
                    self._fresh(current, args)
                    self._unique(view, current.id)
                    current.view, current.hash = view, _hash(now)
                answer = current.answer()
        except Refused as refused:
            return refused.answer
        return {"ok": True, "view": answer}

    # ---- what the person does with an open modal (the playground) -------------------------------

    def submitted(
        self, user: str, view_id: str, answer: dict[str, Any], now: float, downloads: Downloads
    ) -> dict[str, Any]:
        """What Slack does with the acknowledgement ``answer`` of a view_submission of the view
        ``view_id`` on top of ``user``'s modal (docs.slack.dev/surfaces/modals, "Closing views"
        and "Updating views"): an empty one closes that view (the one under it shows again),
        ``response_action`` ``clear`` closes them all, ``update`` replaces the submitted view,
        ``push`` puts a new one on top; ``errors`` changes nothing (they show under the inputs).
        ``{}``, or the refusal of a view Slack would not take."""
        action = answer.get("response_action")
        try:
            with self.lock:
                stack = self.stacks.get(user, [])
                if not stack or stack[-1] != view_id:
                    raise Refused("not_found")
                if action == "errors":
                    return {}
                if action == "clear":
                    stack.clear()
                    return {}
                if action not in ("update", "push"):
                    stack.pop()
                    return {}
                if action == "push" and len(stack) >= STACK_LIMIT:
                    raise Refused("push_limit_reached")
            view = _checked(answer, "modal", downloads)
            with self.lock:
                current = self.by_id[view_id]
                if action == "update":
                    self._unique(view, current.id)
                    current.view, current.hash = view, _hash(now)
                else:
                    self._unique(view, None)
                    pushed = self._new(user, view, now, root=stack[0], previous=stack[-1])
                    stack.append(pushed.id)
        except Refused as refused:
            return refused.answer
        return {}

    def close(self, user: str, *, every_view: bool = False) -> None:
        """``user`` closed the view on top of their modal (or, ``every_view``, the modal)."""
        with self.lock:
            stack = self.stacks.get(user, [])
            root = self.by_id.get(stack[0]) if stack else None
            if every_view or (root is not None and root.view.get("clear_on_close")):
                stack.clear()
            elif stack:
                stack.pop()

    # ---- the state's checks (under the lock) ----------------------------------------------------

    def _exchange(self, args: dict[str, Any], now: float) -> Trigger:
        value = args.get("trigger_id")
        if isinstance(value, str) and value and not TRIGGER_FORM.match(value):
            raise Refused("invalid_trigger_id")
        trigger = self.triggers.get(value) if isinstance(value, str) else None
        if trigger is None:
            raise Refused("invalid_arguments", "invalid `trigger_id`")
        if now - trigger.issued > TRIGGER_SECONDS:
            raise Refused("expired_trigger_id")
        if trigger.used:
            raise Refused("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _pushable(self, trigger: Trigger) -> list[str]:
        """The open modal a trigger may push onto."""
        stack = self.stacks.get(trigger.user, [])
        origin = self.by_id.get(trigger.view_id or "")
        if origin is not None and origin.type == "home":
            raise invalid([Problem(PUSH_FROM_HOME, "/view/type")])
        if origin is None or origin.id not in stack:
            raise Refused("invalid_arguments", "invalid `trigger_id`")
        if len(stack) >= STACK_LIMIT:
            raise Refused("push_limit_reached")
        return stack

    def _find(self, args: dict[str, Any]) -> RecordedView:
        by_external = args.get("external_id")
        if by_external:
            found = next((v for v in self.by_id.values() if v.view.get("external_id") == by_external), None)
        else:
            found = self.by_id.get(str(args.get("view_id") or ""))
        if found is None:
            raise Refused("not_found")
        return found

    @staticmethod
    def _fresh(current: RecordedView, args: dict[str, Any]) -> None:
        if args.get("hash") and args["hash"] != current.hash:
            raise Refused("hash_conflict")

    def _unique(self, view: dict[str, Any], replacing: str | None) -> None:
        external = view.get("external_id")
        if external and any(
            v.view.get("external_id") == external and v.id != replacing for v in self.by_id.values()
        ):
            raise Refused("duplicate_external_id")

    def _new(
        self,
        user: str,
        view: dict[str, Any],
        now: float,
        *,
        root: str | None = None,
        previous: str | None = None,
    ) -> RecordedView:
        view_id = "V" + secrets.token_hex(5).upper()
        recorded = RecordedView(view_id, user, view, _hash(now), root or view_id, previous)
        self.by_id[view_id] = recorded
        return recorded


def _checked(args: dict[str, Any], kind: str, downloads: Downloads) -> dict[str, Any]:
    """The call's view, if Slack would take it as a view of ``kind``; else the refusal."""
    view = args.get("view")
    if isinstance(view, str):  # a form post carries the view as JSON text
        try:
            view = json.loads(view)
        except ValueError:
            raise invalid([Problem("must provide an object", "/view")]) from None
    if view is None:
        raise Refused("invalid_arguments", "[ERROR] missing required field: view")
    if len(json.dumps(view, ensure_ascii=False).encode()) > MAX_VIEW_BYTES:
        raise Refused("view_too_large")
    problems = view_problems(view)
    if not problems and view.get("type") != kind:
        problems = [Problem(f"unsupported type: {view.get('type')}", "/view/type")]
    if problems:
        raise invalid(problems)
    failed = downloads(view["blocks"], "/view/blocks")
    if failed:
        raise invalid(failed)
    return dict(view)


def view_problems(view: Any) -> list[Problem]:
    """What Slack refuses in a view object (pure), with JSON pointers from ``/view``."""
    if not isinstance(view, dict):
        return [Problem("must provide an object", "/view")]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [Problem(f"unsupported type: {kind}", "/view/type")]
    found: list[Problem] = []
    if kind == "modal":
        if view.get("title") is None:
            found.append(Problem("missing required field: title", "/view"))
        else:
            found += text_problems(view["title"], "/view/title", 24, ("plain_text",))
        for name in ("close", "submit"):
            if view.get(name) is not None:
                found += text_problems(view[name], f"/view/{name}", 24, ("plain_text",))
    blocks = view.get("blocks")
    if blocks is None:
        found.append(Problem("missing required field: blocks", "/view"))
    elif not isinstance(blocks, list):
        found.append(Problem("must provide an array", "/view/blocks"))
    else:
        found += block_problems(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
        found += _response_url_problems(blocks)
        if kind == "modal" and view.get("submit") is None:
            found += [
                Problem("must define `submit` to use an `input` block in modals", f"/view/blocks/{n}/input")
                for n, block in enumerate(blocks)
                if isinstance(block, dict) and block.get("type") == "input"
            ]
    fields: list[Problem] = []
    for name, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        if view.get(name) is not None:
            fields += string_problems(view[name], f"/view/{name}", limit, minimum=0)
    if fields:
        found += [Problem("failed to match all allowed schemas", "/view"), *fields]
    return found or _sdk_view(view)


def _elements(blocks: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every interactive element of ``blocks`` with its JSON pointer from ``/view``: an input's
    element, a section's accessory, an actions block's elements."""
    found: list[tuple[str, dict[str, Any]]] = []
    for n, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        at = f"/view/blocks/{n}"
        for name in ("element", "accessory"):
            if isinstance(block.get(name), dict):
                found.append((f"{at}/{name}", block[name]))
        elements = block.get("elements") if block.get("type") == "actions" else None
        for i, element in enumerate(elements if isinstance(elements, list) else []):
            if isinstance(element, dict):
                found.append((f"{at}/elements/{i}", element))
    return found


def _response_url_problems(blocks: list[Any]) -> list[Problem]:
    """``response_url_enabled`` on an element whose schema has no such field (slack_sdk's models
    drop it without a word; Slack refuses the view)."""
    return [
        Problem("invalid additional property: response_url_enabled", at)
        for at, element in _elements(blocks)
        if "response_url_enabled" in element and element.get("type") not in RESPONSE_URL_SELECTS
    ]


def response_url_select(view: dict[str, Any]) -> tuple[str, str] | None:
    """(block_id, action_id) of the select a submission of ``view`` gets a response_url for: the
    first conversations_select or channels_select in an input block of a modal that sets
    ``response_url_enabled``; None when the view asks for none."""
    if view.get("type") != "modal":
        return None
    for block in view.get("blocks") or []:
        element = block.get("element") if isinstance(block, dict) and block.get("type") == "input" else None
        if (
            isinstance(element, dict)
            and element.get("type") in RESPONSE_URL_SELECTS
            and element.get("response_url_enabled") is True
        ):
            return str(block.get("block_id", "")), str(element.get("action_id", ""))
    return None


def _sdk_view(view: dict[str, Any]) -> list[Problem]:
    """What slack_sdk's View model refuses that the checks above let through."""
    try:
        View(**view).to_dict()  # validates the view and every block in it
    except SlackObjectFormationError as error:
        return [Problem(str(error), "/view")]
    except TypeError as error:  # a field the model cannot take
        return [Problem(str(error), "/view")]
    return []


def _hash(now: float) -> str:
    """A view's hash, in Slack's form ("1569262015.55b5e41b"); a new one on every change."""
    return f"{int(now)}.{secrets.token_hex(4)}"
