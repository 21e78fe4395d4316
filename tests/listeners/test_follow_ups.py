"""Re-roll and Variations: buttons on every result that render again into its thread.

Each click is built from the message the bot actually posted (as the strict Slack stand-in
recorded and accepted it), the way Slack echoes a button's action_id, block_id and value back
in a signed block_actions payload (https://docs.slack.dev/reference/interaction-payloads/
block_actions-payload), and goes through http_handler; the worker then runs as Lambda's SQS
event source would run it.
"""

from __future__ import annotations

import json

import pytest

from bot.local.slack.recorder import Call
from bot.services import process_services, reset_process_services
from tests.conftest import Stack
from tests.slack_users import buttons, click, imagine, latest_result, queued_jobs


def said_to_clicker(env: Stack, words: str) -> list[Call]:
    return [c for c in env.slack.calls_to("response_url") if c.ok and words in json.dumps(c.args)]


def test_a_result_carries_its_five_buttons_whose_value_is_only_the_job_id(
    env: Stack,
) -> None:
    where = imagine(env, "a paper crane --seed 5")
    [queued_job_id] = {v for *_, v in buttons(where[2])}
    assert len(queued_job_id) == 32 and all(c in "0123456789abcdef" for c in queued_job_id)
    assert [(b, a, t) for b, a, t, _ in buttons(where[2])] == [
        ("imagine_actions", "imagine_reroll", "Re-roll"),
        ("imagine_actions", "imagine_variations", "Variations"),
        ("imagine_actions", "imagine_edit", "Edit"),
        ("imagine_actions", "imagine_share", "Share"),
        ("imagine_actions", "imagine_delete", "Delete"),
    ]


def test_re_roll_renders_the_same_request_with_a_new_seed_into_the_results_thread(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5 --ar 16:9 --no text")
    channel, root_ts, _ = where
    [original_id] = {v for *_, v in buttons(where[2])}

    response, _ = click(env, where, "imagine_reroll")
    assert response["statusCode"] == 200

    [job] = queued_jobs(env)
    assert (job.thread_ts, job.parent_job_id, job.channel_id) == (root_ts, original_id, channel)
    assert (job.request.prompt, job.request.aspect, job.request.negative_prompt) == (
        "a paper crane",
        "16:9",
        "text",
    )
    assert job.request.seed != 5 and job.request.count == 1


def test_the_re_roll_lands_in_the_thread_with_the_same_buttons(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5")
    root_ts = where[1]
    click(env, where, "imagine_reroll")
    env.settle()

    in_thread = [c for c in env.slack.calls_to("chat.postMessage") if c.ok and c.args.get("thread_ts")]
    assert [c.args["thread_ts"] for c in in_thread] == [root_ts]  # the status note of the re-roll
    reply = latest_result(env)
    assert reply[1] != root_ts and '"type": "image"' in json.dumps(reply[2])
    assert {a for _, a, _, _ in buttons(reply[2])} == {
        "imagine_reroll", "imagine_variations", "imagine_edit", "imagine_share", "imagine_delete",
    }  # fmt: skip

    # A re-roll of the re-roll stays in the same thread: threads do not nest.
    click(env, reply, "imagine_reroll")
    [job] = queued_jobs(env)
    assert job.thread_ts == root_ts


def test_variations_are_four_images_from_the_seed_next_to_the_originals(env: Stack) -> None:
    where = imagine(env, "a lighthouse --seed 41 --steps 20 --cfg 9")
    click(env, where, "imagine_variations")
    [job] = queued_jobs(env)
    request = job.request
    assert (request.count, request.seed, request.steps, request.guidance) == (4, 42, 20, 9.0)
    assert job.thread_ts == where[1]


def test_each_image_of_a_multi_image_result_has_its_own_row(env: Stack) -> None:
    where = imagine(env, "a lighthouse --seed 41 --n 2")
    blocks = [b for b, *_ in buttons(where[2])]
    # Share and Delete act on the whole message: only its own row carries them.
    assert blocks == ["imagine_actions_0"] * 3 + ["imagine_actions_1"] * 3 + ["imagine_actions"] * 5
    assert "Re-roll 2" in [t for *_, t, _ in buttons(where[2])]

    click(env, where, "imagine_variations", block_id="imagine_actions_1")
    [job] = queued_jobs(env)
    assert (job.request.count, job.request.seed) == (4, 43)  # the seed next to image 2's


def test_a_double_click_queues_one_job(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5")
    first, _ = click(env, where, "imagine_reroll")
    second, _ = click(env, where, "imagine_reroll")
    assert first["statusCode"] == second["statusCode"] == 200
    assert len(queued_jobs(env)) == 1
    [said] = [
        c for c in env.slack.calls_to("response_url") if c.ok and "Already received" in json.dumps(c.args)
    ]
    assert said.args["response_type"] == "ephemeral" and said.args["replace_original"] is False


def test_anyone_may_re_roll_and_their_own_quota_counts(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    where = imagine(env, "a paper crane --seed 5")
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "1")
    reset_process_services()

    click(env, where, "imagine_reroll", user_id="U0OTHER")
    [job] = queued_jobs(env)
    assert job.user_id == "U0OTHER"

    click(env, where, "imagine_variations", user_id="U0OTHER")  # four more: over the quota
    assert queued_jobs(env) == [job]  # the re-roll alone
    [refusal] = said_to_clicker(env, "of your 1 images today")
    assert refusal.args["response_type"] == "ephemeral"


def test_a_click_on_a_result_that_is_gone_says_so_and_queues_nothing(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5")
    channel, ts, message = where
    forged = json.loads(json.dumps(message).replace(buttons(message)[0][3], "0" * 32))
    click(env, (channel, ts, forged), "imagine_reroll")
    assert queued_jobs(env) == []
    said = [
        c for c in env.slack.calls_to("response_url") if c.ok and "no longer available" in json.dumps(c.args)
    ]
    assert len(said) == 1


@pytest.mark.parametrize("retention_days", [None, "7"])
def test_job_records_live_as_long_as_the_images(
    env: Stack, monkeypatch: pytest.MonkeyPatch, retention_days: str | None
) -> None:
    """The buttons read the job record, so it must not expire before the images it links to
    (the bucket's lifecycle rule, ImageRetentionDays)."""
    if retention_days:
        monkeypatch.setenv("IMAGE_RETENTION_DAYS", retention_days)
        reset_process_services()
    where = imagine(env, "a paper crane --seed 5")
    [job_id] = {v for *_, v in buttons(where[2])}
    services = process_services()
    key = {"pk": {"S": f"job#{job_id}"}}
    item = services.dynamodb.get_item(TableName=services.settings.jobs_table, Key=key)
    found = services.store.find(job_id)
    assert found is not None and found[0] is not None
    kept_days = (int(item["Item"]["expires_at"]["N"]) - found[0].created_at) / 86400
    assert int(retention_days or 90) < kept_days <= int(retention_days or 90) + 1
    assert found[0].response_url == ""  # never kept: it can post to the channel
