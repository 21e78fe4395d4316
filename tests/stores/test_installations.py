"""The installation store behind slack_sdk's ``InstallationStore`` interface, against moto's
DynamoDB: what Bolt's OAuth flow and token rotation ask of any store (slack_sdk's own stores are
the reference: slack_sdk/oauth/installation_store/amazon_s3, sqlite3): the newest installation of
a workspace and each installer's own, the bot with its current token, a deletion of one
installer's or of everything, team installs inside an Enterprise Grid org and org-wide installs
kept apart; and the OAuth states, each good once and only before it expires."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.oauth.installation_store import Installation

from bot.stores.installations import DynamoInstallationStore, DynamoOAuthStateStore
from tests.conftest import Stack

CLIENT = "1111.2222"


def installation(team: str | None, user: str, token: str, **more: Any) -> Installation:
    return Installation(app_id="A0LOCAL", team_id=team, user_id=user, bot_token=token, bot_id="B0BOT",
                        bot_user_id="U0BOT", bot_scopes=["commands", "chat:write"], installed_at=time.time(),
                        **more)  # fmt: skip


def store(env: Stack) -> DynamoInstallationStore:
    return DynamoInstallationStore(env.services.dynamodb, env.services.settings.jobs_table, CLIENT)


def test_each_installer_is_kept_the_newest_is_the_workspaces_and_the_bot_has_the_current_token(
    env: Stack,
) -> None:
    installations = store(env)
    installations.save(installation("T0ONE", "U0FIRST", "xoxb-first"))
    installations.save(installation("T0ONE", "U0SECOND", "xoxb-second"))

    latest = installations.find_installation(enterprise_id=None, team_id="T0ONE")
    first = installations.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0FIRST")
    bot = installations.find_bot(enterprise_id=None, team_id="T0ONE")
    assert latest is not None and latest.user_id == "U0SECOND"
    assert first is not None and first.user_id == "U0FIRST"
    assert first.bot_token == "xoxb-second"  # an installer's record, with the bot's token of now
    assert bot is not None and (bot.bot_token, bot.bot_user_id) == ("xoxb-second", "U0BOT")
    assert installations.find_bot(enterprise_id=None, team_id="T0NONE") is None


def test_deleting_one_installer_keeps_the_workspace_and_deleting_all_keeps_the_others(env: Stack) -> None:
    installations = store(env)
    for team, user in (("T0ONE", "U0FIRST"), ("T0ONE", "U0SECOND"), ("T0TWO", "U0THIRD")):
        installations.save(installation(team, user, f"xoxb-{team}-{user}"))

    installations.delete_installation(enterprise_id=None, team_id="T0ONE", user_id="U0FIRST")

    assert installations.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0FIRST") is None
    assert installations.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0SECOND")
    assert installations.find_bot(enterprise_id=None, team_id="T0ONE") is not None

    installations.delete_all(enterprise_id=None, team_id="T0ONE")

    assert installations.find_bot(enterprise_id=None, team_id="T0ONE") is None
    assert installations.find_installation(enterprise_id=None, team_id="T0ONE") is None
    assert installations.find_installation(enterprise_id=None, team_id="T0ONE", user_id="U0SECOND") is None
    other = installations.find_installation(enterprise_id=None, team_id="T0TWO")
    assert other is not None and other.bot_token == "xoxb-T0TWO-U0THIRD"


def test_an_org_wide_install_and_a_team_install_in_a_grid_are_found_only_as_what_they_are(env: Stack) -> None:
    installations = store(env)
    installations.save(
        installation(None, "U0ADMIN", "xoxb-org", enterprise_id="E0GRID", is_enterprise_install=True)
    )
    installations.save(installation("T0GRIDTEAM", "U0LEAD", "xoxb-team", enterprise_id="E0GRID"))

    org_wide = installations.find_bot(enterprise_id="E0GRID", team_id="T0ANY", is_enterprise_install=True)
    assert org_wide is not None and org_wide.bot_token == "xoxb-org"  # any workspace of the org
    assert installations.find_bot(enterprise_id="E0GRID", team_id="T0ANY") is None  # not a team install
    team = installations.find_bot(enterprise_id="E0GRID", team_id="T0GRIDTEAM")
    assert team is not None and team.bot_token == "xoxb-team"
    assert installations.find_bot(enterprise_id=None, team_id="T0GRIDTEAM") is None  # not outside its org
    assert store(env).find_bot(enterprise_id="E0GRID", team_id="T0GRIDTEAM") is not None
    another_app = DynamoInstallationStore(
        env.services.dynamodb, env.services.settings.jobs_table, "9999.0000"
    )
    assert another_app.find_bot(enterprise_id="E0GRID", team_id="T0GRIDTEAM") is None  # keyed by client


def test_a_state_is_good_once_and_never_after_it_expires(env: Stack) -> None:
    table = env.services.settings.jobs_table
    states = DynamoOAuthStateStore(env.services.dynamodb, table)
    state = states.issue()

    assert states.consume(state) is True
    assert states.consume(state) is False  # used
    assert states.consume("made-up") is False
    expired = DynamoOAuthStateStore(env.services.dynamodb, table, expiration_seconds=-1)
    assert expired.consume(expired.issue()) is False
