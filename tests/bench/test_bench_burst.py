"""The burst benchmark's harness (bench/burst.py) counts what really happened: a small burst
through the real entry points comes out whole, and a lost command, a refused one and a result
posted twice, each made the way it would happen, are each counted as such."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bench import burst
from bench.stack import servers
from bot.handlers import http_handler
from bot.local.lambda_context import HTTP_RESOURCE, LocalContext
from bot.local.server import to_event
from bot.local.signing import command_body, signed_headers
from bot.services import reset_process_services

pytestmark = pytest.mark.spawns  # bench/stack.py starts moto and the recorder as processes
COMMANDS = 20


@pytest.fixture
def stack() -> Iterator[dict[str, str]]:
    """The benchmark's own servers (bench/stack.py), as `make bench` runs them; the environment
    they set is put back afterwards."""
    saved = dict(os.environ)
    try:
        with servers(dynamodb_apart=True) as env:
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_process_services()


def _command(prompt: str, *, stamp: int | None = None) -> burst.Ack:
    """``/imagine prompt`` through http_handler, signed at ``stamp`` (now if None), as an Ack."""
    body = command_body(prompt, team_id=burst.TEAM, channel_id="C0BURST00", user_id="U0BURST000")
    headers = signed_headers(os.environ["SLACK_SIGNING_SECRET"], body, stamp)
    sent_at = time.time()
    response = http_handler(to_event("POST", "/slack/events", headers, body.encode()),
                            LocalContext("imagine-http", resource=HTTP_RESOURCE))  # fmt: skip
    return burst.Ack(-1, prompt, sent_at, time.time() - sent_at, int(response["statusCode"]),
                     burst._answer_text(response))  # fmt: skip


def test_a_small_burst_is_counted_whole_and_each_fault_is_counted(stack: dict[str, str]) -> None:
    run, calls = burst.burst(commands=COMMANDS, span=1.0, workers=2, delay=0.05)
    shutil.rmtree(run.logs)

    posted = burst.results(calls)
    counted = burst.tally(run.acks, posted, run.renders)
    assert counted.problems == []
    assert (counted.acked, counted.lost, counted.duplicated) == (COMMANDS, [], [])
    prompts = {command.prompt for command in burst.plan(COMMANDS, 1.0)}
    assert {ack.prompt for ack in run.acks} == prompts
    assert run.renders == Counter(dict.fromkeys(prompts, 1))
    assert sorted(result.prompt for result in posted) == sorted(prompts)
    assert all(result.images == 1 and len(result.job_ids) == 1 for result in posted)
    assert run.drained and run.dead_lettered == 0

    # Queued after the workers stopped: acknowledged, never rendered, so lost.
    late = _command("burst 99 a lighthouse after the storm")
    assert late.queued
    # Signed ten minutes ago: Bolt refuses it (a replay, as Slack documents), so not acknowledged.
    stale = _command("burst 98 a lighthouse long ago", stamp=int(time.time()) - 600)
    assert not stale.queued
    # One result posted a second time, through the Web API, as a worker posting twice would.
    again = next(
        call for call in calls if call["method"] == "chat.update" and "Imagined" in call["args"]["text"]
    )
    client = WebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"])
    client.chat_postMessage(channel=again["args"]["channel"], text=again["args"]["text"],
                            blocks=again["args"]["blocks"])  # fmt: skip

    recounted = burst.tally(
        [*run.acks, late, stale],
        burst.results(burst.recorded_calls(os.environ["SLACK_API_URL"])),
        run.renders,
    )
    doubled = again["args"]["text"].removeprefix("Imagined: ")
    assert recounted.acked == COMMANDS + 1
    assert recounted.lost == [late.prompt]
    assert recounted.duplicated == [doubled]
    assert len(recounted.problems) == 3
    assert "1 commands not acknowledged as queued (first: HTTP 401" in recounted.problems[0]
