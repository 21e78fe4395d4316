"""The local stack's commands, run as a user runs them: `imagine-bot demo`, `run` and `send`."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.blocks import messages
from bot.local.server import LocalServer
from tests.conftest import environ_without_settings

ROOT = Path(__file__).resolve().parents[2]
# What an outer make (`make test`) or the caller's shell would otherwise hand to the make we run.
MAKE_ONLY = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PROMPT", "PORT")


def _clean_env() -> dict[str, str]:
    """The environment of someone with no AWS account and no Slack workspace."""
    return environ_without_settings(*MAKE_ONLY)


def _make(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``make`` in the repository, as a user types it (the virtualenv is installed only if stale)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run(
        [make, "--no-print-directory", "-C", str(ROOT), *args],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.local.cli", *args],
        cwd=cwd,
        env=_clean_env() | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.spawns
def test_demo_walks_the_whole_path_from_a_command_to_a_deleted_link(tmp_path: Path) -> None:
    """`imagine-bot demo`, as `make demo` runs it: the command, its result with buttons, a
    re-roll in the thread, an upscale and a subtle variation of the re-roll's first image, a
    mention refining the newest result, a share to the channel, a delete whose links then answer
    410 Gone (RFC 9110 section 15.5.11), and a prompt in Chinese drawn from its English."""
    done = _cli("demo", "a", "paper", "crane", "--ar", "3:2", "--n", "2", cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert '"_aws"' not in out  # no raw CloudWatch metric (EMF) lines in the demo's output
    # 1. the command, and Slack's ephemeral acknowledgement
    assert "\n/imagine a paper crane --ar 3:2 --n 2\n-> HTTP 200, ephemeral: Queued: a paper crane\n" in out
    # 2. its result in the channel, with the buttons as posted, and its images
    assert "the bot posted (chat.update): Imagined: a paper crane\n" in out
    assert "\n  buttons (image 1): Re-roll 1 · Variations 1 · Edit 1\n" in out
    assert "\n  buttons (image 2): Re-roll 2 · Variations 2 · Edit 2\n" in out
    assert "\n  buttons: Re-roll · Variations · Edit · Share · Delete\n" in out
    for n in (1, 2):  # the image operations, on the placeholder, under each image
        labels = " · ".join(
            f"{kind} {n}" for kind in ("Upscale", "Vary (Subtle)", "Vary (Strong)", "Zoom Out")
        )
        assert f"\n  buttons (image {n}): {labels} · Change… {n}\n" in out
    links = re.findall(r"^stable link: (http://127\.0\.0\.1:\d+/images/\S+)$", out, re.MULTILINE)
    assert len(links) == 3  # the result's two, and the Chinese prompt's (step 9)
    links = links[:2]
    saved = sorted(tmp_path.glob("imagine-out/*/*.jpg"))
    assert sorted(p.name for p in saved) == ["0.jpg", "0.jpg", "1.jpg"]
    assert all(p.read_bytes().startswith(b"\xff\xd8\xff") for p in saved)
    original = re.search(r"Imagined: a paper crane\n  624×416 \(3:2\) · seed (\d+) · .* · 2 images", out)
    assert original
    # where the job's time went, from the job's record (the worker's own timings)
    named = ("queued", "rendering", "checking", "storing", "posting")
    went = " · ".join(rf"{step} \d+ ms" for step in named)
    assert re.search(rf"\nwhere the time went: {went}\n", out), out
    # 3. Re-roll: the same request with a new seed, in the result's thread
    reroll = re.search(
        r"^click Re-roll -> HTTP 200; in the thread \(chat\.update\): Imagined: a paper crane\n"
        r"  624×416 \(3:2\) · seed (\d+) · .* · 2 images",
        out,
        re.MULTILINE,
    )
    assert reroll and reroll[1] != original[1]
    # 4. and 5. Upscale and Vary (Subtle) on the re-roll's first image, each in the same thread
    assert re.search(
        r"^click Upscale on the re-roll -> HTTP 200; in the thread: "
        r"<@U0LOCAL>: Upscaled 4× from image 1 of \*a paper crane\*\n  2496×1664 \(3:2\) · seed \d+ · ",
        out,
        re.MULTILINE,
    )
    varied = re.search(
        r"^click Vary \(Subtle\) on the re-roll -> HTTP 200; in the thread: "
        r"<@U0LOCAL>: Varied \(subtle\) from image 1 of \*a paper crane\*\n"
        r"  624×416 \(3:2\) · seed (\d+) · 2 images",
        out,
        re.MULTILINE,
    )
    assert varied
    # 6. a mention in the thread refines its newest result (the variation) from its prompt: "+" adds
    # to the prompt, --ar changes only the shape, and the variation's seed is kept
    assert re.search(
        r"^@imagine \+ at sunset --ar 9:16 \(in the thread\) -> HTTP 200; in the thread: "
        rf"Imagined: a paper crane, at sunset\n  384×680 \(9:16\) · seed {varied[1]} · .* · 2 images",
        out,
        re.MULTILINE,
    )
    # 7. Share on the re-roll posts it in the channel, with a permalink back into the thread
    assert re.search(
        r"^click Share on the re-roll -> HTTP 200; in the channel \(chat\.postMessage\): "
        r"<@U0LOCAL> shared: a paper crane\n"
        r"  links back: https://local\.slack\.com/archives/C0LOCAL/p\d+\?thread_ts=\d+\.\d+&cid=C0LOCAL$",
        out,
        re.MULTILINE,
    )
    # 8. Delete on the first result, by its requester: gone, and its links answer 410 Gone
    assert "\nclick Delete on the first result -> HTTP 200; gone from the channel (chat.delete)\n" in out
    deleted = out.split("\nclick Delete on the first result")[1].split("\n/imagine")[0]
    assert [f"  GET {link} -> 410 Gone" for link in links] == deleted.rstrip("\n").splitlines()[-2:]
    # 9. a prompt in Chinese, drawn from its English (Translate's stand-in), shown as typed
    assert (
        "\n/imagine 一只赛博朋克风格的老虎 --seed 9\n-> HTTP 200, ephemeral: Queued: 一只赛博朋克风格的老虎\n"
        in out
    )
    assert (
        "Imagined: 一只赛博朋克风格的老虎\n  512×512 (1:1) · seed 9 · 30 steps · cfg 7.5 · translated from "
        in out
    )
    assert "translated from Chinese: a tiger in cyberpunk style · rendered in" in out
    steps = [
        "\n/imagine ",
        "\n  buttons: ",
        "\nclick Re-roll",
        "\nclick Upscale",
        "\nclick Vary (Subtle)",
        "\n@imagine ",
        "\nclick Share",
        "\nclick Delete",
        "\n/imagine 一只",
    ]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)  # in order


@pytest.mark.spawns
def test_demo_names_the_step_that_did_not_happen_and_what_the_bot_said(tmp_path: Path) -> None:
    """Two images a day: the command and the re-roll get one each, the upscale is refused."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.local.cli", "demo", "a", "fox"],
        cwd=tmp_path,
        env=_clean_env() | {"PYTHONPATH": str(ROOT), "DAILY_IMAGES_PER_USER": "2"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1
    assert "\nclick Re-roll -> HTTP 200; in the thread" in done.stdout
    assert "click Share" not in done.stdout and "click Delete" not in done.stdout
    [said] = done.stderr.strip().splitlines()
    assert said.startswith("demo step 4 (upscale) failed: no result landed in the thread (the bot said: ")
    assert "You have used 2 of your 2 images today" in said
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.spawns
def test_run_serves_until_stopped_and_send_shows_the_result(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.local.cli", "run"],  # the port from PORT, as `make run PORT=…` sets it
        cwd=tmp_path,
        env=_clean_env() | {"PYTHONPATH": str(ROOT), "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "imagine-out" / "local.json").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"`imagine-bot run` did not start: {server.stdout.read() if server.stdout else ''}"
                )
            time.sleep(0.2)

        sent = _cli("send", "a", "lighthouse", "--seed", "3", cwd=tmp_path, timeout=60)

        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "HTTP 200: Queued: a lighthouse" in sent.stdout
        assert "seed 3" in sent.stdout
        assert f"stable link: http://127.0.0.1:{port}/images/" in sent.stdout
        assert list(tmp_path.glob("imagine-out/*/0.jpg"))
    finally:
        server.terminate()
        server.wait(timeout=20)


# Each of these broke `make demo PROMPT=…` when make handed the prompt to the shell unquoted:
# a redirection, a syntax error, a second command, a glob; and make itself expanded the `$`s.
HOSTILE_PROMPTS = [
    "<!channel> tiger",
    "it's a tiger",
    "a; echo INJECTED",
    "a *",
    "cost $5 $(whoami) $$HOME ${USER} `id` \\ done",
]


@pytest.mark.spawns
def test_make_demo_hands_the_prompt_over_verbatim() -> None:
    for prompt in HOSTILE_PROMPTS:
        done = _make("demo", f"PROMPT={prompt}")
        try:
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"\n/imagine {prompt}\n-> HTTP 200" in done.stdout, done.stdout
            shown = messages.escape(prompt)
            assert f"Queued: {shown}\n" in done.stdout
            assert f"the bot posted (chat.update): Imagined: {shown}\n" in done.stdout
            assert "\nINJECTED\n" not in f"\n{done.stdout}"
        finally:
            for line in done.stdout.splitlines():  # the demo saves its images in the repository
                if line.strip().startswith("saved:"):
                    shutil.rmtree(ROOT / Path(line.split()[1]).parent, ignore_errors=True)


@pytest.mark.spawns
def test_make_run_on_a_taken_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _make("run", f"PORT={port}", timeout=60)

    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(said) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is not available" in said[0]
    assert "make run PORT=" in said[0]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.spawns
def test_send_after_the_server_was_killed_says_so_in_one_line(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.local.cli", "run", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env() | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "imagine-out" / "local.json").exists():
            assert server.poll() is None and time.monotonic() < deadline, "`imagine-bot run` did not start"
            time.sleep(0.2)
    finally:
        server.kill()  # SIGKILL: no clean-up, the state file stays behind
        server.wait(timeout=20)

    sent = _cli("send", "a", "tiger", cwd=tmp_path, timeout=60)

    assert sent.returncode == 1
    assert "Traceback" not in sent.stderr
    assert sent.stderr.splitlines() == [
        f"no local server answers at http://127.0.0.1:{port} (Connection refused): "
        "start one with `make run` (or `imagine-bot run`)"
    ]


def _status(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_the_local_server_answers_503_until_the_stack_is_ready() -> None:
    server = LocalServer().start()
    try:
        status, headers = _status(f"{server.url}/favicon.ico")
        assert (status, headers.get("Retry-After")) == (503, "1")

        server.ready()
        assert _status(f"{server.url}/favicon.ico")[0] == 404  # now http_handler answers
    finally:
        server.stop()


@pytest.mark.parametrize(
    "half",
    [
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",  # headers cut short
        b"POST /slack/events HTTP/1.1\r\nContent-Length: 100\r\n\r\ntoken=",  # body cut short
    ],
)
def test_half_a_request_is_dropped_and_others_are_still_answered(half: bytes) -> None:
    server = LocalServer(read_timeout=0.5).start().ready()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(half)
            assert _status(f"{server.url}/favicon.ico")[0] == 404  # meanwhile, others are answered
            client.settimeout(30)  # only a safety net: without a read timeout recv waits forever
            assert client.recv(1024) == b""  # the server closed the connection, unanswered
    finally:
        server.stop()


def test_sweep_without_the_notifiers_settings_says_which_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.local.cli import main
    from bot.services import reset_process_services
    from tests.conftest import clear_settings

    clear_settings(monkeypatch)
    reset_process_services()
    try:
        assert main(["sweep"]) == 1
    finally:
        reset_process_services()
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.strip().splitlines() == [
        "imagine-bot sweep: SLACK_SIGNING_SECRET is not set (the sweep reads the notifier's settings)"
    ]
