"""The answers of the JumpStart image-to-image containers the SageMaker stand-in plays
(tests/fakes/sagemaker_runtime.py), each made with PIL from the images a request sent, at the size
its notebook gives (tests/fixtures/jumpstart_upscaling.json, jumpstart_inpainting.json):

- the x4 upscaler: the image 4x each side (``output_size.factor``), one image per prompt, with a
  square in its lower right corner so a test can tell it from the input; an input past the
  GPU's limit (``upscale_max_input_pixels``, none unless a test sets one: the notebook names no
  number) fails as PyTorch fails, "CUDA out of memory. ...";
- SD2 inpainting: the image at its own size, white-masked pixels painted over (each channel pushed
  at least 128 away) and black-masked pixels kept, ``num_images_per_prompt`` images per prompt.
"""

from __future__ import annotations

import json
from typing import Any

from PIL import Image

from tests.fakes.image_ops import encoded, far, mark, opened


def _prompts(body: dict[str, Any]) -> list[str]:
    prompt = body["prompt"]
    return [str(p) for p in prompt] if isinstance(prompt, list) else [str(prompt)]


def _opened(value: object) -> Image.Image:
    image = opened(value, ("JPEG",))
    assert image is not None  # the contract let it through
    return image.convert("RGB")


def out_of_memory(contract: dict[str, Any], body: dict[str, Any], limit: int | None) -> str:
    """PyTorch's words for an upscale past the GPU's memory, or "" when it fits."""
    source = _opened(body["image"])
    pixels = source.width * source.height
    if limit is None or pixels <= limit:
        return ""
    factor = contract["output_size"]["factor"]
    gib = pixels * factor * factor * 1024 / 2**30  # the upscaled image's attention, roughly
    return str(contract["input_size"]["out_of_memory"]["message"]).format(gib=gib)


def upscaled(contract: dict[str, Any], body: dict[str, Any]) -> bytes:
    source = _opened(body["image"])
    factor = int(contract["output_size"]["factor"])
    size = (source.width * factor, source.height * factor)
    images = [encoded(mark(source.resize(size, Image.Resampling.BICUBIC))) for _ in _prompts(body)]
    return json.dumps({"generated_images": images, "prompt": body["prompt"]}).encode()


def inpainted(contract: dict[str, Any], body: dict[str, Any]) -> bytes:
    source = _opened(body["image"])
    threshold = int(contract["mask"]["threshold"])
    mask = _opened(body["mask_image"]).convert("L").point(lambda level: 255 if level >= threshold else 0)
    painted = encoded(Image.composite(far(source), source, mask))
    count = len(_prompts(body)) * int(body.get("num_images_per_prompt", 1))
    return json.dumps({"generated_images": [painted] * count}).encode()
