"""A local stand-in for the SageMaker runtime's InvokeEndpoint, speaking JumpStart contracts over
HTTP on 127.0.0.1, with the real endpoint's refusals. Each endpoint speaks one contract
(``contracts``: endpoint name -> "text_to_image", "upscaling" or "inpainting", read from
tests/fixtures/jumpstart_<contract>.json; text-to-image for an endpoint not named there):

- an endpoint it does not serve, matched case-sensitively as SageMaker keeps the case a name was
  created with: ``ValidationError`` (400) "Endpoint X of account Y not found."
  (aws/amazon-sagemaker-examples#293);
- a request that breaks its endpoint's JumpStart contract: ``ModelError`` (424) wrapping the
  container's 500, which is what the SageMaker inference toolkit answers for any error that is
  not its own (sagemaker_inference/transformer.py); so too an upscale whose input is past the
  GPU's memory (``upscale_max_input_pixels``), in PyTorch's words (tests/fakes/jumpstart_images.py);
- a container that does not answer within 60 seconds (``time_limit_seconds``): ``ModelError``
  (424) "Received server error (0) from primary with message "Your invocation timed out while
  waiting for a response from container primary..."" (InvokeEndpoint API reference: "A
  customer's model containers must respond to requests within 60 seconds";
  aws/sagemaker-python-sdk#1119);
- an answer over 6 MB (``max_response_bytes``; the API's response Body is at most 6291456
  bytes): ``ModelError`` (424) "... could not load the entire response body", SageMaker's
  wording for a container answer it could not take whole (aws/amazon-sagemaker-examples#4324).

Error bodies carry the ModelError members botocore's service model names: Message,
OriginalStatusCode, OriginalMessage and LogStreamArn.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from bot.backends.placeholder import draw
from bot.local.loopback import Loopback, QuietHandler, Served
from bot.model.prompt import ImageRequest
from tests.fakes import jumpstart_images
from tests.fakes.image_ops import sent_image
from tests.fakes.jumpstart_contract import CONTRACTS, header_problems, request_problems

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MAX_BODY_BYTES = 6 * 1024 * 1024  # 6291456, the service model's BodyBlob maximum
TIMED_OUT = (
    "Your invocation timed out while waiting for a response from container primary. Review the "
    "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
)


@dataclass
class Invocation:
    endpoint: str
    headers: dict[str, str]
    body: dict[str, Any]
    path: str = ""  # the request path exactly as it arrived

    def image(self, name: str = "image") -> PILImage:
        """The image this call sent in ``name`` (base64 in the JSON body), decoded."""
        return sent_image(self.body, name)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""  # empty: real images
    error_type: str = ""  # sent as x-amzn-ErrorType, as SageMaker names its errors
    delay: float = 0.0  # seconds the container takes to answer (a slow endpoint)


@dataclass
class SageMakerStandIn(Served):
    invocations: list[Invocation] = field(default_factory=list)
    # What the next answers are, used up in order; after them, real images.
    scripted: list[Answer] = field(default_factory=list)
    # The endpoints that exist, by their exact names.
    endpoints: tuple[str, ...] = ("sd-21-base",)
    # The contract each endpoint speaks, by name; "text_to_image" for one not named here.
    contracts: dict[str, str] = field(default_factory=dict)
    # Input pixels past which an upscaling endpoint's GPU runs out of memory (None: no limit).
    upscale_max_input_pixels: int | None = None
    time_limit_seconds: float = 60.0
    max_response_bytes: int = MAX_BODY_BYTES
    region: str = "us-east-1"
    account: str = "123456789012"

    def start(self) -> SageMakerStandIn:
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = stand_in.answer(self.path, dict(self.headers.items()), raw)
                time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.error_type:
                    self.send_header("x-amzn-ErrorType", answer.error_type)
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up on a slow answer
                    self.wfile.write(answer.body)

        self._server = Loopback(Handler)
        return self

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        headers = {k.lower(): v for k, v in headers.items()}
        parts = path.split("/")
        endpoint = unquote(parts[2]) if len(parts) == 4 and parts[1] == "endpoints" else ""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.invocations.append(Invocation(endpoint, headers, body if isinstance(body, dict) else {}, path))
        if parts[-1] != "invocations" or endpoint not in self.endpoints:
            message = f"Endpoint {endpoint} of account {self.account} not found."
            return Answer(400, json.dumps({"Message": message}).encode(), "ValidationError")
        kind = self.contracts.get(endpoint, "text_to_image")
        contract = CONTRACTS[kind]
        problems = header_problems(headers.get("content-type", ""), headers.get("accept", ""), contract)
        if not problems:
            problems = request_problems(body, contract) if body is not None else ["the body is not JSON"]
        if problems:
            return self.model_error(endpoint, 500, "; ".join(problems))
        assert isinstance(body, dict)
        if kind == "upscaling":
            failed = jumpstart_images.out_of_memory(contract, body, self.upscale_max_input_pixels)
            if failed:
                return self.model_error(endpoint, contract["input_size"]["out_of_memory"]["status"], failed)
        scripted = self.scripted.pop(0) if self.scripted else Answer()
        if scripted.status != 200 or scripted.body:
            answer = scripted
        else:
            answer = Answer(body=self._answer(kind, contract, body), delay=scripted.delay)
        if answer.delay > self.time_limit_seconds:  # SageMaker stops waiting, and says so
            return replace(self.model_error(endpoint, 0, TIMED_OUT), delay=self.time_limit_seconds)
        if answer.status == 200 and len(answer.body) > self.max_response_bytes:
            return replace(self.model_error(endpoint, 0, "", unreadable=True), delay=answer.delay)
        return answer

    def model_error(self, endpoint: str, status: int, message: str, *, unreadable: bool = False) -> Answer:
        """A ModelError, as SageMaker wraps what went wrong in the container."""
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        logs = (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logEventViewer:group={group}"
        )
        kind = "client" if 400 <= status < 500 else "server"
        said = "and could not load the entire response body" if unreadable else f'with message "{message}"'
        error = {
            "Message": f"Received {kind} error ({status}) from primary {said}. "
            f"See {logs} in account {self.account} for more information.",
            "OriginalStatusCode": status,
            "OriginalMessage": message,
            "LogStreamArn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}",
        }
        return Answer(424, json.dumps(error).encode(), "ModelError")

    def _answer(self, kind: str, contract: dict[str, Any], body: dict[str, Any]) -> bytes:
        if kind == "upscaling":
            return jumpstart_images.upscaled(contract, body)
        if kind == "inpainting":
            return jumpstart_images.inpainted(contract, body)
        return self._images(body)

    def _images(self, body: dict[str, Any]) -> bytes:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        negatives = body.get("negative_prompt", "")
        images: list[str] = []
        for n, prompt in enumerate(prompts):
            request = ImageRequest(
                prompt=prompt,
                negative_prompt=negatives[n] if isinstance(negatives, list) else negatives,
                width=body.get("width", 512),
                height=body.get("height", 512),
                seed=body.get("seed", 0),
                count=body.get("num_images_per_prompt", 1),
            )
            images.extend(base64.b64encode(draw(request, i)).decode() for i in range(request.count))
        return json.dumps({"generated_images": images, "prompt": body["prompt"]}).encode()
