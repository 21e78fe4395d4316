"""`imagine-bot dev` (`make dev`) over the real Socket Mode protocol, run as a user runs it.

The bot is a subprocess talking to the Slack stand-ins: the Web API recorder (as SLACK_API_URL)
with the Socket Mode stand-in's apps.connections.open plugged in, and the stand-in's WebSocket
server. One dev process serves the module's protocol tests, in order: a command, a refreshed
connection, then Ctrl-C. The token checks run their own short-lived processes; they stop before
anything starts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.local.manifest import MANIFEST, socket_mode
from bot.local.slack.files import SharedFile
from bot.local.slack.recorder import SlackRecorder
from bot.local.slack.socket_mode import SocketModeStandIn
from tests.conftest import environ_without_settings

ROOT = Path(__file__).resolve().parents[2]
# Besides the settings, what an outer make may carry, and proxies, which would take the bot's
# WebSocket (slack_sdk reads HTTPS_PROXY) away from 127.0.0.1.
FOREIGN = ("PORT", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
APP_TOKEN = "xapp-1-A0LOCAL-1-" + "5" * 13 + "-" + "c" * 64
BOT_TOKEN = "xoxb-1-" + "7" * 12 + "-" + "d" * 24
USER_TOKEN = "xoxp-1-" + "8" * 12 + "-" + "e" * 24
ACK_DEADLINE = 3.0  # seconds: Slack shows the person an error when a command is not acked in time
JPEG = b"\xff\xd8\xff"


def _env(**settings: str) -> dict[str, str]:
    env = environ_without_settings(*FOREIGN)
    return env | {"PYTHONPATH": str(ROOT)} | settings


def _dev_command() -> list[str]:
    return [sys.executable, "-m", "bot.local.cli", "dev"]


def _until(done: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = done()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@dataclass
class Dev:
    process: subprocess.Popen[bytes]
    recorder: SlackRecorder
    socket_mode: SocketModeStandIn
    cwd: Path

    def stdout(self) -> str:
        return (self.cwd / "stdout.txt").read_text()

    def stderr(self) -> str:
        return (self.cwd / "stderr.txt").read_text()

    def shared_in(self, channel: str) -> list[SharedFile]:
        return [f for f in self.recorder.files if f.channel_id == channel]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    recorder = SlackRecorder().start()
    stand_in = SocketModeStandIn().start()
    stand_in.attach(recorder)
    cwd = tmp_path_factory.mktemp("dev")
    # The tokens come from .env alone: the environment names neither.
    (cwd / ".env").write_text(f"SLACK_APP_TOKEN={APP_TOKEN}\nSLACK_BOT_TOKEN={BOT_TOKEN}\n")
    with (cwd / "stdout.txt").open("wb") as out, (cwd / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            _dev_command(),
            cwd=cwd,
            env=_env(SLACK_API_URL=recorder.api_url, PORT="0"),
            stdout=out,
            stderr=err,
        )
    running = Dev(process, recorder, stand_in, cwd)
    try:
        started = _until(lambda: "Ctrl-C stops" in running.stdout() or process.poll() is not None, 90)
        if process.poll() is not None or not started:
            pytest.fail(f"`imagine-bot dev` did not start:\n{running.stdout()}\n{running.stderr()}")
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        stand_in.stop()
        recorder.stop()


def _command_lands(dev: Dev, prompt: str, name: str) -> tuple[float, dict[str, Any], SharedFile]:
    """Push ``/imagine prompt``: how long its ack took, the ack's payload, the file it became."""
    before = len(dev.shared_in("C0LOCAL"))
    envelope = dev.socket_mode.push_command(prompt, response_url=dev.recorder.response_url(name))
    ack = dev.socket_mode.wait_for_ack(envelope, timeout=30)
    assert ack is not None, f"no ack for the command\n{dev.stderr()}"
    assert ack.payload is not None
    landed = _until(lambda: len(dev.shared_in("C0LOCAL")) > before, 90, every=0.3)
    assert landed, f"no image was uploaded into the channel\n{dev.stderr()}"
    return ack.seconds, ack.payload, dev.shared_in("C0LOCAL")[-1]


@pytest.mark.spawns
def test_dev_says_where_it_is_connected_and_how_to_stop(dev: Dev) -> None:
    said = dev.stdout()
    assert "imagine is connected to Local Workspace (https://local.slack.com) over Socket Mode" in said
    assert "the placeholder backend" in said
    assert "type /imagine in Slack; Ctrl-C stops" in said
    assert APP_TOKEN not in said + dev.stderr() and BOT_TOKEN not in said + dev.stderr()
    # One apps.connections.open: the token check's URL is the one the connection used.
    assert dev.socket_mode.opens == 1
    assert len(dev.recorder.calls_to("apps.connections.open")) == 1
    assert len(dev.socket_mode.connections) == 1


@pytest.mark.spawns
def test_a_command_is_acked_within_3_seconds_queued_and_its_image_uploaded(dev: Dev) -> None:
    seconds, payload, shared = _command_lands(dev, "a lighthouse at dusk --seed 3", "dev-1")

    assert seconds < ACK_DEADLINE
    assert payload["text"] == "Queued: a lighthouse at dusk"  # the reply Slack shows the person
    assert payload.get("response_type", "ephemeral") == "ephemeral"
    # The worker took the job from the queue and delivered it as a file (IMAGE_DELIVERY=upload).
    assert shared.data.startswith(JPEG)
    assert shared.title.startswith("a lighthouse at dusk")
    assert not [c for c in dev.recorder.snapshot() if c.method.startswith("chat.") and not c.ok]
    # hello was taken as a greeting: nothing came back for it, and the connection carried on.
    assert dev.socket_mode.stray_acks == []
    assert [link.closed_at for link in dev.socket_mode.connections] == [None]


@pytest.mark.spawns
def test_a_refreshed_connection_is_replaced_and_keeps_working(dev: Dev) -> None:
    old = dev.socket_mode.refresh(grace=1.0)

    assert dev.socket_mode.wait_for_connections(2, timeout=30), dev.stderr()
    assert dev.socket_mode.wait_until_closed(old, timeout=30)
    # A new URL from apps.connections.open, then a new socket on it.
    assert dev.socket_mode.opens == 2
    assert len(dev.recorder.calls_to("apps.connections.open")) == 2
    assert [link.number for link in dev.socket_mode.open_links()] == [2]

    seconds, payload, shared = _command_lands(dev, "a paper crane --seed 5", "dev-2")

    assert seconds < ACK_DEADLINE
    assert dev.socket_mode.acks[-1].connection == 2
    assert payload["text"] == "Queued: a paper crane"
    assert shared.data.startswith(JPEG) and shared.title.startswith("a paper crane")
    assert dev.socket_mode.stray_acks == []


@pytest.mark.spawns
def test_ctrl_c_stops_everything_and_says_so(dev: Dev) -> None:
    dev.process.send_signal(signal.SIGINT)
    code = dev.process.wait(timeout=60)

    said = dev.stdout().strip().splitlines()
    assert code == 0, dev.stderr()
    assert said[-1].startswith(
        "stopped: the local worker, the Socket Mode connection, moto and the image server on "
    )
    assert "Traceback" not in dev.stdout() + dev.stderr()
    assert dev.socket_mode.wait_until_closed(dev.socket_mode.connections[-1], timeout=10)


# ---- tokens: one sentence, exit 1, nothing started ---------------------------------------------

APP_WHERE = "api.slack.com/apps → your app → Basic Information → App-Level Tokens"
BOT_WHERE = "api.slack.com/apps → your app → OAuth & Permissions"


def _dev_once(cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _dev_command(), cwd=cwd, env=_env(**settings), capture_output=True, text=True, timeout=60, check=False
    )


def _one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for token in (APP_TOKEN, BOT_TOKEN, USER_TOKEN):
        assert token not in done.stdout + done.stderr
    return lines[0]


@pytest.fixture
def slack_api() -> Iterator[SlackRecorder]:
    """The Web API stand-in with apps.connections.open: a workspace where the tokens work."""
    recorder = SlackRecorder().start()
    stand_in = SocketModeStandIn().start()
    stand_in.attach(recorder)
    yield recorder
    stand_in.stop()
    recorder.stop()


@pytest.mark.spawns
@pytest.mark.parametrize(
    ("tokens", "said"),
    [
        ({}, ["SLACK_APP_TOKEN is not set", APP_WHERE, "connections:write"]),
        (
            {"SLACK_APP_TOKEN": BOT_TOKEN},
            [
                "SLACK_APP_TOKEN is a bot token, not an app-level token (xapp-…)",
                APP_WHERE,
                "connections:write",
            ],
        ),
        ({"SLACK_APP_TOKEN": "not-a-token"}, ["SLACK_APP_TOKEN is not a Slack token", APP_WHERE]),
        ({"SLACK_APP_TOKEN": APP_TOKEN}, ["SLACK_BOT_TOKEN is not set", BOT_WHERE, "Bot User OAuth Token"]),
        (
            {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": APP_TOKEN},
            ["SLACK_BOT_TOKEN is an app-level token, not a bot token (xoxb-…)", BOT_WHERE],
        ),
        (
            {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": USER_TOKEN},
            ["SLACK_BOT_TOKEN is a user token, not a bot token (xoxb-…)", BOT_WHERE],
        ),
    ],
)
def test_a_missing_or_wrong_kind_of_token_is_one_sentence(
    tmp_path: Path, tokens: dict[str, str], said: list[str]
) -> None:
    line = _one_sentence(_dev_once(tmp_path, **tokens))

    for part in said:
        assert part in line


@pytest.mark.spawns
@pytest.mark.parametrize(
    ("method", "error", "said"),
    [
        ("auth.test", "invalid_auth", ["Slack refused SLACK_BOT_TOKEN (invalid_auth)", BOT_WHERE]),
        (
            "auth.test",
            "account_inactive",
            ["SLACK_BOT_TOKEN no longer works (account_inactive", "reinstall", BOT_WHERE],
        ),
        ("auth.test", "token_revoked", ["SLACK_BOT_TOKEN no longer works (token_revoked", BOT_WHERE]),
        (
            "apps.connections.open",
            "invalid_auth",
            ["Slack refused SLACK_APP_TOKEN (invalid_auth)", APP_WHERE],
        ),
        (
            "apps.connections.open",
            "missing_scope",
            ["SLACK_APP_TOKEN lacks the connections:write scope (missing_scope)", APP_WHERE],
        ),
        (
            "apps.connections.open",
            "not_allowed_token_type",
            ["SLACK_APP_TOKEN is not an app-level token (not_allowed_token_type)", APP_WHERE],
        ),
    ],
)
def test_a_token_slack_refuses_is_one_sentence(
    tmp_path: Path, slack_api: SlackRecorder, method: str, error: str, said: list[str]
) -> None:
    slack_api.fail(method, error=error)

    line = _one_sentence(
        _dev_once(
            tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack_api.api_url
        )
    )

    for part in said:
        assert part in line
    assert slack_api.calls_to(method)[-1].error == error


@pytest.mark.spawns
def test_slack_out_of_reach_is_one_sentence(tmp_path: Path) -> None:
    closed = SlackRecorder().start()
    api_url = closed.api_url
    closed.stop()  # nothing answers there now

    line = _one_sentence(
        _dev_once(tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=api_url)
    )

    assert line.startswith(f"could not reach Slack at {api_url} (")
    assert line.endswith("check SLACK_API_URL")


@pytest.mark.spawns
def test_a_connection_that_will_not_open_is_said_in_the_last_line(tmp_path: Path) -> None:
    recorder = SlackRecorder().start()
    stand_in = SocketModeStandIn(refuse_handshakes=True).start()
    stand_in.attach(recorder)
    try:
        done = _dev_once(
            tmp_path,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_API_URL=recorder.api_url,
            PORT="0",
        )
    finally:
        stand_in.stop()
        recorder.stop()

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    # slack_sdk logs each refused handshake; the last line says what to do.
    assert done.stderr.splitlines()[-1].startswith("the Socket Mode connection did not open")
    assert "Ctrl-C stops" not in done.stdout
    assert stand_in.connections == []


@pytest.mark.spawns
def test_dotenv_is_read_when_the_environment_names_no_token(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"# from api.slack.com\nSLACK_APP_TOKEN={USER_TOKEN}\n")

    line = _one_sentence(_dev_once(tmp_path))

    assert line.startswith("SLACK_APP_TOKEN is a user token, not an app-level token")


@pytest.mark.spawns
def test_the_environment_wins_over_dotenv(tmp_path: Path, slack_api: SlackRecorder) -> None:
    # .env's tokens are the wrong kind; the environment's are right, and Slack takes the app's.
    (tmp_path / ".env").write_text(f"SLACK_APP_TOKEN={BOT_TOKEN}\nSLACK_BOT_TOKEN={USER_TOKEN}\n")
    slack_api.fail("auth.test", error="token_revoked")

    line = _one_sentence(
        _dev_once(
            tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack_api.api_url
        )
    )

    assert line.startswith("Slack says SLACK_BOT_TOKEN no longer works (token_revoked")


# ---- the stand-in refuses what Slack refuses -----------------------------------------------------


def test_apps_connections_open_takes_only_an_app_level_token(slack_api: SlackRecorder) -> None:
    for token, error in (
        (BOT_TOKEN, "not_allowed_token_type"),
        (USER_TOKEN, "not_allowed_token_type"),
        ("nonsense", "invalid_auth"),
    ):
        web = WebClient(base_url=slack_api.api_url)
        with pytest.raises(SlackApiError) as refused:
            web.apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    url = WebClient(base_url=slack_api.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith("ws://127.0.0.1:") and "/link/?ticket=" in url


# ---- the manifest -------------------------------------------------------------------------------


def _without_urls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_urls(v) for k, v in node.items() if k not in ("url", "request_url")}
    if isinstance(node, list):
        return [_without_urls(item) for item in node]
    return node


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for item in node for k in _keys(item)}
    return set()


def test_the_socket_mode_manifest_has_socket_mode_on_and_no_request_url() -> None:
    text = socket_mode()
    manifest = yaml.safe_load(text)
    original = yaml.safe_load(MANIFEST.read_text())

    assert manifest["settings"]["socket_mode_enabled"] is True
    assert not {"url", "request_url"} & _keys(manifest)
    assert "imagine.invalid" not in text
    # Everything else is as manifest.yml has it: commands, events, interactivity, scopes.
    expected = _without_urls(original)
    expected["settings"]["socket_mode_enabled"] = True
    del expected["oauth_config"]["redirect_urls"]  # no "Add to Slack": it serves the one workspace
    assert manifest == expected
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "app_mention", "app_home_opened", "app_uninstalled", "tokens_revoked",
    ]  # fmt: skip
    # ... comments too: each one of the original's end-of-line notes is still there (but the
    # redirect URL's, which goes with it).
    notes = [line.split(" # ", 1)[1] for line in MANIFEST.read_text().splitlines()
             if " # " in line and "redirect_urls" not in line]  # fmt: skip
    assert notes and all(note in text for note in notes)


@pytest.mark.spawns
def test_imagine_bot_manifest_socket_mode_prints_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.local.cli", "manifest", "--socket-mode"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["settings"]["socket_mode_enabled"] is True
    assert (tmp_path / "imagine-out" / "manifest.yml").read_text() == socket_mode()


def test_a_manifest_of_another_shape_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="placeholder request URL"):
        socket_mode(MANIFEST.read_text().replace("      url: https://imagine.invalid/slack/events\n", ""))
