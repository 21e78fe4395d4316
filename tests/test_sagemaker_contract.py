"""Decoding the JumpStart text-to-image answer, including the ways it can be wrong."""

from __future__ import annotations

import base64
import json

import pytest

from bot.backends import BackendError
from bot.backends.placeholder import PlaceholderBackend
from bot.backends.sagemaker import decode_response, request_body
from bot.prompt import ImageRequest

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
