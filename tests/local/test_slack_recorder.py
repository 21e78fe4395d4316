"""The Slack recorder refuses what Slack refuses, with Slack's own answers, driven through
slack_sdk's real clients (WebClient, WebhookClient) as the bot drives it.

Where each answer comes from is cited in bot/local/slack/recorder.py and bot/local/slack/.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.backends.placeholder import draw
from bot.local.loopback import Loopback, QuietHandler, Served
from bot.local.slack.recorder import SlackRecorder
from bot.model.prompt import ImageRequest
from tests.conftest import BOT_TOKEN, Stack, call_http, call_worker, command_event

JPEG = draw(ImageRequest(prompt="a lighthouse", seed=1, width=64, height=64), 0)


@dataclass
class ImageHost(Served):
    """Where image links point: good images, redirects, and the ways a download goes wrong."""

    slow_seconds: float = 1.0
    requests: list[str] = field(default_factory=list)

    def start(self) -> ImageHost:
        host = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                host.requests.append(self.path)
                if self.path == "/redirect":
                    self._answer(302, b"", "text/plain", {"Location": f"{host.url}/ok.jpg"})
                elif self.path == "/ok.jpg":
                    self._answer(200, JPEG, "image/jpeg")
                elif self.path == "/page.html":
                    self._answer(200, b"<html>not an image</html>", "text/html")
                elif self.path == "/liar.jpg":  # says JPEG, is not one
                    self._answer(200, b"<html>sign in</html>", "image/jpeg")
                elif self.path == "/slow.jpg":
                    time.sleep(host.slow_seconds)
                    self._answer(200, JPEG, "image/jpeg")
                else:
                    self._answer(404, b"no such image", "text/plain")

            def _answer(
                self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a download given up
                    self.wfile.write(body)

        self._server = Loopback(Handler)
        return self


@pytest.fixture
def images() -> Iterator[ImageHost]:
    host = ImageHost().start()
    yield host
    host.stop()


@pytest.fixture
def client(slack: SlackRecorder) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url)


def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as refused:
        call()
    data: dict[str, Any] = refused.value.response.data
    return data


def _invalid_blocks(*errors: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_blocks",
        "errors": list(errors),
        "response_metadata": {"messages": [f"[ERROR] {error}" for error in errors]},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _image(url: str, alt: str = "a lighthouse") -> dict[str, Any]:
    return {"type": "image", "image_url": url, "alt_text": alt}


# ---- Block Kit: the models and Slack's documented limits --------------------------------------


@pytest.mark.parametrize(
    ("blocks", "errors"),
    [
        ([_section("x")] * 51, ["no more than 50 items allowed [json-pointer:/blocks]"]),
        (
            [_section("ok"), _section("x" * 3001)],
            [
                "failed to match all allowed schemas [json-pointer:/blocks/1/text]",
                "must be less than 3001 characters [json-pointer:/blocks/1/text/text]",
            ],
        ),
        (
            [_section("")],
            [
                "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
            ],
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "a"}] * 11}],
            ["no more than 10 items allowed [json-pointer:/blocks/0/elements]"],
        ),
        (
            [_image("http://127.0.0.1/" + "x" * 2990)],
            ["must be less than 3001 characters [json-pointer:/blocks/0/image_url]"],
        ),
        (
            [_image("http://127.0.0.1/a.jpg", alt="a" * 2001)],
            ["must be less than 2001 characters [json-pointer:/blocks/0/alt_text]"],
        ),
        (
            [{"type": "image", "image_url": "http://127.0.0.1/a.jpg"}],
            ["must provide a string [json-pointer:/blocks/0/alt_text]"],
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "a"}}],
            ["unsupported type: mrkdwn [json-pointer:/blocks/0/text/type]"],
        ),
        ([{"type": "tiger"}], ["unsupported type: tiger [json-pointer:/blocks/0/type]"]),
        (  # caught by slack_sdk's ButtonElement model (button text: 75 characters)
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "R" * 76}, "action_id": "a"}
                    ],
                }
            ],
            ["text attribute cannot exceed 75 characters [json-pointer:/blocks/0]"],
        ),
    ],
    ids=[
        "51 blocks",
        "section 3001",
        "section empty",
        "context 11",
        "image_url 3001",
        "alt 2001",
        "alt missing",
        "header mrkdwn",
        "unknown type",
        "sdk model",
    ],
)
def test_blocks_slack_refuses_get_invalid_blocks_in_slacks_format(
    client: WebClient, slack: SlackRecorder, blocks: list[dict[str, Any]], errors: list[str]
) -> None:
    assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="t", blocks=blocks)) == (
        _invalid_blocks(*errors)
    )
    [call] = slack.calls_to("chat.postMessage")
    assert (call.ok, call.error) == (False, "invalid_blocks")


def test_text_limits_and_a_message_with_nothing_in_it(client: WebClient) -> None:
    """chat.postMessage's msg_too_long past 40,000 characters, no_text, invalid_blocks_format."""
    assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="x" * 40_001))["error"] == (
        "msg_too_long"
    )
    assert client.chat_postMessage(channel="C0LOCAL", text="x" * 40_000)["ok"]
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns first, then Slack refuses
        assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL"))["error"] == "no_text"
    assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="t", blocks="[{not json"))[
        "error"
    ] == ("invalid_blocks_format")


def test_updates_are_validated_and_need_a_message_that_exists(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0LOCAL", text="Rendering")
    assert _refusal(lambda: client.chat_update(channel="C0LOCAL", ts="1.000001", text="x"))["error"] == (
        "message_not_found"
    )
    too_long = [_section("x" * 3001)]
    refused = _refusal(
        lambda: client.chat_update(channel="C0LOCAL", ts=posted["ts"], text="x", blocks=too_long)
    )
    assert refused["error"] == "invalid_blocks"
    assert client.chat_update(channel="C0LOCAL", ts=posted["ts"], text="Imagined", blocks=[_section("ok")])[
        "ok"
    ]


def test_the_token_is_never_recorded(client: WebClient, slack: SlackRecorder) -> None:
    client.chat_postMessage(channel="C0LOCAL", text="hello")
    with urllib.request.urlopen(slack.url, timeout=5) as dump:
        recorded = dump.read().decode()
    assert "hello" in recorded and BOT_TOKEN not in recorded
    assert slack.calls_to("chat.postMessage")[0].authorized
    # Nor when it comes as a form parameter, as Slack also accepts it.
    form = f"token={BOT_TOKEN}&channel=C0LOCAL&text=again".encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{slack.api_url}chat.postMessage", data=form), timeout=5
    ).close()
    assert slack.calls_to("chat.postMessage")[1].authorized and BOT_TOKEN not in repr(slack.snapshot())


# ---- image downloads, as Slack makes them ----------------------------------------------------


def test_every_image_is_downloaded_following_redirects(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    blocks = [_section("two"), _image(f"{images.url}/ok.jpg"), _image(f"{images.url}/redirect")]
    assert client.chat_postMessage(channel="C0LOCAL", text="t", blocks=blocks)["ok"]
    assert sorted(images.requests) == ["/ok.jpg", "/ok.jpg", "/redirect"]
    fetched = {(f.url, f.status, f.ok, f.content_type) for f in slack.image_fetches}
    assert fetched == {
        (f"{images.url}/ok.jpg", 200, True, "image/jpeg"),
        (f"{images.url}/redirect", 200, True, "image/jpeg"),
    }


@pytest.mark.parametrize("path", ["/missing.jpg", "/page.html", "/liar.jpg", "/slow.jpg"])
def test_an_image_slack_cannot_download_refuses_the_whole_message(
    client: WebClient, slack: SlackRecorder, images: ImageHost, path: str
) -> None:
    """The answer python-slack-sdk issue 1782 shows: a 404, a page, a fake JPEG, or too slow."""
    slack.image_timeout = 0.2
    images.slow_seconds = 1.0
    blocks = [_section("one"), _image(f"{images.url}{path}")]
    assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="t", blocks=blocks)) == (
        _invalid_blocks("downloading image failed [json-pointer:/blocks/1/image_url]")
    )
    [fetch] = slack.image_fetches
    assert fetch.url == f"{images.url}{path}" and not fetch.ok


def test_images_in_accessories_and_context_are_downloaded_too(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    accessory = {**_section("s"), "accessory": _image(f"{images.url}/gone.jpg")}
    context = {"type": "context", "elements": [_image(f"{images.url}/ok.jpg")]}
    refused = _refusal(
        lambda: client.chat_postMessage(channel="C0LOCAL", text="t", blocks=[accessory, context])
    )
    assert refused["errors"] == ["downloading image failed [json-pointer:/blocks/0/accessory/image_url]"]


def test_a_host_off_this_machine_is_never_contacted(client: WebClient, slack: SlackRecorder) -> None:
    blocks = [_image("https://imagine.example/prod/images/x/0.jpg")]
    refused = _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="t", blocks=blocks))
    assert refused["errors"] == ["downloading image failed [json-pointer:/blocks/0/image_url]"]
    [fetch] = slack.image_fetches
    assert fetch.status is None and "loopback" in fetch.error


def test_downloads_can_be_told_to_fail_n_times_then_always(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    blocks = [_image(f"{images.url}/ok.jpg")]

    def post() -> bool:
        try:
            client.chat_postMessage(channel="C0LOCAL", text="t", blocks=blocks)
        except SlackApiError as error:
            errors: list[str] = error.response["errors"]
            return errors != ["downloading image failed [json-pointer:/blocks/0/image_url]"]
        return True

    slack.fail_image_downloads(2)
    assert [post(), post(), post()] == [False, False, True]
    slack.fail_image_downloads(None)
    assert [post() for _ in range(4)] == [False] * 4
    slack.fail_image_downloads(0)
    assert post()
    assert [f.ok for f in slack.image_fetches] == [False, False, True, False, False, False, False, True]
    assert images.requests == ["/ok.jpg", "/ok.jpg"]  # a failure on purpose makes no request


def test_updates_download_their_images_too(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    posted = client.chat_postMessage(channel="C0LOCAL", text="Rendering")
    slack.fail_image_downloads(1)
    blocks = [_image(f"{images.url}/ok.jpg")]
    assert _refusal(lambda: client.chat_update(channel="C0LOCAL", ts=posted["ts"], text="t", blocks=blocks))[
        "errors"
    ] == ["downloading image failed [json-pointer:/blocks/0/image_url]"]
    assert client.chat_update(channel="C0LOCAL", ts=posted["ts"], text="t", blocks=blocks)["ok"]


def test_the_bots_result_is_downloaded_as_slack_would(env: Stack) -> None:
    """The worker's image link, served by http_handler on loopback, really is fetched: through
    the stable link's redirect to the presigned S3 URL, an image/jpeg within the timeout."""
    call_http(command_event("a lighthouse at dusk"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [update] = env.slack.calls_to("chat.update")
    [image] = [b for b in update.args["blocks"] if b["type"] == "image"]
    assert update.ok
    assert [(f.url, f.status, f.ok, f.content_type) for f in env.slack.image_fetches] == [
        (image["image_url"], 200, True, "image/jpeg")
    ]


# ---- response_url ----------------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_response_url_takes_five_messages_then_answers_404_used_url(slack: SlackRecorder) -> None:
    webhook = WebhookClient(slack.response_url("command"))
    answers = [webhook.send(text=f"note {n}", response_type="ephemeral") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert json.loads(answers[5].body)["error"] == "used_url"
    assert [c.ok for c in slack.calls_to("response_url")] == [True] * 5 + [False]
    # Each command has its own URL.
    assert WebhookClient(slack.response_url("another")).send(text="hi").status_code == 200


def test_response_url_expires_30_minutes_after_the_command(slack: SlackRecorder) -> None:
    clock = Clock()
    slack.clock = clock
    webhook = WebhookClient(slack.response_url("command"))
    clock.now += 29 * 60
    assert webhook.send(text="still in time").status_code == 200
    clock.now += 2 * 60
    late = webhook.send(text="too late")
    assert (late.status_code, json.loads(late.body)["error"]) == (404, "expired_url")


def test_response_url_records_how_and_refuses_what_slack_refuses(
    slack: SlackRecorder, images: ImageHost
) -> None:
    webhook = WebhookClient(slack.response_url())
    assert (
        webhook.send_dict({"text": "t", "response_type": "in_channel", "replace_original": True}).status_code
        == 200
    )
    [call] = slack.calls_to("response_url")
    assert call.args["response_type"] == "in_channel" and call.args["replace_original"] is True
    # Invalid blocks and failed downloads: a 400 without details, as Slack's webhooks answer.
    assert webhook.send_dict({"text": "t", "blocks": [_section("x" * 3001)]}).status_code == 400
    slack.fail_image_downloads(1)
    assert webhook.send_dict({"text": "t", "blocks": [_image(f"{images.url}/ok.jpg")]}).status_code == 400
    assert webhook.send_dict({"response_type": "ephemeral"}).status_code == 400  # no_text
    # Refused messages do not use the URL up.
    assert [webhook.send(text=str(n)).status_code for n in range(5)] == [200] * 4 + [404]


# ---- direct messages -------------------------------------------------------------------------


def test_conversations_open_gives_a_stable_dm_the_bot_can_post_to(
    client: WebClient, slack: SlackRecorder
) -> None:
    dm = slack.dm_channel("U0LOCAL")
    assert _refusal(lambda: client.chat_postMessage(channel=dm, text="hi"))["error"] == "channel_not_found"
    opened = client.conversations_open(users="U0LOCAL")
    assert opened["channel"]["id"] == dm and dm.startswith("D")
    again = client.conversations_open(users="U0LOCAL")
    assert again["channel"]["id"] == dm and again["already_open"]
    assert client.chat_postMessage(channel=dm, text="your image")["channel"] == dm
    assert slack.dm_channel("U0OTHER") != dm


def test_a_user_id_is_not_a_channel_to_post_to(client: WebClient) -> None:
    """Slack's docs: a U... channel posts to the user's DM with Slackbot, not with the app."""
    assert (
        _refusal(lambda: client.chat_postMessage(channel="U0LOCAL", text="hi"))["error"]
        == "channel_not_found"
    )
    assert _refusal(lambda: client.api_call("conversations.open"))["error"] == "users_list_not_supplied"


# ---- files -----------------------------------------------------------------------------------


def test_files_upload_v2_shares_the_files_in_a_thread(client: WebClient, slack: SlackRecorder) -> None:
    parent = client.chat_postMessage(channel="C0LOCAL", text="Imagined")
    other = JPEG[::-1]
    done = client.files_upload_v2(
        file_uploads=[
            {"content": JPEG, "filename": "imagine-1.jpg", "title": "a lighthouse (1)"},
            {"content": other, "filename": "imagine-2.jpg", "title": "a lighthouse (2)"},
        ],
        channel="C0LOCAL",
        thread_ts=parent["ts"],
        initial_comment="<@U0LOCAL> imagined *a lighthouse*",
    )
    assert done["ok"] and [f["title"] for f in done["files"]] == ["a lighthouse (1)", "a lighthouse (2)"]
    shared = [
        (f.filename, f.title, f.data, f.channel_id, f.thread_ts, f.initial_comment) for f in slack.files
    ]
    assert shared == [
        (
            "imagine-1.jpg",
            "a lighthouse (1)",
            JPEG,
            "C0LOCAL",
            parent["ts"],
            "<@U0LOCAL> imagined *a lighthouse*",
        ),
        (
            "imagine-2.jpg",
            "a lighthouse (2)",
            other,
            "C0LOCAL",
            parent["ts"],
            "<@U0LOCAL> imagined *a lighthouse*",
        ),
    ]
    assert {f.file_id for f in slack.files} == {f["id"] for f in done["files"]}
    methods = [c.method for c in slack.snapshot()]
    assert methods == ["chat.postMessage", *["files.getUploadURLExternal"] * 2, "upload", "upload",
                       "files.completeUploadExternal"]  # fmt: skip


def test_files_go_to_an_opened_dm_and_nowhere_closed(client: WebClient, slack: SlackRecorder) -> None:
    dm = client.conversations_open(users="U0LOCAL")["channel"]["id"]
    client.files_upload_v2(content=JPEG, filename="a.jpg", title="a", channel=dm)
    assert [(f.channel_id, f.thread_ts) for f in slack.files] == [(dm, None)]

    slack.closed_channels.add("G0PRIVATE")
    refused = _refusal(lambda: client.files_upload_v2(content=JPEG, filename="a.jpg", channel="G0PRIVATE"))
    assert refused["error"] == "not_in_channel"
    refused = _refusal(lambda: client.files_upload_v2(content=JPEG, filename="a.jpg", channel="U0LOCAL"))
    assert refused["error"] == "invalid_arguments"  # slackapi/bolt-js issue 2115
    assert len(slack.files) == 1


def test_completing_a_file_that_was_never_uploaded_or_twice_is_refused(client: WebClient) -> None:
    started = client.files_getUploadURLExternal(filename="a.jpg", length=len(JPEG))
    complete = [{"id": started["file_id"], "title": "a"}]
    not_sent = _refusal(lambda: client.files_completeUploadExternal(files=complete, channel_id="C0LOCAL"))
    assert not_sent["error"] == "file_not_found"

    with pytest.raises(urllib.error.HTTPError) as short:  # fewer bytes than announced
        urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=JPEG[:10]), timeout=5)
    assert short.value.code == 400
    with urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=JPEG), timeout=5) as sent:
        assert sent.read().decode() == f"OK - {len(JPEG)}"
    assert client.files_completeUploadExternal(files=complete, channel_id="C0LOCAL")["ok"]
    again = _refusal(lambda: client.files_completeUploadExternal(files=complete, channel_id="C0LOCAL"))
    assert again["error"] == "file_not_found"
    unknown = _refusal(
        lambda: client.files_completeUploadExternal(files=[{"id": "F0NOPE"}], channel_id="C0LOCAL")
    )
    assert unknown["error"] == "file_not_found"


def test_files_delete_takes_a_shared_file_out_of_its_thread_once(
    client: WebClient, slack: SlackRecorder
) -> None:
    """docs.slack.dev/reference/methods/files.delete: ``{"ok": true}``, then ``file_deleted``
    for the file deleted already, ``file_not_found`` for an id that names no file."""
    parent = client.chat_postMessage(channel="C0LOCAL", text="Imagined")
    done = client.files_upload_v2(
        file_uploads=[
            {"content": JPEG, "filename": "imagine-1.jpg", "title": "one"},
            {"content": JPEG[::-1], "filename": "imagine-2.jpg", "title": "two"},
        ],
        channel="C0LOCAL",
        thread_ts=parent["ts"],
    )
    first, second = (str(f["id"]) for f in done["files"])

    assert client.files_delete(file=first).data == {"ok": True}
    assert [(f.file_id, f.thread_ts) for f in slack.files] == [(second, parent["ts"])]
    assert _refusal(lambda: client.files_delete(file=first))["error"] == "file_deleted"
    assert _refusal(lambda: client.files_delete(file="F0NEVER"))["error"] == "file_not_found"
    started = client.files_getUploadURLExternal(filename="a.jpg", length=len(JPEG))  # never shared
    assert _refusal(lambda: client.files_delete(file=started["file_id"]))["error"] == "file_not_found"

    slack.clear()  # forgetting the record is not deleting in Slack
    assert client.files_delete(file=second)["ok"]
    assert _refusal(lambda: client.files_delete(file=second))["error"] == "file_deleted"
    assert [c.error for c in slack.calls_to("files.delete")] == ["", "file_deleted"]


# ---- rate limits and injected failures -------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_for_that_channel_only(
    client: WebClient, slack: SlackRecorder
) -> None:
    posted = client.chat_postMessage(channel="C0BUSY", text="first")
    slack.rate_limit("C0BUSY", times=2, retry_after=3)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C0BUSY", text="second")
    response = limited.value.response
    assert (response.status_code, response.headers["Retry-After"], response["error"]) == (
        429,
        "3",
        "ratelimited",
    )
    assert client.chat_postMessage(channel="C0CALM", text="elsewhere")["ok"]
    with pytest.raises(SlackApiError) as limited:
        client.chat_update(channel="C0BUSY", ts=posted["ts"], text="edited")
    assert limited.value.response.status_code == 429
    assert client.chat_update(channel="C0BUSY", ts=posted["ts"], text="edited")["ok"]


def test_fail_still_injects_any_error(client: WebClient, slack: SlackRecorder) -> None:
    slack.fail("chat.postMessage", times=1, status=500, error="internal_error")
    assert _refusal(lambda: client.chat_postMessage(channel="C0LOCAL", text="t"))["error"] == "internal_error"
    assert client.chat_postMessage(channel="C0LOCAL", text="t")["ok"]


def test_ephemeral_messages_are_checked_like_any_other(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    blocks = [_section("only you"), _image(f"{images.url}/missing.jpg")]
    refused = _refusal(
        lambda: client.chat_postEphemeral(channel="C0LOCAL", user="U0LOCAL", text="t", blocks=blocks)
    )
    assert refused == _invalid_blocks("downloading image failed [json-pointer:/blocks/1/image_url]")
    assert client.chat_postEphemeral(channel="C0LOCAL", user="U0LOCAL", text="only you")["message_ts"]
    slack.closed_channels.add("G0PRIVATE")
    closed = _refusal(lambda: client.chat_postEphemeral(channel="G0PRIVATE", user="U0LOCAL", text="t"))
    assert closed["error"] == "not_in_channel"


@pytest.mark.parametrize("user", [None, "", "imagine-fan"])
def test_an_ephemeral_message_for_nobody_or_a_name_is_refused(
    client: WebClient, slack: SlackRecorder, user: str | None
) -> None:
    """``user`` is required and must be a member's id: without one, or with a name instead of an
    id (Inumedia/SlackAPI issue 150), Slack answers user_not_in_channel."""
    args: dict[str, Any] = {"channel": "C0LOCAL", "text": "for whom?"}
    if user is not None:
        args["user"] = user
    refused = _refusal(lambda: client.api_call("chat.postEphemeral", json=args))
    assert refused == {"ok": False, "error": "user_not_in_channel"}
    assert slack.conversation("U0LOCAL") == []  # shown to nobody
    assert client.chat_postEphemeral(channel="C0LOCAL", user="W0GRID", text="an Enterprise Grid id")["ok"]


# ---- views: modals and the Home tab ------------------------------------------------------------
# Rules and answers: bot/local/slack/views.py cites each (docs.slack.dev/reference/views/...,
# the methods' documented errors, and what users report from views.open).


def _modal(title: str = "Imagine", **fields: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [_section("hi")],
    } | fields


def _home(**fields: Any) -> dict[str, Any]:
    return {"type": "home", "blocks": [_section("Your images")]} | fields


def _input() -> dict[str, Any]:
    return {
        "type": "input",
        "label": {"type": "plain_text", "text": "Prompt"},
        "element": {"type": "plain_text_input", "action_id": "prompt"},
    }


def _invalid_arguments(*messages: str) -> dict[str, Any]:
    return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": list(messages)}}


def test_a_modal_opens_with_a_fresh_trigger_and_is_recorded(client: WebClient, slack: SlackRecorder) -> None:
    sent = _modal(
        callback_id="imagine", private_metadata="job-1", submit={"type": "plain_text", "text": "Go"}
    )
    sent["blocks"] = [_section("Describe it"), _input()]

    opened = client.views_open(trigger_id=slack.trigger_id("U0LOCAL"), view=sent)["view"]

    assert opened["id"].startswith("V") and opened["root_view_id"] == opened["id"]
    assert opened["previous_view_id"] is None and opened["hash"]
    assert (opened["callback_id"], opened["private_metadata"], opened["blocks"]) == (
        "imagine",
        "job-1",
        sent["blocks"],
    )
    [recorded] = slack.modal_stack("U0LOCAL")
    assert recorded.id == opened["id"] and recorded.view == sent and recorded.user == "U0LOCAL"
    assert slack.views == {opened["id"]: recorded}
    assert slack.modal_stack("U0OTHER") == [] and slack.home_view("U0LOCAL") is None
    [call] = slack.calls_to("views.open")
    assert call.ok


@pytest.mark.parametrize(
    ("view", "messages"),
    [
        (_modal("x" * 25), ["must be less than 25 characters [json-pointer:/view/title/text]"]),
        (
            _modal() | {"title": {"type": "mrkdwn", "text": "Imagine"}},
            ["unsupported type: mrkdwn [json-pointer:/view/title/type]"],
        ),
        (
            {"type": "modal", "blocks": [_section("hi")]},
            ["missing required field: title [json-pointer:/view]"],
        ),
        (
            _modal(close={"type": "plain_text", "text": "c" * 25}),
            ["must be less than 25 characters [json-pointer:/view/close/text]"],
        ),
        (
            _modal(submit={"type": "plain_text", "text": "s" * 25}),
            ["must be less than 25 characters [json-pointer:/view/submit/text]"],
        ),
        (
            _modal(private_metadata="m" * 3001),
            [
                "failed to match all allowed schemas [json-pointer:/view]",
                "must be less than 3001 characters [json-pointer:/view/private_metadata]",
            ],
        ),
        (
            _modal(callback_id="c" * 256),
            [
                "failed to match all allowed schemas [json-pointer:/view]",
                "must be less than 256 characters [json-pointer:/view/callback_id]",
            ],
        ),
        (
            _modal(blocks=[_section("b")] * 101),
            ["no more than 100 items allowed [json-pointer:/view/blocks]"],
        ),
        (
            _modal(blocks=[_section("ok"), _section("x" * 3001)]),
            [
                "failed to match all allowed schemas [json-pointer:/view/blocks/1/text]",
                "must be less than 3001 characters [json-pointer:/view/blocks/1/text/text]",
            ],
        ),
        (
            _modal(blocks=[_section("Describe it"), _input()]),
            ["must define `submit` to use an `input` block in modals [json-pointer:/view/blocks/1/input]"],
        ),
        (
            _modal(blocks=[]),
            ["views must contain between 1 and 100 blocks [json-pointer:/view]"],
        ),  # slack_sdk
        (_home(), ["unsupported type: home [json-pointer:/view/type]"]),
        ({"type": "dialog", "blocks": []}, ["unsupported type: dialog [json-pointer:/view/type]"]),
    ],
    ids=[
        "title 25",
        "title mrkdwn",
        "no title",
        "close 25",
        "submit 25",
        "metadata 3001",
        "callback_id 256",
        "101 blocks",
        "section 3001",
        "input no submit",
        "no blocks",
        "home as modal",
        "unknown type",
    ],
)
def test_views_slack_refuses_get_invalid_arguments_in_slacks_format(
    client: WebClient, slack: SlackRecorder, view: dict[str, Any], messages: list[str]
) -> None:
    trigger = slack.trigger_id()
    refused = _refusal(lambda: client.views_open(trigger_id=trigger, view=view))
    assert refused == _invalid_arguments(*(f"[ERROR] {m}" for m in messages))
    assert slack.views == {} and slack.modal_stack("U0LOCAL") == []
    # The trigger was used up by the refused call: one operation per trigger.
    assert _refusal(lambda: client.views_open(trigger_id=trigger, view=_modal()))["error"] == (
        "exchanged_trigger_id"
    )


def test_a_view_over_250_kb_is_too_large(client: WebClient, slack: SlackRecorder) -> None:
    big = _modal(blocks=[_section("x" * 3000)] * 90)  # valid block by block, 270 kB in all
    assert _refusal(lambda: client.views_open(trigger_id=slack.trigger_id(), view=big)) == {
        "ok": False,
        "error": "view_too_large",
    }
    assert client.views_open(trigger_id=slack.trigger_id(), view=_modal(blocks=[_section("x" * 3000)] * 80))[
        "ok"
    ]


def test_a_trigger_works_once_within_3_seconds(client: WebClient, slack: SlackRecorder) -> None:
    clock = Clock()
    slack.clock = clock
    in_time, late = slack.trigger_id(), slack.trigger_id()
    clock.now += 2.9
    assert client.views_open(trigger_id=in_time, view=_modal())["ok"]
    assert (
        _refusal(lambda: client.views_open(trigger_id=in_time, view=_modal()))["error"]
        == "exchanged_trigger_id"
    )
    clock.now += 0.2
    assert _refusal(lambda: client.views_open(trigger_id=late, view=_modal())) == {
        "ok": False,
        "error": "expired_trigger_id",
    }
    # Not in Slack's form, or never handed out (a command the stand-in did not see).
    assert (
        _refusal(lambda: client.views_open(trigger_id="abc", view=_modal()))["error"] == "invalid_trigger_id"
    )
    unknown = "12345.98765.abcd2358fdea"
    assert _refusal(lambda: client.views_open(trigger_id=unknown, view=_modal())) == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["invalid `trigger_id`"]},
    }
    assert _refusal(lambda: client.views_open(view=_modal()))["error"] == "invalid_arguments"


def test_a_push_comes_from_inside_the_open_modal_and_a_modal_holds_three_views(
    client: WebClient, slack: SlackRecorder
) -> None:
    root = client.views_open(trigger_id=slack.trigger_id(), view=_modal("Root"))["view"]
    # A trigger from outside the modal (a command, a message button) cannot push.
    outside = _refusal(lambda: client.views_push(trigger_id=slack.trigger_id(), view=_modal("Two")))
    assert outside["response_metadata"]["messages"] == ["invalid `trigger_id`"]

    second = client.views_push(trigger_id=slack.trigger_id(view_id=root["id"]), view=_modal("Two"))["view"]
    third = client.views_push(trigger_id=slack.trigger_id(view_id=second["id"]), view=_modal("Three"))["view"]
    assert (second["root_view_id"], second["previous_view_id"]) == (root["id"], root["id"])
    assert (third["root_view_id"], third["previous_view_id"]) == (root["id"], second["id"])
    assert [v.id for v in slack.modal_stack("U0LOCAL")] == [root["id"], second["id"], third["id"]]

    full = _refusal(
        lambda: client.views_push(trigger_id=slack.trigger_id(view_id=third["id"]), view=_modal())
    )
    assert full == {"ok": False, "error": "push_limit_reached"}
    assert len(slack.modal_stack("U0LOCAL")) == 3


def test_a_push_from_the_home_tab_is_refused(client: WebClient, slack: SlackRecorder) -> None:
    home = client.views_publish(user_id="U0LOCAL", view=_home())["view"]
    refused = _refusal(
        lambda: client.views_push(trigger_id=slack.trigger_id(view_id=home["id"]), view=_modal())
    )
    assert refused == _invalid_arguments(
        "[ERROR] must match the `type` of the root view whose stack we're pushing onto"
        " [json-pointer:/view/type]"
    )


def test_an_update_finds_its_view_checks_it_and_keeps_the_latest(
    client: WebClient, slack: SlackRecorder
) -> None:
    opened = client.views_open(trigger_id=slack.trigger_id(), view=_modal(external_id="job-1"))["view"]
    assert _refusal(lambda: client.views_update(view_id="V0NOPE", view=_modal()))["error"] == "not_found"
    too_long = _refusal(lambda: client.views_update(view_id=opened["id"], view=_modal("x" * 25)))
    assert too_long["error"] == "invalid_arguments"

    done = client.views_update(
        external_id="job-1", view=_modal("Done", external_id="job-1"), hash=opened["hash"]
    )
    assert done["view"]["id"] == opened["id"] and done["view"]["hash"] != opened["hash"]
    assert slack.views[opened["id"]].view["title"]["text"] == "Done"
    # The hash a view had before this change is stale now.
    stale = _refusal(lambda: client.views_update(view_id=opened["id"], view=_modal(), hash=opened["hash"]))
    assert stale == {"ok": False, "error": "hash_conflict"}
    assert slack.views[opened["id"]].view["title"]["text"] == "Done"
    # An external_id names one view in the team.
    taken = _refusal(
        lambda: client.views_open(trigger_id=slack.trigger_id(), view=_modal(external_id="job-1"))
    )
    assert taken == {"ok": False, "error": "duplicate_external_id"}


def test_publish_keeps_one_home_tab_per_user(client: WebClient, slack: SlackRecorder) -> None:
    first = client.views_publish(user_id="U0LOCAL", view=_home())["view"]
    again = client.views_publish(
        user_id="U0LOCAL", view=_home(blocks=[_section("Three images")]), hash=first["hash"]
    )
    assert again["view"]["id"] == first["id"] and first["type"] == "home"
    home = slack.home_view("U0LOCAL")
    assert home is not None and home.view["blocks"] == [_section("Three images")]
    assert slack.home_view("U0OTHER") is None

    stale = _refusal(lambda: client.views_publish(user_id="U0LOCAL", view=_home(), hash=first["hash"]))
    assert stale == {"ok": False, "error": "hash_conflict"}
    assert _refusal(lambda: client.views_publish(user_id="C0LOCAL", view=_home())) == _invalid_arguments(
        "invalid `user_id`"
    )
    assert _refusal(lambda: client.views_publish(user_id="U0LOCAL", view=_modal())) == _invalid_arguments(
        "[ERROR] unsupported type: modal [json-pointer:/view/type]"
    )
    with_buttons = _home(submit={"type": "plain_text", "text": "Go"})
    assert _refusal(lambda: client.views_publish(user_id="U0LOCAL", view=with_buttons)) == _invalid_arguments(
        "[ERROR] home view cannot have submit and close [json-pointer:/view]"  # slack_sdk's View
    )


def test_a_views_images_are_downloaded_as_a_messages_are(
    client: WebClient, slack: SlackRecorder, images: ImageHost
) -> None:
    broken = _home(blocks=[_section("Latest"), _image(f"{images.url}/missing.jpg")])
    assert _refusal(lambda: client.views_publish(user_id="U0LOCAL", view=broken)) == _invalid_arguments(
        "[ERROR] downloading image failed [json-pointer:/view/blocks/1/image_url]"
    )
    assert client.views_publish(user_id="U0LOCAL", view=_home(blocks=[_image(f"{images.url}/ok.jpg")]))["ok"]
    assert [(f.url, f.ok) for f in slack.image_fetches] == [
        (f"{images.url}/missing.jpg", False),
        (f"{images.url}/ok.jpg", True),
    ]


# ---- deleting, permalinks and people ------------------------------------------------------------


def test_chat_delete_removes_only_a_message_the_bot_posted_and_only_once(
    client: WebClient, slack: SlackRecorder
) -> None:
    """A bot token deletes only the bot's own messages (docs.slack.dev/reference/methods/chat.delete);
    one that is not there, or no longer, is message_not_found."""
    posted = client.chat_postMessage(channel="C0LOCAL", text="a lighthouse")
    assert slack.message("C0LOCAL", posted["ts"]) is not None
    deleted = client.chat_delete(channel="C0LOCAL", ts=posted["ts"])
    assert (deleted["ok"], deleted["channel"], deleted["ts"]) == (True, "C0LOCAL", posted["ts"])
    assert slack.message("C0LOCAL", posted["ts"]) is None
    again = _refusal(lambda: client.chat_delete(channel="C0LOCAL", ts=posted["ts"]))
    assert again == {"ok": False, "error": "message_not_found"}
    never = _refusal(lambda: client.chat_delete(channel="C0LOCAL", ts="1.000001"))
    assert never["error"] == "message_not_found"
    # An update of a deleted message finds nothing either.
    gone = _refusal(lambda: client.chat_update(channel="C0LOCAL", ts=posted["ts"], text="x"))
    assert gone["error"] == "message_not_found"


def test_chat_get_permalink_answers_a_replys_link_in_its_thread_form(
    client: WebClient, slack: SlackRecorder
) -> None:
    """api.slack.com/methods/chat.getPermalink: ``.../archives/C/p<ts without the dot>``, and for
    a reply ``?thread_ts=<root>&cid=<channel>``; slack_sdk sends it as a GET."""
    root = client.chat_postMessage(channel="C0LOCAL", text="root")["ts"]
    reply = client.chat_postMessage(channel="C0LOCAL", text="reply", thread_ts=root)["ts"]
    client.chat_update(channel="C0LOCAL", ts=reply, text="reply, updated")  # still a reply
    at_root = client.chat_getPermalink(channel="C0LOCAL", message_ts=root)
    assert at_root["permalink"] == f"https://local.slack.com/archives/C0LOCAL/p{root.replace('.', '')}"
    in_thread = client.chat_getPermalink(channel="C0LOCAL", message_ts=reply)["permalink"]
    assert in_thread == (
        f"https://local.slack.com/archives/C0LOCAL/p{reply.replace('.', '')}?thread_ts={root}&cid=C0LOCAL"
    )
    client.chat_delete(channel="C0LOCAL", ts=reply)
    assert _refusal(lambda: client.chat_getPermalink(channel="C0LOCAL", message_ts=reply)) == {
        "ok": False,
        "error": "message_not_found",
    }
    assert _refusal(lambda: client.chat_getPermalink(channel="U0LOCAL", message_ts=root))["error"] == (
        "channel_not_found"
    )
    unsigned = WebClient(base_url=slack.api_url)
    assert _refusal(lambda: unsigned.chat_getPermalink(channel="C0LOCAL", message_ts=root))["error"] == (
        "not_authed"
    )


def test_users_info_describes_the_people_a_test_puts_in_the_workspace(
    client: WebClient, slack: SlackRecorder
) -> None:
    """docs.slack.dev/reference/methods/users.info: the user object, with ``is_admin`` and
    ``is_owner``; ``user_not_found`` for an id that is no member."""
    slack.add_user("U0ADMIN", is_admin=True)
    slack.add_user("U0MEMBER")
    admin = client.users_info(user="U0ADMIN")["user"]
    assert (admin["id"], admin["team_id"], admin["is_admin"], admin["is_owner"]) == (
        "U0ADMIN", "T0LOCAL", True, False,
    )  # fmt: skip
    member = client.users_info(user="U0MEMBER")["user"]
    assert (member["is_admin"], member["is_owner"], member["is_bot"], member["deleted"]) == (False,) * 4
    assert client.users_info(user="U0BOT")["user"]["is_bot"] is True
    assert _refusal(lambda: client.users_info(user="U0NOBODY")) == {"ok": False, "error": "user_not_found"}
    assert [c.ok for c in slack.calls_to("users.info")] == [True, True, True, False]


def test_a_response_url_deletes_the_original_and_counts_a_use(slack: SlackRecorder) -> None:
    """``{"delete_original": true}`` through an interaction's response_url deletes the message it
    came from (docs.slack.dev/messaging/modifying-messages); it needs no text, and it is one of
    the URL's five uses."""
    webhook = WebhookClient(slack.response_url("click"))
    for n in range(4):
        assert webhook.send(text=f"note {n}").status_code == 200
    assert webhook.send_dict({"delete_original": True}).status_code == 200
    used_up = webhook.send_dict({"delete_original": True})
    assert (used_up.status_code, json.loads(used_up.body)["error"]) == (404, "used_url")
    # Anything else still needs text, as a message does.
    assert WebhookClient(slack.response_url("other")).send_dict({"replace_original": True}).status_code == 400
