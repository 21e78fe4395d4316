"""The local stack's commands, run as a user runs them: `imagine-bot demo`, `run` and `send`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

LOCAL_ONLY = ("AWS_", "SLACK_", "SAGEMAKER_", "IMAGE_", "JOBS_", "LINK_", "PUBLIC_BASE_URL")


def _clean_env() -> dict[str, str]:
    """The environment of someone with no AWS account and no Slack workspace."""
    return {k: v for k, v in os.environ.items() if not k.startswith(LOCAL_ONLY)}


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.local.cli", *args],
        cwd=cwd,
        env=_clean_env() | {"PYTHONPATH": str(Path(__file__).parents[1])},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_turns_a_signed_command_into_a_saved_image(tmp_path: Path) -> None:
    done = _cli("demo", "a", "paper", "crane", "--ar", "3:2", "--n", "2", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Queued: a paper crane" in done.stdout
    assert "the bot posted (chat.update): Imagined: a paper crane" in done.stdout
    assert done.stdout.count("stable link: http://127.0.0.1:") == 2
    saved = sorted(tmp_path.glob("imagine-out/*/*.jpg"))
    assert [p.name for p in saved] == ["0.jpg", "1.jpg"]
    assert all(p.read_bytes().startswith(b"\xff\xd8\xff") for p in saved)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_run_serves_until_stopped_and_send_shows_the_result(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.local.cli", "run", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env() | {"PYTHONPATH": str(Path(__file__).parents[1])},
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
