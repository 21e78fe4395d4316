"""The SageMaker JumpStart text-to-image contract and the endpoint's limits.

The contract comes from AWS's public example notebook, stored as
tests/fixtures/jumpstart_text_to_image.json (the fixture and tests/fixtures/README.md name the
source). The backend's requests and the stand-in's answers are both held to that fixture, so
neither side defines the contract for the other. The endpoint's 60-second and 6 MB limits and its
case-sensitive names are played by the stand-in (tests/fakes/sagemaker_runtime.py cites each).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.backends import BackendError
from bot.backends.placeholder import PlaceholderBackend
from bot.backends.sagemaker import ACCEPT, CONTENT_TYPE, SageMakerBackend, decode_response, request_body
from bot.model.prompt import MAX_ASPECT, MAX_GUIDANCE, MAX_IMAGES, MAX_SEED, MIN_GUIDANCE, ImageRequest, parse
from bot.services import reset_process_services
from tests.conftest import Stack, call_http, call_worker, command_event
from tests.fakes.jumpstart_contract import REQUEST, request_problems, response_problems
from tests.fakes.sagemaker_runtime import Answer, SageMakerStandIn

JPEG = PlaceholderBackend().generate(ImageRequest(prompt="x", seed=1, width=64, height=64))[0]


def _answer(*images: str) -> bytes:
    return json.dumps({"generated_images": list(images), "prompt": "x"}).encode()


def test_decodes_jpegs() -> None:
    encoded = base64.b64encode(JPEG).decode()
    assert decode_response(_answer(encoded, encoded), expected=2) == [JPEG, JPEG]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[]", "no images"),
        (b'{"generated_images": []}', "no images"),
        (b'{"generated_images": "abc"}', "no images"),
        (b'{"images": ["abc"]}', "no images"),
        (_answer("!!!not base64!!!"), "not a JPEG"),
        (_answer(base64.b64encode(b"\x89PNG\r\n").decode()), "not a JPEG"),
        (json.dumps({"generated_images": [42]}).encode(), "not a JPEG"),
        (
            _answer(base64.b64encode(JPEG).decode(), base64.b64encode(JPEG).decode()),
            "returned 2 images, not 1",
        ),
    ],
)
def test_malformed_answers_become_clear_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(BackendError) as raised:
        decode_response(raw, expected=1)
    assert reason in raised.value.reason
    assert raised.value.retryable is False


def test_request_body_follows_the_contract() -> None:
    request = ImageRequest(
        prompt="p", negative_prompt="n", width=680, height=384, seed=3, steps=20, guidance=8.0, count=2
    )
    assert request_body(request) == {
        "prompt": "p",
        "negative_prompt": "n",
        "width": 680,
        "height": 384,
        "num_inference_steps": 20,
        "guidance_scale": 8.0,
        "seed": 3,
        "num_images_per_prompt": 2,
    }
    assert "negative_prompt" not in request_body(ImageRequest(prompt="p", seed=1))


def test_placeholder_is_deterministic_and_labelled() -> None:
    request = ImageRequest(prompt="a tiger", seed=5, width=384, height=680, count=2)
    first, second = PlaceholderBackend().generate(request), PlaceholderBackend().generate(request)
    assert first == second
    assert first[0] != first[1]
    assert PlaceholderBackend().generate(request.with_seed(6)) != first
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(first[0])).size == (384, 680)


# --- the contract, from the fixture -----------------------------------------------------------

EXAMPLE: dict[str, Any] = REQUEST["example"]


def test_the_notebook_example_keeps_the_contract() -> None:
    assert request_problems(EXAMPLE) == []
    assert request_problems({**EXAMPLE, "prompt": ["a", "b"], "negative_prompt": ["c", "d"]}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"width": 500}, "width must be divisible by 8"),
        ({"height": 0}, "height must be at least 1"),
        ({"seed": "1"}, "seed must be integer"),
        ({"seed": True}, "seed must be integer"),
        ({"guidance_scale": 7}, "guidance_scale must be float"),
        ({"num_images_per_prompt": 0}, "num_images_per_prompt must be at least 1"),
        ({"num_inference_steps": 2.5}, "num_inference_steps must be integer"),
        ({"guidance": 7.5}, "unknown parameter 'guidance'"),
        ({"prompt": None}, "prompt must be string or string_list"),
        ({"prompt": ["a"], "negative_prompt": "b"}, "negative_prompt must be a list"),
    ],
)
def test_the_contract_refuses_what_the_notebook_rules_out(change: dict[str, Any], problem: str) -> None:
    assert any(problem in found for found in request_problems({**EXAMPLE, **change}))


def test_a_request_without_a_prompt_breaks_the_contract() -> None:
    assert request_problems({k: v for k, v in EXAMPLE.items() if k != "prompt"}) == [
        "prompt must be specified"
    ]


def test_the_backend_sends_the_fixtures_headers() -> None:
    assert (REQUEST["content_type"], REQUEST["accept"]) == (CONTENT_TYPE, ACCEPT)


@settings(max_examples=150, deadline=None)
@given(
    aspect=st.tuples(st.integers(1, MAX_ASPECT), st.integers(1, MAX_ASPECT)),
    steps=st.integers(1, 50),
    guidance=st.floats(MIN_GUIDANCE, MAX_GUIDANCE).map(lambda g: f"{g:.2f}"),
    count=st.integers(1, MAX_IMAGES),
    seed=st.integers(0, MAX_SEED),
    negative=st.sampled_from(["", " --no text, blurry"]),
)
def test_every_request_the_backend_can_send_keeps_the_contract(
    aspect: tuple[int, int], steps: int, guidance: str, count: int, seed: int, negative: str
) -> None:
    text = f"a tiger --ar {aspect[0]}:{aspect[1]} --steps {steps} --cfg {guidance} --n {count}{negative}"
    request = parse(text).with_seed(seed)
    assert request_problems(request_body(request)) == []


# --- the stand-in, over HTTP ------------------------------------------------------------------


@pytest.fixture
def runtime(sagemaker: SageMakerStandIn) -> Any:
    """A real SageMaker runtime client for the stand-in, one attempt per call."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(
        "sagemaker-runtime",
        endpoint_url=sagemaker.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def _invoke(runtime: Any, body: object, **headers: str) -> bytes:
    answer = runtime.invoke_endpoint(
        EndpointName="sd-21-base",
        ContentType=headers.get("content_type", CONTENT_TYPE),
        Accept=headers.get("accept", ACCEPT),
        Body=json.dumps(body).encode(),
    )
    data: bytes = answer["Body"].read()
    return data


def test_the_stand_ins_answer_keeps_the_contract(runtime: Any) -> None:
    raw = _invoke(runtime, {**EXAMPLE, "width": 64, "height": 64, "num_images_per_prompt": 2})
    assert response_problems(raw) == []
    assert len(decode_response(raw, expected=2)) == 2


@pytest.mark.parametrize(
    ("body", "headers", "said"),
    [
        ({**EXAMPLE, "width": 500}, {}, "width must be divisible by 8"),
        ({**EXAMPLE, "guidance": 7.5}, {}, "unknown parameter"),
        (EXAMPLE, {"content_type": "application/x-text"}, "Content type application/x-text is not supported"),
        (EXAMPLE, {"accept": "application/json"}, "Accept type application/json is not supported"),
    ],
)
def test_the_stand_in_refuses_what_breaks_the_contract(
    runtime: Any, sagemaker: SageMakerStandIn, body: object, headers: dict[str, str], said: str
) -> None:
    with pytest.raises(ClientError) as refused:
        _invoke(runtime, body, **headers)
    assert refused.value.response["Error"]["Code"] == "ModelError"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert refused.value.response.get("OriginalStatusCode") == 500
    assert said in refused.value.response["Error"]["Message"]


# --- the endpoint's limits, through the backend and through worker_handler -----------------------

SMALL = ImageRequest(prompt="a tiger", seed=7, width=64, height=64, steps=5)


def test_the_60_second_limit_is_a_retryable_error(runtime: Any, sagemaker: SageMakerStandIn) -> None:
    sagemaker.time_limit_seconds = 0.2  # the real limit is 60 s; the error is the same
    sagemaker.scripted.append(Answer(delay=5.0))
    with pytest.raises(BackendError) as failed:
        SageMakerBackend(runtime, "sd-21-base", budget_seconds=0).generate(SMALL)
    assert failed.value.retryable is True
    assert "60-second limit" in failed.value.reason


def test_an_answer_over_6_mb_is_a_permanent_error(runtime: Any, sagemaker: SageMakerStandIn) -> None:
    sagemaker.max_response_bytes = 1000  # the real limit is 6 MB; the error is the same
    with pytest.raises(BackendError) as failed:
        SageMakerBackend(runtime, "sd-21-base").generate(SMALL)
    assert failed.value.retryable is False
    assert "6 MB" in failed.value.reason
    assert len(sagemaker.invocations) == 1  # never retried: the same request is always too big


def _answer_of(size: int) -> bytes:
    """A contract-shaped answer of exactly ``size`` bytes (the prompt field pads it)."""
    shell = _answer(base64.b64encode(JPEG).decode())
    padded = json.loads(shell) | {"prompt": "x" * (size - len(shell) + 1)}
    raw = json.dumps(padded).encode()
    assert len(raw) == size
    return raw


def test_by_default_an_answer_of_exactly_6_mb_passes_and_one_byte_more_is_refused(
    runtime: Any, sagemaker: SageMakerStandIn
) -> None:
    """InvokeEndpoint's response Body is at most 6291456 bytes (the service model's BodyBlob
    maximum, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html);
    the stand-in keeps that limit unless a test lowers it."""
    sagemaker.scripted += [Answer(body=_answer_of(6_291_456)), Answer(body=_answer_of(6_291_457))]

    assert len(_invoke(runtime, EXAMPLE)) == 6_291_456
    with pytest.raises(ClientError) as refused:
        _invoke(runtime, EXAMPLE)
    assert refused.value.response["Error"]["Code"] == "ModelError"
    assert "could not load the entire response body" in refused.value.response["Error"]["Message"]


@pytest.fixture
def endpoint(
    env: Stack, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SageMakerStandIn]:
    monkeypatch.setenv("IMAGE_BACKEND", "sagemaker")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    reset_process_services()
    yield sagemaker
    reset_process_services()


def _images_posted(env: Stack) -> int:
    return sum(
        block["type"] == "image"
        for call in env.slack.calls_to("chat.update")
        for block in call.args["blocks"]
    )


def test_a_render_that_times_out_is_tried_again_and_posted(env: Stack, endpoint: SageMakerStandIn) -> None:
    endpoint.time_limit_seconds = 0.2
    endpoint.scripted.append(Answer(delay=5.0))  # the first render outlasts the limit
    call_http(command_event("a cyborg tiger --seed 3"))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    assert len(endpoint.invocations) == 2
    assert _images_posted(env) == 1


def test_an_answer_over_6_mb_fails_the_job_and_says_why(env: Stack, endpoint: SageMakerStandIn) -> None:
    endpoint.max_response_bytes = 1000
    call_http(command_event("a cyborg tiger --seed 3"))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}  # failed for good, not retried

    assert len(endpoint.invocations) == 1
    assert _images_posted(env) == 0
    told = json.dumps([c.args for c in env.slack.calls_to("chat.postMessage")])
    assert "could not be rendered" in told and "6 MB" in told


# --- endpoint names keep their case -----------------------------------------------------------


def test_a_mixed_case_endpoint_name_reaches_the_endpoint_as_written(
    env: Stack, endpoint: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.endpoints = ("SD-21-Base-Prod",)  # created with capitals: SageMaker keeps them
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "SD-21-Base-Prod")
    reset_process_services()
    call_http(command_event("a cyborg tiger --seed 3"))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    [invocation] = endpoint.invocations
    assert invocation.path == "/endpoints/SD-21-Base-Prod/invocations"
    assert _images_posted(env) == 1


def test_a_name_in_the_wrong_case_is_refused_as_sagemaker_refuses_it(
    env: Stack, endpoint: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.endpoints = ("SD-21-Base-Prod",)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd-21-base-prod")
    reset_process_services()
    call_http(command_event("a cyborg tiger --seed 3"))

    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}

    assert [i.path for i in endpoint.invocations] == ["/endpoints/sd-21-base-prod/invocations"]
    told = json.dumps([c.args for c in env.slack.calls_to("chat.postMessage")])
    assert "SAGEMAKER_ENDPOINT_NAME" in told
