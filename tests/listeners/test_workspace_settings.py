"""Each workspace its own settings, set by its admins on the Home tab, with the app installed per
workspace: the button only for admins and owners, the form through views.open, a submission
checked again (users.info) so a forged one from anyone else changes nothing, the stack's values
as ceilings, and each workspace's settings holding in that workspace alone."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.blocks.workspace_form import CHANNELS, PER_USER, PER_WORKSPACE, SETTINGS_BUTTON, TERMS
from bot.services import reset_process_services
from tests.conftest import Stack, call_http, command_event, slack_event
from tests.installing import install
from tests.listeners.test_home import home_opened, published
from tests.slack_users import post_signed

ADMIN, MEMBER = "U0ADMIN", "U0MEMBER"


def home_for(env: Stack, user: str, team: str) -> dict[str, Any]:
    call_http(slack_event(home_opened(user), team_id=team))
    env.settle()
    return published(env, user)


def open_settings(env: Stack, user: str, team: str) -> dict[str, Any]:
    """Click Settings on the Home tab, as Slack sends a click in a view; the form it opened."""
    payload = {
        "type": "block_actions", "team": {"id": team, "domain": "local"}, "api_app_id": "A0LOCAL",
        "user": {"id": user, "team_id": team}, "trigger_id": env.slack.trigger_id(user),
        "container": {"type": "view", "view_id": "V0HOME"},
        "is_enterprise_install": False, "enterprise": None,
        "actions": [{"type": "button", "action_id": SETTINGS_BUTTON, "block_id": "imagine_home_settings",
                     "value": "workspace", "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    assert post_signed(urlencode({"payload": json.dumps(payload)}))["statusCode"] == 200
    [*_, top] = env.slack.modal_stack(user)
    view: dict[str, Any] = top.answer()
    return view


def submit(
    env: Stack, user: str, team: str, view: dict[str, Any], typed: dict[str, str | None]
) -> dict[str, Any]:
    response = post_signed(env.slack.submission(user, typed, view_id=view["id"], team_id=team))
    assert response["statusCode"] == 200, response
    answer: dict[str, Any] = json.loads(response["body"]) if response["body"] else {}
    return answer


def command(env: Stack, team: str, text: str = "a paper crane", channel: str = "C0LOCAL") -> str:
    """A member's /imagine in ``team``: what they were answered."""
    response_url = env.slack.response_url(f"c-{len(env.slack.calls)}")
    event = command_event(text, team_id=team, channel_id=channel, user_id=MEMBER, response_url=response_url)
    body = str(call_http(event).get("body") or "{}")
    return str(json.loads(body).get("text", "")) if body.startswith("{") else body


def admins(env: Stack) -> None:
    env.slack.add_user(ADMIN, is_admin=True)
    env.slack.add_user(MEMBER)


def test_an_admin_sees_settings_on_the_home_tab_and_a_member_does_not(installs: Stack) -> None:
    admins(installs)
    install(installs, "T0OTHER")
    home = home_for(installs, ADMIN, "T0OTHER")
    buttons = [e.get("action_id") for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert SETTINGS_BUTTON in buttons
    member = home_for(installs, MEMBER, "T0OTHER")
    assert SETTINGS_BUTTON not in json.dumps(member)


def test_an_admins_settings_hold_in_their_workspace_alone(installs: Stack) -> None:
    admins(installs)
    install(installs, "T0LOCAL")
    install(installs, "T0OTHER")
    form = open_settings(installs, ADMIN, "T0OTHER")
    assert submit(installs, ADMIN, "T0OTHER", form, {PER_USER: "1", TERMS: "Gore, violence"}) == {}

    assert "Queued" in command(installs, "T0OTHER")
    assert "You have used 1 of your 1 images today" in command(installs, "T0OTHER")
    assert "“gore”" in command(installs, "T0OTHER", "a gore scene")
    # The other workspace keeps the stack's values.
    assert "Queued" in command(installs, "T0LOCAL") and "Queued" in command(
        installs, "T0LOCAL", "a gore scene"
    )

    again = open_settings(installs, ADMIN, "T0OTHER")  # shows what was saved
    fields = {b["block_id"]: b["element"] for b in again["blocks"] if b["type"] == "input"}
    assert fields[PER_USER]["initial_value"] == "1" and fields[TERMS]["initial_value"] == "gore, violence"


def test_a_workspaces_channels_and_its_quota_stay_within_the_stacks(
    installs: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    admins(installs)
    install(installs, "T0OTHER")
    form = open_settings(installs, ADMIN, "T0OTHER")
    refused = submit(installs, ADMIN, "T0OTHER", form, {PER_WORKSPACE: "5000"})  # the stack's is 500
    assert refused["errors"] == {PER_WORKSPACE: "At most 500, the limit this app's operator set."}
    assert submit(installs, ADMIN, "T0OTHER", form, {PER_USER: "two"})["errors"] == {
        PER_USER: "A whole number of images, 1 or more."
    }

    # A quota saved within the stack's stays within it when the operator lowers the stack's.
    assert submit(installs, ADMIN, "T0OTHER", form, {PER_USER: "40"}) == {}
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "1")
    reset_process_services()
    assert "Queued" in command(installs, "T0OTHER")
    assert "You have used 1 of your 1 images today" in command(installs, "T0OTHER")
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "50")
    reset_process_services()

    assert submit(installs, ADMIN, "T0OTHER", form, {PER_USER: None, CHANNELS: "C0ART"}) == {}
    assert "not enabled in this channel" in command(installs, "T0OTHER", channel="C0LOCAL")
    assert "Queued" in command(installs, "T0OTHER", channel="C0ART")


def test_a_forged_submission_from_a_member_is_refused_and_changes_nothing(installs: Stack) -> None:
    admins(installs)
    install(installs, "T0OTHER")
    form = open_settings(installs, MEMBER, "T0OTHER")  # a forged click opens the form...
    answer = submit(installs, MEMBER, "T0OTHER", form, {PER_USER: "1"})  # ...its submission is refused
    assert answer["errors"] == {PER_USER: "Only the workspace's admins and owners may change its settings."}
    bot = installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER")
    assert bot is not None and "settings" not in bot.custom_values
    assert "Queued" in command(installs, "T0OTHER") and "Queued" in command(installs, "T0OTHER")
