"""A rendered image always reaches the requester, and a delivery problem never renders again.

Slack downloads every ``image_url`` while it handles chat.update and refuses the whole message
with ``invalid_blocks`` / "downloading image failed [json-pointer:/blocks/N/image_url]" when it
cannot, intermittently even for valid URLs (slackapi/python-slack-sdk issue 1782). The Slack
stand-in downloads the links the same way and can be told to fail. Each case sends a signed
command through http_handler, lets the worker run as Lambda's SQS event source would, and checks
what the requester got, that the endpoint was called once, and that nothing was dead-lettered.
"""

from __future__ import annotations

import json

import pytest
from slack_sdk.webhook import WebhookClient

from bot.config.env import SettingsError
from bot.local.poller import Poller
from bot.local.slack.recorder import Call
from bot.services import process_services, reset_process_services
from tests.conftest import Stack, ack_json, call_http, command_event
from tests.fakes.sagemaker_runtime import SageMakerStandIn

PROMPT = "a paper crane over a harbour --seed 11"


@pytest.fixture
def world(env: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    reset_process_services()
    return env


def imagine(env: Stack, text: str = PROMPT) -> None:
    ack_json(call_http(command_event(text, response_url=env.slack.response_url())))
    env.deliver_jobs(5)


def accepted(env: Stack, method: str) -> list[Call]:
    return [call for call in env.slack.calls_to(method) if call.ok]


def last_text(call: Call) -> str:
    return json.dumps(call.args.get("blocks", []), ensure_ascii=False)


def test_image_downloads_failing_twice_are_retried_into_image_blocks(
    world: Stack, sagemaker: SageMakerStandIn
) -> None:
    world.slack.fail_image_downloads(2)
    imagine(world)
    updates = world.slack.calls_to("chat.update")
    assert [call.ok for call in updates] == [False, False, True]
    assert all(call.error == "invalid_blocks" for call in updates[:2])
    assert '"type": "image"' in last_text(updates[-1])
    assert len(sagemaker.invocations) == 1
    assert world.slack.files == []
    assert world.dead_letters() == []


def test_the_worker_tries_the_image_blocks_as_often_as_the_setting_has_waits(
    world: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGE_DOWNLOAD_RETRY_SECONDS="0,0,0": three more tries, so three refused downloads still end
    in image blocks (with the default two waits they would end in an upload)."""
    monkeypatch.setenv("IMAGE_DOWNLOAD_RETRY_SECONDS", "0,0,0")
    reset_process_services()
    world.slack.fail_image_downloads(3)
    imagine(world)
    assert [call.ok for call in world.slack.calls_to("chat.update")] == [False, False, False, True]
    assert world.slack.files == []


def test_the_waits_between_image_posts_are_the_settings_and_fit_the_workers_budget(
    world: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGE_DOWNLOAD_RETRY_SECONDS sets the waits (asked for, not slept through here: the wait is
    the sleep handed in), and the worker's time budget counts them."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    from bot.config.settings import Settings
    from bot.slack.poster import post_with_images
    from bot.worker.jobs_lane import delivery_seconds

    refusal = {"ok": False, "error": "invalid_blocks",
               "errors": ["downloading image failed [json-pointer:/blocks/1/image_url]"]}  # fmt: skip
    answers: list[dict[str, object]] = [refusal, refusal, {"ok": True}]
    slept: list[float] = []

    def post() -> str:
        answer = answers.pop(0)
        if not answer["ok"]:
            response = SlackResponse(client=None, http_verb="POST", api_url="", req_args={},
                                     data=answer, headers={}, status_code=200)  # fmt: skip
            raise SlackApiError("refused", response)  # type: ignore[no-untyped-call]
        return "posted"

    assert post_with_images(post, (2, 7), sleep=slept.append) == "posted" and slept == [2, 7]
    answers[:] = [refusal] * 3
    slept.clear()
    assert post_with_images(post, (2, 7), sleep=slept.append) is None and slept == [2, 7]

    monkeypatch.setenv("IMAGE_DOWNLOAD_RETRY_SECONDS", "2,7")
    longer = Settings.from_env()
    monkeypatch.setenv("IMAGE_DOWNLOAD_RETRY_SECONDS", "0,0")
    assert delivery_seconds(longer, 1) - delivery_seconds(Settings.from_env(), 1) == 9
    monkeypatch.setenv("IMAGE_DOWNLOAD_RETRY_SECONDS", "2,a")
    with pytest.raises(SettingsError, match="IMAGE_DOWNLOAD_RETRY_SECONDS"):
        Settings.from_env()


def test_images_slack_never_downloads_are_uploaded_into_the_thread(
    world: Stack, sagemaker: SageMakerStandIn
) -> None:
    world.slack.fail_image_downloads(None)
    imagine(world, PROMPT + " --n 2")
    status = accepted(world, "chat.postMessage")[0]
    channel = status.args["channel"]
    files = world.slack.files
    assert len(files) == 2
    posted_ts = {call.args["ts"] for call in accepted(world, "chat.update")}
    assert {f.thread_ts for f in files} == posted_ts  # the thread of the job's own message
    assert {f.channel_id for f in files} == {channel}
    assert all(f.data.startswith(b"\xff\xd8") for f in files)  # the stored JPEGs themselves
    final = accepted(world, "chat.update")[-1]
    assert '"type": "image"' not in last_text(final) and "in the thread" in last_text(final)
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []


def test_with_uploads_refused_too_the_result_is_posted_as_plain_links(
    world: Stack, sagemaker: SageMakerStandIn
) -> None:
    world.slack.fail_image_downloads(None)
    world.slack.fail("files.getUploadURLExternal", times=5, error="internal_error")
    imagine(world)
    final = accepted(world, "chat.update")[-1]
    text = last_text(final)
    assert '"type": "image"' not in text
    assert f"<{world.public_base_url}/images/" in text and "|image 1>" in text
    assert world.slack.files == []
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []


def test_upload_delivery_puts_the_jpegs_in_slack_and_needs_no_public_url(
    world: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    reset_process_services()
    imagine(world, PROMPT + " --n 2")
    files = world.slack.files
    assert len(files) == 2 and all(f.thread_ts for f in files)
    assert "paper crane" in (files[0].initial_comment or "")
    assert world.slack.image_fetches == []  # nothing for Slack to download
    assert "in the thread" in last_text(accepted(world, "chat.update")[-1])
    assert len(sagemaker.invocations) == 1


def test_a_job_delivered_again_after_its_upload_does_not_upload_twice(
    world: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files' ids are recorded as soon as the upload is done: when the message saying where
    they are fails and the job comes back, it says so again and uploads nothing more."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    world.slack.fail("chat.update", error="internal_error")  # the message after the upload
    imagine(world, PROMPT + " --n 2")
    updates = world.slack.calls_to("chat.update")
    assert [call.error for call in updates] == ["internal_error", ""]
    assert "in the thread" in last_text(updates[-1])
    assert len(world.slack.calls_to("files.completeUploadExternal")) == 1
    files = world.slack.files
    assert len(files) == 2
    [job_id] = {
        e["value"] for b in updates[-1].args["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    found = process_services().store.find(job_id)
    assert found is not None and found[1].status == "done"
    assert found[1].files == [f.file_id for f in files]  # for Delete to remove
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []


def _use_up(response_url: str) -> None:
    """Spend a response_url's five uses, as five earlier answers would have."""
    for n in range(5):
        assert WebhookClient(response_url).send(text=f"earlier answer {n}").status_code == 200


def test_a_closed_channel_with_its_response_url_used_up_gets_a_direct_message(
    world: Stack, sagemaker: SageMakerStandIn
) -> None:
    world.slack.closed_channels.add("C0LOCAL")
    response_url = world.slack.response_url("used-up")
    _use_up(response_url)
    ack_json(call_http(command_event(PROMPT, response_url=response_url)))
    services = process_services()
    Poller(services.sqs, services.settings.jobs_queue_url, wait_seconds=0, redeliver_after=0).poll_once()

    dm = world.slack.dm_channel("U0LOCAL")
    opened = accepted(world, "conversations.open")
    assert [call.args.get("users") for call in opened] == ["U0LOCAL"]
    posts = [call for call in accepted(world, "chat.postMessage") if call.args["channel"] == dm]
    assert len(posts) == 1 and '"type": "image"' in last_text(posts[0])
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []


def test_a_closed_channel_whose_images_slack_cannot_fetch_gets_links_through_the_response_url(
    world: Stack, sagemaker: SageMakerStandIn
) -> None:
    world.slack.closed_channels.add("C0LOCAL")
    world.slack.fail_image_downloads(None)
    imagine(world)
    answers = accepted(world, "response_url")
    assert "|image 1>" in last_text(answers[-1]) and answers[-1].args.get("response_type") == "in_channel"
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []


def test_upload_delivery_without_a_public_url_reports_a_refused_upload(
    world: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no links to fall back on, the upload's own error is the reason the requester gets."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    reset_process_services()
    world.slack.fail("files.getUploadURLExternal", times=10, error="missing_scope")
    imagine(world)
    told = [last_text(call) for call in accepted(world, "chat.postMessage") if call.args.get("thread_ts")]
    assert len(told) == 1 and "missing_scope" in told[0]
    assert len(world.dead_letters()) == 1
    assert len(sagemaker.invocations) == 1


def test_upload_delivery_in_a_closed_channel_sends_the_files_by_direct_message(
    world: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    world.slack.closed_channels.add("C0LOCAL")
    imagine(world)
    dm = world.slack.dm_channel("U0LOCAL")
    assert [f.channel_id for f in world.slack.files] == [dm]
    said = accepted(world, "response_url")[-1]
    assert "direct message" in last_text(said) and said.args.get("replace_original") is True
    assert len(sagemaker.invocations) == 1
    assert world.dead_letters() == []
