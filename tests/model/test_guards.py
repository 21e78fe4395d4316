"""Guards for the GPU, through http_handler: quotas, allowlists and blocked terms."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from bot.model.guards import Guards, blocked_term, describe_reset, place_refusal, quota_day
from bot.services import process_services, reset_process_services
from tests.conftest import Stack, ack_json, call_http, command_event


def _use(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_services()


def test_fifty_simultaneous_commands_against_a_quota_of_ten_accept_exactly_ten(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, DAILY_IMAGES_PER_USER="10")
    process_services()  # build once, before the threads race
    events = [command_event(f"a cyborg tiger number {n}", trigger_id=f"trigger-{n}") for n in range(50)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        acks = list(pool.map(lambda event: ack_json(call_http(event)), events))
    accepted = [a for a in acks if str(a["text"]).startswith("Queued")]
    refused = [a for a in acks if "of your 10 images today" in str(a["text"])]
    assert len(accepted) == 10
    assert len(refused) == 40
    queued = []
    while batch := env.receive():
        queued += batch
        for message in batch:
            env.services.sqs.delete_message(
                QueueUrl=env.resources.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    assert len(queued) == 10


def test_a_refusal_says_what_remains_and_when_it_resets(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, DAILY_IMAGES_PER_USER="6")
    assert ack_json(call_http(command_event("a tiger --n 4")))["text"].startswith("Queued")  # counts 4
    refusal = ack_json(call_http(command_event("a tiger --n 4")))
    assert refusal["response_type"] == "ephemeral"
    assert re.search(
        r"used 4 of your 6 images today, and this request needs 4 images; 2 left", refusal["text"]
    )
    assert re.search(r"resets at 00:00 UTC \(in \d+ h \d+ min\)", refusal["text"])
    assert len(env.queued_bodies()) == 1
    assert ack_json(call_http(command_event("a tiger --n 2")))["text"].startswith("Queued")  # exactly fits


@pytest.mark.parametrize("limit", ["DAILY_IMAGES_PER_USER", "DAILY_IMAGES_PER_WORKSPACE"])
def test_a_first_request_larger_than_a_whole_days_quota_is_refused(
    env: Stack, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    _use(monkeypatch, **{limit: "1"})
    refusal = ack_json(call_http(command_event("a tiger --n 2")))
    assert "this request needs 2 images; 1 left" in refusal["text"]
    assert env.queued_bodies() == []
    assert ack_json(call_http(command_event("a tiger")))["text"].startswith("Queued")  # nothing was counted


def test_the_workspace_budget_covers_everyone_in_it(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, DAILY_IMAGES_PER_WORKSPACE="3")
    assert ack_json(call_http(command_event("a tiger --n 2", user_id="U0ALICE")))["text"].startswith("Queued")
    refusal = ack_json(call_http(command_event("a tiger --n 2", user_id="U0BOB")))
    assert "This workspace has used 2 of its 3 images today" in refusal["text"]
    other_team = ack_json(call_http(command_event("a tiger --n 2", team_id="T0OTHER")))
    assert other_team["text"].startswith("Queued")


@pytest.mark.parametrize(
    ("settings", "fields", "expected"),
    [
        ({"ALLOWED_TEAM_IDS": "T0ELSE, T0MORE"}, {}, "not enabled for this workspace"),
        ({"ALLOWED_CHANNEL_IDS": "C0ART"}, {"channel_id": "C0RANDOM"}, "not enabled in this channel"),
        (
            {"BLOCKED_TERMS": "gore, Blood Bath"},
            {"text": "a blood  bath? no: a BLOOD BATH"},
            "contains “blood bath”",
        ),
    ],
)
def test_refused_places_and_prompts_queue_nothing(
    env: Stack,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    fields: dict[str, str],
    expected: str,
) -> None:
    _use(monkeypatch, **settings)
    text = fields.pop("text", "a quiet harbour")
    ack = ack_json(call_http(command_event(text, channel_id=fields.get("channel_id", "C0LOCAL"))))
    assert ack["response_type"] == "ephemeral"
    assert expected in ack["text"]
    assert env.queued_bodies() == []
    assert env.slack.snapshot() == []


def test_allowed_places_pass(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, ALLOWED_TEAM_IDS="T0LOCAL", ALLOWED_CHANNEL_IDS="C0LOCAL,C0ART", BLOCKED_TERMS="gore")
    assert ack_json(call_http(command_event("a gorgeous sunset")))["text"].startswith("Queued")  # not "gore"


def test_guards_pure() -> None:
    guards = Guards(allowed_team_ids=frozenset({"T1"}), blocked_terms=("nsfw",))
    assert place_refusal(guards, "T1", "C1") is None
    assert place_refusal(guards, "T2", "C1")
    assert blocked_term(guards, "an NSFW thing") == "nsfw"
    assert blocked_term(guards, "nsfwish") is None
    assert describe_reset(datetime(2026, 11, 25, 21, 30, tzinfo=UTC)) == "at 00:00 UTC (in 2 h 30 min)"


def test_usage_shows_the_limits(env: Stack) -> None:
    assert "up to 50" in json.dumps(ack_json(call_http(command_event("help"))))


def test_giving_back_never_takes_a_count_below_zero_nor_brings_back_a_gone_day(env: Stack) -> None:
    """A release larger than what was counted (a bug elsewhere, a purge between) stops at zero;
    a day whose counts are gone (expired, or purged when the workspace uninstalled) stays gone."""
    ack_json(call_http(command_event("a tiger --n 2")))
    quotas, now = env.services.quotas, datetime.now(UTC)
    assert (quotas.used_by_user("T0LOCAL", "U0LOCAL", now), quotas.used_by_workspace("T0LOCAL", now)) == (
        2,
        2,
    )

    quotas.release(team_id="T0LOCAL", user_id="U0LOCAL", images=1, command_id="", now=now)
    assert quotas.used_by_user("T0LOCAL", "U0LOCAL", now) == 1
    quotas.release(team_id="T0LOCAL", user_id="U0LOCAL", images=5, command_id="", now=now)
    assert (quotas.used_by_user("T0LOCAL", "U0LOCAL", now), quotas.used_by_workspace("T0LOCAL", now)) == (
        0,
        0,
    )

    quotas.release(team_id="T0GONE", user_id="U0GONE", images=3, command_id="", now=now)  # no count: nothing
    assert quotas.used_by_user("T0GONE", "U0GONE", now) == 0
    key = {"pk": {"S": f"quota#team#T0GONE#{quota_day(now)}"}}
    assert "Item" not in env.services.dynamodb.get_item(TableName=env.services.settings.jobs_table, Key=key)
