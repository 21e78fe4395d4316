"""An SQS event into worker_handler: the backend is asked, S3 keeps the JPEGs, Slack sees them."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from bot.backends.sagemaker import ACCEPT, CONTENT_TYPE
from bot.local.slack.recorder import Call
from bot.services import reset_process_services
from tests.conftest import Stack, call_http, call_worker, command_event, http_event, open_link, use_up
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn

KEY = re.compile(r"^images/T0LOCAL/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}/\d\.jpg$")


@pytest.fixture
def use_sagemaker(
    env: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> SageMakerStandIn:
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    reset_process_services()
    return sagemaker


def test_job_renders_through_sagemaker_into_s3_and_slack(env: Stack, use_sagemaker: SageMakerStandIn) -> None:
    call_http(command_event("a cyborg tiger --ar 16:9 --seed 42 --n 2 --no text, blurry --steps 25 --cfg 9"))

    result = call_worker(env.sqs_event())

    assert result == {"batchItemFailures": []}
    [invocation] = use_sagemaker.invocations
    assert invocation.endpoint == "sd-21-base"
    assert invocation.headers["content-type"] == CONTENT_TYPE
    assert invocation.headers["accept"] == ACCEPT
    assert invocation.body == {
        "prompt": "a cyborg tiger",
        "negative_prompt": "text, blurry",
        "width": 680,
        "height": 384,
        "num_inference_steps": 25,
        "guidance_scale": 9.0,
        "seed": 42,
        "num_images_per_prompt": 2,
    }

    stored = env.stored()
    assert len(stored) == 2
    assert all(KEY.match(key) for key in stored)
    assert all(jpeg.startswith(b"\xff\xd8\xff") for jpeg in stored.values())
    head = env.services.s3.head_object(Bucket=env.resources.bucket, Key=sorted(stored)[0])
    assert head["Metadata"]["prompt"] == "a cyborg tiger"
    assert head["Metadata"]["seed"] == "42"
    assert head["ContentType"] == "image/jpeg"

    [posted] = env.slack.calls_to("chat.postMessage")
    assert posted.authorized
    assert posted.args["channel"] == "C0LOCAL"
    assert "<@U0LOCAL>" in json.dumps(posted.args["blocks"])
    [updated] = env.slack.calls_to("chat.update")
    assert updated.args["ts"]
    images = [b for b in updated.args["blocks"] if b["type"] == "image"]
    assert len(images) == 2
    context = json.dumps(updated.args["blocks"], ensure_ascii=False)
    assert "seed 42" in context and "680×384" in context and "rendered in" in context
    opened = {open_link(b["image_url"]) for b in images}
    assert opened == set(stored.values())


def test_placeholder_job_posts_one_image_with_a_working_link(env: Stack) -> None:
    call_http(command_event("a lighthouse at dusk"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [(key, jpeg)] = env.stored().items()
    [updated] = env.slack.calls_to("chat.update")
    [image] = [b for b in updated.args["blocks"] if b["type"] == "image"]
    assert image["image_url"].startswith(env.public_base_url + "/images/")
    assert image["image_url"].endswith(key.removeprefix("images/"))
    assert open_link(image["image_url"]) == jpeg


def test_bytes_mode_serves_the_jpeg_itself(env: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE_LINK_MODE", "bytes")

    reset_process_services()
    call_http(command_event("a lighthouse at dusk"))
    call_worker(env.sqs_event())
    [jpeg] = env.stored().values()
    [image] = [b for b in env.slack.calls_to("chat.update")[0].args["blocks"] if b["type"] == "image"]
    response = call_http(http_event("url", "GET", urlsplit(image["image_url"]).path.removeprefix("/prod")))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/jpeg"
    assert base64.b64decode(response["body"]) == jpeg


def test_closed_channel_falls_back_to_response_url(env: Stack) -> None:
    env.slack.closed_channels.add("G0PRIVATE")
    response_url = env.slack.response_url("private")
    call_http(command_event("a secret garden", channel_id="G0PRIVATE", response_url=response_url))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    answers = env.slack.calls_to("response_url")
    assert [a.args["response_type"] for a in answers] == ["in_channel", "in_channel"]
    assert answers[1].args["replace_original"] is True
    assert any(b["type"] == "image" for b in answers[1].args["blocks"])
    assert env.slack.calls_to("chat.update") == []


def test_model_error_is_reported_in_the_thread(env: Stack, use_sagemaker: SageMakerStandIn) -> None:
    use_sagemaker.scripted.append(Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError"))
    call_http(command_event("a tiger made of smaller tigers"))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    [_posted, reply] = env.slack.calls_to("chat.postMessage")
    assert reply.args["thread_ts"] == env.slack.calls_to("chat.update")[0].args["ts"]
    assert "could not be rendered" in reply.args["text"]
    assert "model could not render" in reply.args["text"]
    assert "Traceback" not in json.dumps(reply.args)
    assert env.stored() == {}


def test_a_failure_in_a_closed_channel_with_its_response_url_used_up_is_told_by_direct_message(
    env: Stack, use_sagemaker: SageMakerStandIn
) -> None:
    """The channel is closed to the bot and the command's response_url has had its five uses
    (Slack then answers 404 used_url: docs.slack.dev, "Handling user interaction"): the
    requester hears of the failure in a direct message from the bot, as a result would reach
    them (tests/worker/test_delivery.py)."""
    env.slack.closed_channels.add("C0LOCAL")
    response_url = env.slack.response_url("used-up")
    use_up(response_url)
    use_sagemaker.scripted.append(Answer(424, b'{"Message": "CUDA out of memory"}', "ModelError"))
    call_http(command_event("a tiger made of smaller tigers", response_url=response_url))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    dm = env.slack.dm_channel("U0LOCAL")
    assert [c.args["users"] for c in env.slack.calls_to("conversations.open") if c.ok] == ["U0LOCAL"]
    [told] = [c for c in env.slack.calls_to("chat.postMessage") if c.ok]
    assert told.args["channel"] == dm
    assert "could not be rendered" in told.args["text"] and "model could not render" in told.args["text"]
    # Five earlier answers, then the status and the failure note, refused: used up.
    assert [c.ok for c in env.slack.calls_to("response_url")] == [True] * 5 + [False, False]
    [dead] = env.dead_letters()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "the model could not render this request"


def test_malformed_endpoint_answer_is_reported_not_crashed_on(
    env: Stack, use_sagemaker: SageMakerStandIn
) -> None:
    use_sagemaker.scripted.append(Answer(200, b'{"generated_images": ["not base64 at all!"]}'))
    call_http(command_event("a tiger"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    reply = env.slack.calls_to("chat.postMessage")[-1]
    assert "not a JPEG" in reply.args["text"]


def test_forged_and_deleted_links_answer_403_and_404(env: Stack) -> None:
    call_http(command_event("a lighthouse at dusk"))
    call_worker(env.sqs_event())
    [image] = [b for b in env.slack.calls_to("chat.update")[0].args["blocks"] if b["type"] == "image"]
    path = urlsplit(image["image_url"]).path.removeprefix("/prod")
    token = path.split("/")[2]

    forged = path.replace(token, "A" * len(token))
    assert call_http(http_event("http", "GET", forged))["statusCode"] == 403
    other_image = path.replace("/0.jpg", "/1.jpg")
    assert call_http(http_event("http", "GET", other_image))["statusCode"] == 403

    [key] = env.stored()
    env.services.s3.delete_object(Bucket=env.resources.bucket, Key=key)
    response = call_http(http_event("rest", "GET", path))
    assert response["statusCode"] == 404
    assert "no longer exists" in response["body"]


def test_a_render_publishes_cloudwatch_metrics(env: Stack, capfd: pytest.CaptureFixture[str]) -> None:
    call_http(command_event("a lighthouse --n 2"))
    call_worker(env.sqs_event())
    emitted = [doc for doc in _json_documents(capfd.readouterr().out) if "_aws" in doc]
    values = {name: doc[name] for doc in emitted for name in doc if name[0].isupper() and name != "Service"}
    assert values["JobsQueued"] == [1.0] and values["ImagesRequested"] == [2.0]
    assert values["ImagesPosted"] == [2.0] and values["BackendSeconds"][0] >= 0
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "imagine" for doc in emitted)


def _json_documents(output: str) -> list[dict[str, Any]]:
    """The JSON objects printed to stdout. print() writes a line and its newline apart, so a line
    another thread (the image server answering Slack's download) prints at the same moment can
    land beside it: read documents, not lines."""
    decoder, found, at = json.JSONDecoder(), list[dict[str, Any]](), 0
    while (at := output.find("{", at)) != -1:
        try:
            doc, end = decoder.raw_decode(output, at)
        except ValueError:
            at += 1
            continue
        if isinstance(doc, dict):
            found.append(doc)
        at = end
    return found


# ---- what a job carries: unreadable bodies, long and non-Latin prompts ------------------------


def _a_job(**changes: object) -> str:
    from bot.model.job import Job
    from bot.model.prompt import ImageRequest

    job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL",
                  request=ImageRequest(prompt="a cyborg tiger", seed=3))  # fmt: skip
    return json.dumps({**json.loads(job.to_json()), **changes})


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[]",
        "null",
        '{"job_id": "0123456789abcdef0123456789abcdef"}',
        _a_job(job_id="../../etc/passwd"),
        _a_job(channel_id="<!channel>"),
        _a_job(request="a cyborg tiger"),
        _a_job(request=[1, 2]),
        _a_job(created_at="yesterday"),
        _a_job(redrives={}),
    ],
    ids=[
        "not JSON",
        "a list",
        "null",
        "fields missing",
        "bad job id",
        "bad channel",
        "request a string",
        "request a list",
        "created_at not a number",
        "redrives not a number",
    ],
)
def test_unreadable_job_is_dead_lettered_with_its_reason_and_nothing_posted(env: Stack, body: str) -> None:
    sqs = env.services.sqs
    sqs.send_message(QueueUrl=env.resources.queue_url, MessageBody=body)

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}  # settled: deleted, not retried

    [dead] = env.dead_letters()
    assert dead["Body"] == body
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "the queued job could not be read"
    assert env.slack.snapshot() == []
    assert env.receive() == []


def _metadata_bytes(metadata: dict[str, str]) -> int:
    """User metadata as S3 counts it against its 2 KB: the UTF-8 bytes of each key and value
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html)."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in metadata.items())


def _end_to_end(env: Stack, sagemaker: SageMakerStandIn, prompt: str) -> tuple[str, dict[str, str]]:
    """Send ``/imagine prompt``, run the job; the prompt as the endpoint, Slack and S3 got it."""
    assert "Queued" in json.dumps(json.loads(call_http(command_event(prompt))["body"]), ensure_ascii=False)
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [invocation] = sagemaker.invocations
    [key] = env.stored()
    metadata = env.services.s3.head_object(Bucket=env.resources.bucket, Key=key)["Metadata"]
    assert _metadata_bytes(metadata) <= 2048
    [updated] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    assert [b["type"] for b in updated.args["blocks"]].count("image") == 1
    return str(invocation.body["prompt"]), metadata


def _assert_shown_as_typed(env: Stack, prompt: str) -> Call:
    """The status message and the result both carry the prompt as typed; returns the result."""
    [posted] = env.slack.calls_to("chat.postMessage")
    [updated] = [c for c in env.slack.calls_to("chat.update") if c.ok]
    for call in (posted, updated):
        assert prompt in call.args["text"]
        assert f"*{prompt}*" in json.dumps(call.args["blocks"], ensure_ascii=False)
    return updated


def test_a_1000_character_prompt_end_to_end(env: Stack, use_sagemaker: SageMakerStandIn) -> None:
    prompt = ("a cyborg tiger walks through neon rain at night, " * 25)[:999] + "x"
    assert len(prompt) == 1000  # MAX_PROMPT_CHARS' default

    at_endpoint, metadata = _end_to_end(env, use_sagemaker, prompt)

    assert at_endpoint == prompt
    updated = _assert_shown_as_typed(env, prompt)
    [image] = [b for b in updated.args["blocks"] if b["type"] == "image"]
    assert image["alt_text"] == prompt
    assert unquote(metadata["prompt"]) == prompt


@pytest.mark.parametrize(
    "prompt",
    ["一只在霓虹雨中的赛博老虎", "🐯🌃🚀", "a 赛博 tiger 🐯 in the rain ☔"],
    ids=["Chinese", "emoji", "mixed"],
)
def test_a_non_latin_prompt_end_to_end(env: Stack, use_sagemaker: SageMakerStandIn, prompt: str) -> None:
    """The prompt reaches the endpoint, the message and the S3 metadata (URL-quoted there, as
    S3 metadata travels in HTTP headers) exactly as typed."""
    at_endpoint, metadata = _end_to_end(env, use_sagemaker, prompt)

    assert at_endpoint == prompt
    _assert_shown_as_typed(env, prompt)
    assert metadata["prompt"].isascii()
    assert unquote(metadata["prompt"]) == prompt
