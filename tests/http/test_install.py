"""Installing the app in a workspace ("Add to Slack"), through http_handler's real routes and
Bolt's OAuth flow, against the Slack stand-in's authorize step and oauth.v2.access
(bot/local/slack/oauth.py).

The install page issues a state, kept in the table and in a cookie of the browser that asked;
the redirect must bring both back, once, within ten minutes, with a code Slack accepts
(docs.slack.dev/authentication/installing-with-oauth). API Gateway's payload 2.0 carries the
cookies in the event's ``cookies`` list, not in its headers, and the query string in
``rawQueryString``; payload 1.0 keeps the ``Cookie`` header and ``multiValueQueryStringParameters``
(docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import yaml
from slack_sdk import WebClient

from bot.local.signing import app_mention, event_body
from bot.model.workspace import acting
from bot.services import reset_process_services
from bot.slack.installed import BOT_SCOPES, NOT_INSTALLED
from tests.conftest import ROOT, Stack, call_http, command_event, event_request, http_event, slack_event
from tests.installing import COOKIE, approve, browser_get, install, install_page


@pytest.mark.parametrize("shape", ["http", "rest"])
def test_the_install_page_sends_the_browser_to_slack_with_the_scopes_and_a_state(
    installs: Stack, shape: str
) -> None:
    link, cookie = install_page(shape)
    url = urlsplit(link)
    asked = parse_qs(url.query)
    assert url.path == "/oauth/v2/authorize" and link.startswith(installs.slack.api_url.removesuffix("api/"))
    assert asked["client_id"] == [installs.slack.workspaces.client_id]
    assert asked["scope"][0].split(",") == list(BOT_SCOPES)
    assert cookie == f"{COOKIE}={asked['state'][0]}"


@pytest.mark.parametrize("shape", ["http", "rest"])
def test_the_redirect_with_the_browsers_state_installs_the_workspace(installs: Stack, shape: str) -> None:
    done = install(installs, "T0OTHER", shape)
    assert done["statusCode"] == 200, done
    bot = installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER")
    assert bot is not None and bot.bot_token and bot.bot_user_id == "U0BOTOTHER"
    assert bot.bot_id == "B0BOTOTHER" and set(bot.bot_scopes) == set(BOT_SCOPES)
    [exchange] = installs.slack.calls_to("oauth.v2.access")
    assert exchange.ok and exchange.args == {}  # neither the code nor the client secret is kept


def test_a_state_is_good_for_one_redirect(installs: Stack) -> None:
    link, cookie = install_page()
    back = approve(link, "T0OTHER")
    assert browser_get("/slack/oauth_redirect", back, [cookie])["statusCode"] == 200
    fresh_code = approve(link, "T0OTHER")["code"]  # a code Slack would accept, with the used state
    again = browser_get("/slack/oauth_redirect", {**back, "code": fresh_code}, [cookie])
    assert again["statusCode"] == 401  # invalid_state: used up
    assert len(installs.slack.calls_to("oauth.v2.access")) == 1


def test_a_state_from_another_browser_or_made_up_is_refused_and_installs_nothing(installs: Stack) -> None:
    link, _ = install_page()
    back = approve(link, "T0OTHER")
    _, other_browsers = install_page()
    assert (
        browser_get("/slack/oauth_redirect", back, [other_browsers])["statusCode"] == 400
    )  # invalid_browser
    forged = {**back, "state": "made-up"}
    assert browser_get("/slack/oauth_redirect", forged, [f"{COOKIE}=made-up"])["statusCode"] == 401
    assert installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER") is None
    assert installs.slack.calls_to("oauth.v2.access") == []


def test_a_redirect_without_a_code_or_with_one_slack_refuses_installs_nothing(installs: Stack) -> None:
    link, cookie = install_page()
    back = approve(link, "T0OTHER")
    assert browser_get("/slack/oauth_redirect", {"state": back["state"]}, [cookie])["statusCode"] == 401

    link, cookie = install_page()
    back = approve(link, "T0OTHER")
    refused = browser_get("/slack/oauth_redirect", {**back, "code": "1.made-up"}, [cookie])
    assert refused["statusCode"] == 401
    [exchange] = installs.slack.calls_to("oauth.v2.access")
    assert exchange.error == "invalid_code"
    assert installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER") is None


def test_slack_sends_the_browser_back_only_to_the_apps_redirect_url_and_the_exchange_repeats_it(
    installs: Stack,
) -> None:
    """Slack's authorize page refuses a redirect_uri that is not one of the app's Redirect URLs
    ("redirect_uri did not match any configured URIs": slackapi/slack-skills-plugin#19), and a code
    issued for a redirect_uri is exchanged only with that same redirect_uri (``bad_redirect_uri``:
    oauth.v2.access's docs, quoted in slack-edge/slack-cloudflare-workers#1). The app names none:
    Slack uses its one Redirect URL, the manifest's."""
    link, cookie = install_page()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{link}&redirect_uri={quote('https://elsewhere.example/cb')}", timeout=5)
    assert refused.value.code == 400 and b"did not match any configured URIs" in refused.value.read()

    listed = installs.slack.workspaces.redirect_url
    back = approve(f"{link}&redirect_uri={quote(listed)}", "T0OTHER")
    assert browser_get("/slack/oauth_redirect", back, [cookie])["statusCode"] == 401  # Bolt sent none
    [exchange] = installs.slack.calls_to("oauth.v2.access")
    assert exchange.error == "bad_redirect_uri"
    assert installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER") is None

    workspaces = installs.slack.workspaces
    code = approve(f"{link}&redirect_uri={quote(listed)}", "T0OTHER")["code"]
    exchanged = WebClient(base_url=installs.slack.api_url).oauth_v2_access(
        client_id=workspaces.client_id, client_secret=workspaces.client_secret, code=code, redirect_uri=listed
    )
    assert exchanged["ok"] and exchanged["team"]["id"] == "T0OTHER"


def test_a_person_who_cancels_on_slacks_page_is_told_and_nothing_is_installed(installs: Stack) -> None:
    _, cookie = install_page()
    cancelled = browser_get("/slack/oauth_redirect", {"error": "access_denied", "state": "x"}, [cookie])
    assert cancelled["statusCode"] == 200 and "access_denied" in cancelled["body"]
    assert installs.slack.calls_to("oauth.v2.access") == []


def test_with_one_workspaces_token_there_is_no_install_page(env: Stack) -> None:
    assert browser_get("/slack/install")["statusCode"] == 404
    assert browser_get("/slack/oauth_redirect", {"code": "1.x", "state": "y"})["statusCode"] == 404


def test_a_command_from_an_installed_workspace_is_acknowledged_asking_slack_nothing(installs: Stack) -> None:
    install(installs, "T0OTHER")
    before = len(installs.slack.snapshot())
    response = call_http(
        command_event("a paper crane", team_id="T0OTHER", response_url=installs.slack.response_url())
    )
    assert response["statusCode"] == 200 and "Queued" in response["body"]
    assert [c.method for c in installs.slack.snapshot()[before:]] == []  # no auth.test
    assert acting() is None  # answered: nothing later in the warm container acts for its workspace


def test_a_command_from_a_workspace_that_never_installed_is_told_so_and_nothing_is_queued(
    installs: Stack,
) -> None:
    response_url = installs.slack.response_url()
    response = call_http(command_event("a paper crane", team_id="T0LOCAL", response_url=response_url))
    assert response["statusCode"] == 200
    [told] = installs.slack.calls_to("response_url")
    assert told.args["text"] == NOT_INSTALLED
    assert installs.peek() == []


def test_two_workspaces_side_by_side_each_served_with_its_own_token(installs: Stack) -> None:
    """Each command's job is rendered and posted with its own workspace's token: the Slack
    stand-in knows which workspace each token it issued belongs to, and notes it on each call."""
    install(installs, "T0LOCAL")
    install(installs, "T0OTHER")
    for team in ("T0LOCAL", "T0OTHER"):
        response_url = installs.slack.response_url(f"command-{team}")
        response = call_http(command_event(f"a lantern for {team}", team_id=team, response_url=response_url))
        assert response["statusCode"] == 200 and "Queued" in response["body"]
    installs.settle()

    posted = [
        c for c in installs.slack.snapshot() if c.method in ("chat.postMessage", "chat.update") and c.ok
    ]
    by_team = {
        (c.team, c.args.get("text", "").split(": ", 1)[-1]) for c in posted if c.method == "chat.update"
    }
    assert ("T0LOCAL", "a lantern for T0LOCAL") in by_team and ("T0OTHER", "a lantern for T0OTHER") in by_team
    assert all(c.team in ("T0LOCAL", "T0OTHER") for c in posted)
    for call in posted:  # never one workspace's message with another's token
        assert call.args["text"].endswith(call.team), (call.method, call.args["text"], call.team)


def test_a_job_queued_before_its_workspace_uninstalled_ends_quietly(installs: Stack) -> None:
    install(installs, "T0OTHER")
    call_http(command_event("a paper crane", team_id="T0OTHER", response_url=installs.slack.response_url()))
    installs.services.installations.delete_all(enterprise_id=None, team_id="T0OTHER")
    installs.slack.workspaces.uninstall("T0OTHER")
    installs.settle()
    assert installs.peek() == [] and installs.dead_letters() == []
    assert not [c for c in installs.slack.snapshot() if c.method.startswith("chat.")]


def test_the_scopes_asked_for_at_install_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES


@pytest.mark.parametrize("event", ["app_uninstalled", "tokens_revoked"])
def test_an_uninstalled_workspace_is_forgotten_and_told_so_and_the_other_is_unaffected(
    installs: Stack, event: str
) -> None:
    install(installs, "T0LOCAL")
    install(installs, "T0OTHER")
    said = (
        {"type": event}
        if event == "app_uninstalled"
        else {"type": event, "tokens": {"oauth": [], "bot": ["U0BOTOTHER"]}}
    )
    assert call_http(slack_event(said, team_id="T0OTHER"))["statusCode"] == 200
    installations = installs.services.installations
    assert installations.find_bot(enterprise_id=None, team_id="T0OTHER") is None
    assert installations.find_installation(enterprise_id=None, team_id="T0OTHER") is None
    assert installations.find_bot(enterprise_id=None, team_id="T0LOCAL") is not None

    response_url = installs.slack.response_url("after")
    call_http(command_event("a paper crane", team_id="T0OTHER", response_url=response_url))
    assert [c.args["text"] for c in installs.slack.calls_to("response_url")] == [NOT_INSTALLED]
    assert installs.peek() == []
    response = call_http(
        command_event("a paper crane", team_id="T0LOCAL", response_url=installs.slack.response_url())
    )
    assert "Queued" in response["body"]


def test_a_rotating_token_is_refreshed_before_it_expires_and_saved_back(installs: Stack) -> None:
    """Token rotation on: the stand-in issues tokens with a refresh token; one within two hours
    of expiring is traded through oauth.v2.access (grant_type=refresh_token) and saved, and every
    call of the workspace's job succeeds with it."""
    workspaces = installs.slack.workspaces
    workspaces.rotation, workspaces.token_seconds = True, 3600  # within the two hours: due at once
    install(installs, "T0OTHER")
    installed = installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER")
    assert installed is not None and installed.bot_refresh_token and installed.bot_token_expires_at

    call_http(command_event("a paper crane", team_id="T0OTHER", response_url=installs.slack.response_url()))
    installs.settle()

    refreshed = installs.services.installations.find_bot(enterprise_id=None, team_id="T0OTHER")
    assert refreshed is not None and refreshed.bot_token != installed.bot_token
    assert len(installs.slack.calls_to("oauth.v2.access")) >= 2  # the install, then each refresh
    worked = [c for c in installs.slack.snapshot() if c.team == "T0OTHER"]
    assert worked and all(c.ok for c in worked)
    assert any(c.method == "chat.update" for c in worked)


def test_a_refresh_slack_refuses_is_logged_and_the_workspace_told_in_a_sentence(
    installs: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    workspaces = installs.slack.workspaces
    workspaces.rotation, workspaces.token_seconds = True, 3600
    install(installs, "T0OTHER")
    workspaces.uninstall("T0OTHER")  # its refresh token no longer works; the table still has it
    response_url = installs.slack.response_url("refused")
    response = call_http(command_event("a paper crane", team_id="T0OTHER", response_url=response_url))
    assert response["statusCode"] == 200
    assert [c.args["text"] for c in installs.slack.calls_to("response_url")] == [NOT_INSTALLED]
    assert installs.peek() == []
    [said] = [r for r in caplog.records if "could not be refreshed" in r.getMessage()]
    assert said.levelname == "ERROR" and "xoxe" not in str(said.__dict__) and "xoxb" not in str(said.__dict__)


def test_a_click_signed_in_another_workspace_cannot_touch_a_result(installs: Stack) -> None:
    """A result of workspace A, clicked in a payload signed for workspace B (a forged team_id):
    refused, nothing queued, A's result untouched."""
    from bot.local.signing import click_body
    from tests.slack_users import latest_result, post_signed

    install(installs, "T0LOCAL")
    install(installs, "T0OTHER")
    call_http(command_event("a paper crane", team_id="T0LOCAL", response_url=installs.slack.response_url()))
    installs.settle()
    channel, ts, message = latest_result(installs)
    for action in ("imagine_reroll", "imagine_variations", "imagine_delete"):
        forged = installs.slack.response_url(f"forged-{action}")
        body = click_body(message, channel, ts, action_id=action, block_id="imagine_actions",
                          team_id="T0OTHER", response_url=forged)  # fmt: skip
        assert post_signed(body)["statusCode"] == 200
    installs.settle()
    assert installs.peek() == []
    told = [
        c for c in installs.slack.calls_to("response_url") if "no longer available" in c.args.get("text", "")
    ]
    assert len(told) == 3  # each refused to the clicker alone
    assert installs.slack.message(channel, ts) is not None  # still there


def test_an_org_wide_install_serves_each_workspace_of_the_org(installs: Stack) -> None:
    """Installed org-wide on Enterprise Grid: oauth.v2.access answers with the enterprise and no
    team, is_enterprise_install true; the installation is the org's, and a command from one of its
    workspaces (enterprise_id and is_enterprise_install in the payload) is served with it."""
    from bot.local.signing import command_body, signed_headers
    from tests.conftest import SIGNING_SECRET

    installs.slack.workspaces.enterprise_id = "E0GRID"
    assert install(installs, "T0LOCAL")["statusCode"] == 200
    store = installs.services.installations
    assert store.find_bot(enterprise_id="E0GRID", team_id=None, is_enterprise_install=True) is not None
    assert store.find_bot(enterprise_id=None, team_id="T0LOCAL") is None

    body = command_body("a paper crane", team_id="T0LOCAL", response_url=installs.slack.response_url())
    body += "&enterprise_id=E0GRID&is_enterprise_install=true"
    event = http_event("http", "POST", "/slack/events", body, signed_headers(SIGNING_SECRET, body))
    assert "Queued" in call_http(event)["body"]
    installs.settle()
    [result] = [c for c in installs.slack.calls_to("chat.update") if c.ok and "Imagined" in c.args["text"]]
    assert result.team == "T0LOCAL"


@pytest.mark.parametrize("purge", [True, False])
def test_an_uninstalled_workspaces_images_and_records_go_only_when_purge_on_uninstall_says_so(
    installs: Stack, monkeypatch: pytest.MonkeyPatch, purge: bool
) -> None:
    monkeypatch.setenv("PURGE_ON_UNINSTALL", "true" if purge else "false")
    reset_process_services()
    install(installs, "T0LOCAL")
    install(installs, "T0OTHER")
    for team in ("T0LOCAL", "T0OTHER"):
        call_http(
            command_event(f"a lantern for {team}", team_id=team, response_url=installs.slack.response_url())
        )
    installs.settle()
    kept = installs.stored("images/T0LOCAL/")
    assert kept and installs.stored("images/T0OTHER/")

    assert call_http(slack_event({"type": "app_uninstalled"}, team_id="T0OTHER"))["statusCode"] == 200
    installs.settle()

    assert installs.stored("images/T0LOCAL/") == kept  # the other workspace untouched
    assert bool(installs.stored("images/T0OTHER/")) is not purge
    table = installs.services.dynamodb.scan(TableName=installs.resources.table)["Items"]
    theirs = [
        i["pk"]["S"] for i in table if "T0OTHER" in json.dumps(i) and not i["pk"]["S"].startswith("command#")
    ]
    assert bool(theirs) is not purge, theirs
    assert any("T0LOCAL" in json.dumps(i) and i["pk"]["S"].startswith("job#") for i in table)


def test_a_refused_code_is_logged_without_the_code(installs: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Bolt logs a refused exchange with its code (slack_bolt/oauth/oauth_flow.py); the line stays,
    the code does not."""
    link, cookie = install_page()
    back = approve(link, "T0OTHER")
    code = "1.a-code-that-must-not-be-logged"
    assert browser_get("/slack/oauth_redirect", {**back, "code": code}, [cookie])["statusCode"] == 401
    said = [r.getMessage() for r in caplog.records if "oauth.v2.access" in r.getMessage()]
    assert said and all(code not in line and "[not logged]" in line for line in said)


def test_a_refresh_slack_cannot_make_just_now_sends_the_job_round_again_not_away(installs: Stack) -> None:
    """Slack failing the refresh (internal_error), not refusing the refresh token: the job is
    delivered again and drawn, not ended as if the workspace had uninstalled the app."""
    workspaces = installs.slack.workspaces
    workspaces.rotation, workspaces.token_seconds = True, 3600  # every look refreshes
    install(installs, "T0OTHER")
    call_http(command_event("a paper crane", team_id="T0OTHER", response_url=installs.slack.response_url()))
    installs.slack.fail("oauth.v2.access", error="internal_error")  # the worker's first refresh
    installs.settle()
    assert [c.error for c in installs.slack.calls_to("oauth.v2.access") if not c.ok] == ["internal_error"]
    assert installs.dead_letters() == []
    [result] = [c for c in installs.slack.calls_to("chat.update") if c.ok and "Imagined" in c.args["text"]]
    assert result.team == "T0OTHER"


def test_a_mention_in_a_slack_connect_channel_is_served_for_the_workspace_the_app_is_installed_in(
    installs: Stack,
) -> None:
    """In a channel shared with another organization (Slack Connect), an event's outer ``team_id``
    is the workspace where it occurred, which may be the partner's; ``authorizations`` names the
    installation the event is delivered for (docs.slack.dev's event wrapper: "team_id: the unique
    identifier of the workspace where the event occurred"; api.slack.com/changelog/
    2020-09-15-events-api-truncate-authed-users; Bolt authorizes with ``authorizations[0]``:
    slack_bolt/request/internals.py, extract_team_id). The job is the installed workspace's."""
    install(installs, "T0OTHER")
    event = app_mention("a bridge between two towns", channel_id="C0SHARED", user_id="U0PARTNER",
                        team_id="T0PARTNER", bot_user_id="U0BOTOTHER")  # fmt: skip
    body = json.loads(event_body(event, team_id="T0PARTNER", bot_user_id="U0BOTOTHER"))
    body["authorizations"][0]["team_id"] = "T0OTHER"
    body["is_ext_shared_channel"] = True

    assert call_http(event_request(json.dumps(body)))["statusCode"] == 200
    [job] = installs.peek()
    assert json.loads(job)["team_id"] == "T0OTHER"
    installs.settle()

    posted = [c for c in installs.slack.snapshot() if c.method == "chat.update" and c.ok]
    assert [(c.team, c.args["channel"]) for c in posted if "a bridge" in c.args["text"]][-1] == (
        "T0OTHER",
        "C0SHARED",
    )
