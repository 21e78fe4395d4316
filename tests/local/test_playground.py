"""The playground's API over HTTP, against `imagine-bot run` as a person starts it: the page's
state, the composer, clicks and the form, each reaching the app signed as Slack signs it (an
unsigned request gets 401 from http_handler, so every answer from the bot below is the proof),
and refused to anything but the page itself. The Slack stand-in's own additions for the
playground are checked directly at the end."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.local.slack.recorder import SlackRecorder
from tests.conftest import environ_without_settings

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds for anything the worker does; generous on a busy machine

Message = dict[str, Any]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Running:
    """`imagine-bot run` in a subprocess, and how to talk to its playground as the page does."""

    url: str
    secret: str
    process: subprocess.Popen[bytes]
    team: str = ""  # the workspace the person acts in (`run --workspaces`); "": the first

    @property
    def origin(self) -> str:
        return self.url

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def state(self) -> dict[str, Any]:
        status, _, body = self.get(f"/playground/state?team={self.team}")
        assert status == 200
        state: dict[str, Any] = json.loads(body)
        return state

    def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        origin: str | None = "",
        content_type: str = "application/json",
        host: str = "",
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type}
        if origin is not None:
            headers["Origin"] = origin or self.origin
        if host:
            headers["Host"] = host
        sent = ({"team": self.team} if self.team else {}) | (body or {})
        request = urllib.request.Request(
            self.url + path, data=json.dumps(sent).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def until(self, found: Callable[[dict[str, Any]], Any], what: str) -> Any:
        """Poll the page's state, as the page does, until ``found(state)`` is something."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            result = found(self.state())
            if result:
                return result
            time.sleep(0.2)
        pytest.fail(f"the playground never showed {what}")


def _clean_env() -> dict[str, str]:
    """The environment of someone with no AWS account and no Slack workspace."""
    return environ_without_settings("PORT")


def start_run(directory: Path, *options: str) -> Iterator[Running]:
    """`imagine-bot run` (with ``options``) on a free port, until the generator is closed."""
    port = free_port()
    log = (directory / "run.log").open("wb")  # a pipe nobody reads would fill up and stop the server
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.local.cli", "run", *options],
        cwd=directory,
        env=_clean_env() | {"PYTHONPATH": str(ROOT), "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    state_file = directory / "imagine-out" / "local.json"
    try:
        deadline = time.monotonic() + DEADLINE
        while not state_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`imagine-bot run` did not start: {(directory / 'run.log').read_text()}")
            time.sleep(0.2)
        secret = json.loads(state_file.read_text())["signing_secret"]
        yield Running(f"http://127.0.0.1:{port}", secret, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_run(tmp_path_factory.mktemp("playground"))


# ---- reading the state as the page draws it ----------------------------------------------------------


def images(message: Message) -> list[str]:
    return [b["image_url"] for b in message.get("blocks", []) if b.get("type") == "image"]


def contexts(message: Message) -> str:
    return " ".join(
        e.get("text", "")
        for b in message.get("blocks", [])
        if b.get("type") == "context"
        for e in b["elements"]
    )


def seed(message: Message) -> str:
    found = re.search(r"· seed (\d+) ·", contexts(message))
    assert found, contexts(message)
    return found[1]


def result_for(prompt: str) -> Callable[[dict[str, Any]], Message | None]:
    """The bot's newest finished result for ``prompt`` (images and buttons), in the channel or a
    thread."""

    def found(state: dict[str, Any]) -> Message | None:
        everything = [*state["messages"], *(m for thread in state["threads"].values() for m in thread)]
        finished = [
            m
            for m in everything
            if m["bot"] and not m["ephemeral"] and images(m) and f"*{prompt}*" in json.dumps(m)
        ]
        return max(finished, key=lambda m: float(m["ts"]), default=None)

    return found


def button(message: Message, label: str) -> dict[str, str]:
    for block in message["blocks"]:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element["text"]["text"] == label:
                return {"block_id": block["block_id"], "action_id": element["action_id"]}
    raise AssertionError(f"no {label} button")


def make(run: Running, prompt: str) -> Message:
    status, answer = run.post("/playground/send", {"text": f"/imagine {prompt}"})
    assert (status, answer["ok"]) == (200, True), answer
    result: Message = run.until(result_for(prompt.split(" --")[0]), f"the result for {prompt!r}")
    return result


def click(run: Running, message: Message, label: str) -> None:
    channel = run.state()["channel"]  # the person's #general, in the workspace they act in
    status, answer = run.post(
        "/playground/click", {"channel": channel, "ts": message["ts"], **button(message, label)}
    )
    assert (status, answer) == (200, {"ok": True, "status": 200}), answer


# ---- the page and its state -------------------------------------------------------------------------


@pytest.mark.spawns
def test_the_page_is_served_with_its_own_script_only_and_never_the_secret(run: Running) -> None:
    status, headers, page = run.get("/")

    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = page.decode()
    assert "Message #general — try /imagine a paper crane --ar 16:9" in text
    # The page runs its own inline script only: a script from anywhere else, or injected, does not.
    policy = headers["Content-Security-Policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in text and "script-src 'nonce-" in policy
    assert "http://" not in text.replace("http://127.0.0.1", "") and "https://" not in text
    assert run.secret not in text
    assert run.secret not in json.dumps(run.state())
    # Everything else still goes to the app.
    assert run.get("/slack/events")[0] != 200
    assert run.get("/images/nothing/here.jpg")[0] == 403


@pytest.mark.spawns
def test_a_command_shows_its_acknowledgement_only_to_you_then_its_result(run: Running) -> None:
    status, answer = run.post("/playground/send", {"text": "/imagine a paper crane --ar 16:9 --seed 5"})

    assert (status, answer) == (200, {"ok": True, "sent": "command", "status": 200})
    ack = run.until(
        lambda s: next((m for m in s["messages"] if "Queued: a paper crane" in m["text"]), None),
        "the acknowledgement",
    )
    assert ack["ephemeral"] and ack["user"] == "U0BOT"
    result = run.until(result_for("a paper crane"), "the result")
    assert seed(result) == "5" and {"Re-roll", "Delete"} <= {
        e["text"]["text"] for b in result["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    # The image loads through the bot's stable link, as a browser opens it.
    [link] = images(result)
    assert link.startswith(run.url + "/images/")
    with urllib.request.urlopen(link, timeout=30) as response:
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.read().startswith(b"\xff\xd8\xff")


@pytest.mark.spawns
def test_a_click_reaches_the_app_signed_and_a_re_roll_lands_in_the_thread(run: Running) -> None:
    root = make(run, "a red kite --seed 11")

    click(run, root, "Re-roll")

    reply = run.until(
        lambda s: next((m for m in s["threads"].get(root["ts"], []) if images(m)), None), "the re-roll"
    )
    assert "a red kite" in json.dumps(reply) and seed(reply) != "11"  # a new seed
    assert run.until(
        lambda s: next(m["reply_count"] for m in s["messages"] if m["ts"] == root["ts"]), "the reply count"
    )


@pytest.mark.spawns
def test_a_mention_is_your_message_first_then_the_apps_answer_in_the_thread(run: Running) -> None:
    root = make(run, "a lighthouse --ar 3:2")

    status, answer = run.post("/playground/send", {"text": "@imagine + at sunset", "thread_ts": root["ts"]})

    assert (status, answer["sent"], answer["status"]) == (200, "mention", 200)
    thread = run.until(lambda s: s["threads"].get(root["ts"]), "the thread")
    mine = thread[0]
    assert (mine["ts"], mine["user"], mine["bot"]) == (answer["ts"], "U0LOCAL", False)
    assert mine["text"] == "<@U0BOT> + at sunset"  # as Slack keeps it: the mention is an id
    refined = run.until(result_for("a lighthouse, at sunset"), "the refined result")
    assert refined["thread_ts"] == root["ts"] and "(3:2)" in contexts(refined)


@pytest.mark.spawns
def test_an_empty_command_opens_the_form_its_errors_show_and_a_submission_closes_it(run: Running) -> None:
    run.post("/playground/send", {"text": "/imagine"})
    modal = run.until(lambda s: s["modal"], "the form")
    assert modal["title"]["text"] == "Imagine"
    typed = {"imagine_prompt": "a paper boat", "imagine_steps": "500"}

    status, answer = run.post("/playground/submit", {"view_id": modal["id"], "values": typed})

    assert (status, answer["ok"]) == (200, True)
    assert answer["errors"] == {"imagine_steps": "Steps must be a whole number from 1 to 50."}
    assert run.state()["modal"]["id"] == modal["id"]  # kept open, as Slack keeps it
    typed["imagine_steps"] = "20"
    status, answer = run.post("/playground/submit", {"view_id": modal["id"], "values": typed})
    assert (status, answer) == (200, {"ok": True, "status": 200, "errors": {}})
    assert run.state()["modal"] is None  # a plain acknowledgement closed it
    assert "20 steps" in contexts(run.until(result_for("a paper boat"), "the form's result"))


@pytest.mark.spawns
def test_cancel_closes_the_form_and_a_closed_form_cannot_be_submitted(run: Running) -> None:
    run.post("/playground/send", {"text": "/imagine"})
    modal = run.until(lambda s: s["modal"], "the form")

    assert run.post("/playground/close", {"view_id": modal["id"]}) == (200, {"ok": True})

    assert run.state()["modal"] is None
    status, answer = run.post("/playground/submit", {"view_id": modal["id"], "values": {}})
    assert (status, answer["ok"]) == (409, False)


@pytest.mark.spawns
def test_share_posts_a_thread_result_in_the_channel_and_its_picker_answers_under_itself(run: Running) -> None:
    root = make(run, "a tin robot --seed 3")
    click(run, root, "Re-roll")
    reroll = run.until(
        lambda s: next((m for m in s["threads"].get(root["ts"], []) if images(m)), None), "the re-roll"
    )

    status, answer = run.post(
        "/playground/click", {"channel": "C0LOCAL", "ts": reroll["ts"], **button(reroll, "Share")}
    )

    assert (status, answer["ok"]) == (200, True)
    shared = run.until(
        lambda s: next(
            (m for m in s["messages"] if m["text"].startswith("<@U0LOCAL> shared: a tin robot")), None
        ),
        "the shared copy in the channel",
    )
    assert images(shared) == images(reroll)
    # Share on a message in the channel asks where, with a conversations_select of the channels.
    click(run, root, "Share")
    modal = run.until(lambda s: s["modal"], "the Share form")
    assert modal["title"]["text"] == "Share"
    status, answer = run.post(
        "/playground/submit", {"view_id": modal["id"], "values": {"imagine_share_to": "C0LOCAL"}}
    )
    assert answer["errors"] == {"imagine_share_to": "This picture is already in that channel."}
    run.post("/playground/close", {"view_id": modal["id"], "every_view": True})


@pytest.mark.spawns
def test_delete_removes_the_message_for_everyone(run: Running) -> None:
    result = make(run, "a sandcastle")

    click(run, result, "Delete")

    run.until(lambda s: all(m["ts"] != result["ts"] for m in s["messages"]), "the message gone")
    assert run.get(images(result)[0].removeprefix(run.url))[0] == 410


@pytest.mark.spawns
def test_the_home_tab_opens_with_what_you_made(run: Running) -> None:
    make(run, "a glass teapot")

    assert run.post("/playground/home") == (200, {"ok": True, "status": 200})

    home = run.until(
        lambda s: s["home"] if s["home"] and "a glass teapot" in json.dumps(s["home"]) else None,
        "the Home tab",
    )
    assert home["blocks"][0]["text"]["text"] == "Your images"


@pytest.mark.spawns
def test_other_messages_are_yours_alone_and_other_commands_are_not_sent(run: Running) -> None:
    status, answer = run.post("/playground/send", {"text": "hello <b>team</b> & friends"})
    assert (status, answer["sent"]) == (200, "message")
    assert run.post("/playground/send", {"text": "/imagin a typo"})[1]["sent"] == "nothing"

    messages = run.state()["messages"]
    mine = next(m for m in messages if m["ts"] == answer["ts"])
    assert (mine["user"], mine["text"]) == ("U0LOCAL", "hello &lt;b&gt;team&lt;/b&gt; &amp; friends")
    slackbot = messages[-1]
    assert (slackbot["user"], slackbot["ephemeral"]) == ("USLACKBOT", True)
    assert slackbot["text"].startswith("/imagin is not a valid command.")


@pytest.mark.spawns
@pytest.mark.parametrize(
    ("origin", "content_type", "host"),
    [
        ("http://evil.example", "application/json", ""),  # another site's page
        (None, "application/json", ""),  # no Origin at all
        ("", "text/plain", ""),  # a simple cross-site form post needs no preflight: refused too
        ("", "application/json", "evil.example"),  # a DNS-rebound name for this address
    ],
)
def test_only_the_page_itself_may_post(
    run: Running, origin: str | None, content_type: str, host: str
) -> None:
    status, answer = run.post(
        "/playground/send",
        {"text": "/imagine a forged tiger"},
        origin=origin,
        content_type=content_type,
        host=host,
    )

    assert status == 403 and answer.get("ok") is not True
    assert "forged" not in json.dumps(run.state())  # no acknowledgement: the app never saw it


@pytest.mark.spawns
def test_the_playground_also_answers_at_localhost(run: Running) -> None:
    port = run.url.rsplit(":", 1)[1]
    status, answer = run.post(
        "/playground/send", {"text": "hi"}, origin=f"http://localhost:{port}", host=f"localhost:{port}"
    )
    assert (status, answer["sent"]) == (200, "message")


# ---- the Slack stand-in's side ----------------------------------------------------------------------------


@pytest.mark.spawns
def test_the_local_image_check_withholds_a_picture_and_tells_only_you_why(run: Running) -> None:
    """`imagine-bot run` checks every image with Rekognition's stand-in, which flags "zombie"."""
    run.post("/playground/send", {"text": "/imagine a zombie in the rain"})

    withheld = run.until(
        lambda s: next((m for m in s["messages"] if "withheld by the image check" in json.dumps(m)), None),
        "the withheld result",
    )
    assert not withheld["ephemeral"] and images(withheld) == []
    note = run.until(
        lambda s: next(
            (m for m in s["messages"] if m["ephemeral"] and "Visually Disturbing" in m["text"]), None
        ),
        "the note to the requester",
    )
    assert "Corpses (93.1%)" in note["text"]


# ---- installed with "Add to Slack" (`imagine-bot run --workspaces`) ------------------------------------


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_run(tmp_path_factory.mktemp("playground-workspaces"), "--workspaces")


def add_to_slack(run: Running, team: str) -> str:
    """A browser installing the app in ``team``: the app's install page sets its state cookie and
    links to Slack's authorize step, which (approved) sends it back to the app's redirect URL with a
    code; the page the install ends on is the app's answer, returned."""

    class Stay(urllib.request.HTTPRedirectHandler):  # each step's redirect, looked at
        def redirect_request(self, *args: Any) -> None:
            return None

    browser = urllib.request.build_opener(Stay)

    def get(url: str, cookie: str = "") -> tuple[int, Any, str]:
        request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
        try:
            with browser.open(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    status, headers, page = get(f"{run.url}/slack/install?team={team}")
    assert status == 200 and "Add to Slack" in page
    cookie = headers["Set-Cookie"].split(";")[0]  # Bolt's state cookie, sent back by this browser only
    [authorize] = re.findall(r'<a href="([^"]+)"', page)
    status, headers, _ = get(authorize.replace("&amp;", "&"))
    assert status == 302 and headers["Location"].startswith(f"{run.url}/slack/oauth_redirect?code=")
    status, _, done = get(headers["Location"], cookie)
    assert status == 200, done
    return done


@pytest.mark.spawns
def test_a_second_workspace_installed_through_add_to_slack_has_its_own_channel_and_bot(
    workspaces: Running,
) -> None:
    """Each of the stand-in's workspaces, shown with whether the app is installed there; Add to
    Slack through the app's own OAuth routes; then the person in Other Workspace uses the bot in
    their #general, mentions it by its bot user there, and sees its Settings on Home as an admin.
    A workspace it is not installed in is answered with a sentence, and sees nothing of another's."""
    other = replace(workspaces, team="T0OTHER")
    before = {w["team"]: w["installed"] for w in other.state()["workspaces"]}
    assert before == {"T0LOCAL": before["T0LOCAL"], "T0OTHER": False}
    status, answer = other.post("/playground/send", {"text": "/imagine a red fox"})
    assert (status, answer["status"]) == (200, 200)
    assert "not installed" in other.until(lambda s: s["messages"], "the answer")[0]["text"]

    done = add_to_slack(workspaces, "T0OTHER")

    assert f'<meta http-equiv="refresh" content="0; URL={workspaces.url}/">' in done  # back to the playground
    assert {w["team"]: w["installed"] for w in other.state()["workspaces"]}["T0OTHER"] is True
    made = make(other, "a red fox at dawn")
    assert other.state()["channel"] == "C0OTHER"
    click(other, made, "Re-roll")
    assert other.until(lambda s: s["threads"].get(made["ts"]), "the re-roll in Other Workspace's thread")
    status, answer = other.post(
        "/playground/send", {"text": "@imagine + in the snow", "thread_ts": made["ts"]}
    )
    assert (status, answer["sent"], answer["status"]) == (200, "mention", 200)
    [mine] = [m for m in other.state()["threads"][made["ts"]] if m["ts"] == answer["ts"]]
    assert mine["text"] == "<@U0BOTOTHER> + in the snow"  # the app's bot user in that workspace
    assert other.until(result_for("a red fox at dawn, in the snow"), "the mention's result")
    other.post("/playground/home")
    home = other.until(lambda s: s["home"], "Other Workspace's Home tab")
    assert "Settings" in json.dumps(home["blocks"])  # its installer is an admin there
    local = workspaces.state()
    assert local["team"] == "T0LOCAL" and "a red fox" not in json.dumps(local["messages"])


def test_a_persons_message_is_not_the_bots_to_update_or_delete(slack: SlackRecorder) -> None:
    ts = slack.post_as_person("C0LOCAL", "mine")
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C0LOCAL", ts=ts, text="edited")
    assert refused.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as refused:
        client.chat_delete(channel="C0LOCAL", ts=ts)
    assert refused.value.response["error"] == "cant_delete_message"
    assert slack.message("C0LOCAL", ts) == {"text": "mine", "channel": "C0LOCAL", "user": "U0LOCAL"}


def test_response_urls_show_where_their_interaction_happened(slack: SlackRecorder) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    root = client.chat_postMessage(channel="C0LOCAL", text="a result")["ts"]
    clicked = WebhookClient(slack.response_url("click", user="U0LOCAL", channel="C0LOCAL", message_ts=root))
    command = WebhookClient(slack.response_url("command", user="U0LOCAL", channel="C0LOCAL"))

    assert clicked.send(text="only you", replace_original=False).status_code == 200
    assert command.send(text="for all", response_type="in_channel").status_code == 200
    assert command.send(text="for all, edited", replace_original=True).status_code == 200
    client.chat_postEphemeral(channel="C0LOCAL", user="U0OTHER", text="not for you")

    assert [(said.message["text"], said.ephemeral) for said in slack.conversation("U0LOCAL")] == [
        ("a result", False),
        ("only you", True),
        ("for all, edited", False),
    ]
    assert clicked.send_dict({"delete_original": True}).status_code == 200
    assert [said.message["text"] for said in slack.conversation("U0LOCAL")] == ["only you", "for all, edited"]


def test_a_submissions_acknowledgement_does_to_the_modal_what_slack_does(slack: SlackRecorder) -> None:
    client = WebClient(token="xoxb-test", base_url=slack.api_url)

    def modal(title: str) -> dict[str, Any]:
        said = {"type": "section", "text": {"type": "plain_text", "text": title}}
        return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": [said]}

    def stack() -> list[tuple[str, str]]:
        return [(v.id, v.view["title"]["text"]) for v in slack.modal_stack("U0LOCAL")]

    root = client.views_open(trigger_id=slack.trigger_id("U0LOCAL"), view=modal("First"))["view"]

    assert slack.submitted("U0LOCAL", root["id"], {"response_action": "push", "view": modal("Second")}) == {}
    [_, (pushed, _)] = stack()
    assert slack.submitted("U0LOCAL", root["id"], {}) == {"ok": False, "error": "not_found"}  # not on top
    assert (
        slack.submitted("U0LOCAL", pushed, {"response_action": "update", "view": modal("Second, again")})
        == {}
    )
    assert stack() == [(root["id"], "First"), (pushed, "Second, again")]
    assert slack.submitted("U0LOCAL", pushed, {"response_action": "errors", "errors": {"b": "no"}}) == {}
    assert len(stack()) == 2
    assert slack.submitted("U0LOCAL", pushed, {"response_action": "update", "view": {"type": "modal"}})[
        "error"
    ] == ("invalid_arguments")
    assert slack.submitted("U0LOCAL", pushed, {}) == {}  # a plain acknowledgement: back to the first
    assert stack() == [(root["id"], "First")]
    slack.submitted("U0LOCAL", root["id"], {"response_action": "push", "view": modal("Second")})
    assert slack.submitted("U0LOCAL", stack()[-1][0], {"response_action": "clear"}) == {}
    assert stack() == []
