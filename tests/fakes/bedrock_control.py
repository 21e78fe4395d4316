"""A local stand-in for Amazon Bedrock's control plane (the ``bedrock`` client, not
``bedrock-runtime``) in one region, on 127.0.0.1, for what ``imagine-bot doctor`` asks it:

- GetFoundationModel, ``GET /foundation-models/{modelIdentifier}``: ``{"modelDetails": ...}``
  for the models that region serves, as tests/fixtures/bedrock_get_foundation_model.json holds
  them (its ``sources`` name AWS's API reference pages); 404 ResourceNotFoundException for any
  other, 400 ValidationException for an identifier outside the API's pattern;
- GetFoundationModelAvailability, ``GET /foundation-model-availability/{modelId}``: one of the
  fixture's ``availability`` answers for a model it serves (``availability`` picks which), 404
  for any other.

Requests must be signed with SigV4 for service ``bedrock`` in this stand-in's region, checked as
the runtime stand-in checks them (tests/fakes/bedrock_runtime.py), so a client that asks the
wrong region is refused as AWS refuses it. Errors carry ``x-amzn-ErrorType`` and
``{"message": ...}``, as Bedrock sends them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from bot.local.loopback import Loopback, QuietHandler, Served
from tests.fakes.bedrock_http import Answer, send_answer
from tests.fakes.bedrock_runtime import BedrockStandIn

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "bedrock_get_foundation_model.json").read_text()
)
# GetFoundationModel's modelIdentifier pattern for a model id (the API reference's, without ARNs).
_MODEL_ID = re.compile(r"^[a-z0-9-]{1,63}[.][a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}$")
_PATHS = {"foundation-models": "model", "foundation-model-availability": "availability"}


def _error(code: str) -> Answer:
    known = FIXTURE["errors"][code]
    return Answer(known["status"], json.dumps({"message": known["message"]}).encode(), code)


@dataclass
class BedrockControlStandIn(Served):
    region: str = "us-west-2"
    # Which of the fixture's availability answers each model gets; "subscribed" otherwise.
    availability: dict[str, str] = field(default_factory=dict)
    # Lifecycle changes on top of the fixture's, by model id (a model turned LEGACY, say).
    lifecycles: dict[str, dict[str, str]] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)  # (operation, model id)
    keys: dict[str, str] = field(default_factory=lambda: {"testing": "testing"})

    def start(self) -> BedrockControlStandIn:
        stand_in = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                answer = stand_in.answer(self.path, dict(self.headers.items()))
                send_answer(self, answer.status, answer.body, answer.error_type)

        self._server = Loopback(Handler)
        return self

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        served: dict[str, dict[str, Any]] = FIXTURE["regions"].get(self.region, {})
        return served

    def answer(self, target: str, headers: dict[str, str]) -> Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        # The same SigV4 check as the runtime's: both sign as "bedrock".
        signer = BedrockStandIn(keys=self.keys, region=self.region)
        refusal = signer._signature_refusal("GET", target, lowered, b"")
        if refusal is not None:
            return refusal
        parts = target.partition("?")[0].strip("/").split("/")
        if len(parts) != 2 or parts[0] not in _PATHS:
            return Answer(404, json.dumps({"message": "Not Found"}).encode(), "UnknownOperationException")
        operation, model_id = _PATHS[parts[0]], unquote(parts[1])
        self.asked.append((operation, model_id))
        if not _MODEL_ID.match(model_id):
            return _error("ValidationException")
        details = self.models.get(model_id)
        if details is None:
            return _error("ResourceNotFoundException")
        if operation == "availability":
            found = FIXTURE["availability"][self.availability.get(model_id, "subscribed")]
            return Answer(200, json.dumps({"modelId": model_id, **found}).encode())
        lifecycle = {**details["modelLifecycle"], **self.lifecycles.get(model_id, {})}
        return Answer(200, json.dumps({"modelDetails": {**details, "modelLifecycle": lifecycle}}).encode())
