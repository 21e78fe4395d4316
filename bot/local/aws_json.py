"""AWS's JSON 1.1 protocol, as a stand-in on 127.0.0.1 speaks it for an API moto does not have.

boto3 sends ``POST /`` with ``X-Amz-Target: <TargetPrefix>.<Operation>``, ``Content-Type:
application/x-amz-json-1.1`` and the input as a JSON object, signed with Signature Version 4 for
the service's signing name (botocore's service models: protocol "json", jsonVersion "1.1").
Errors are HTTP 4xx/5xx with ``{"__type": "<Code>", "Message": "..."}``, which botocore turns into
a ``ClientError`` whose ``Error.Code`` is the type. Point boto3 at a stand-in with
``AWS_ENDPOINT_URL_<SERVICE>`` (boto3 reads it since 1.28: "Service-specific endpoints",
docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).

Refused before any operation, as AWS refuses it:
- no Authorization header: ``MissingAuthenticationTokenException``;
- a malformed one: ``IncompleteSignatureException``; an access key it does not know:
  ``UnrecognizedClientException`` "The security token included in the request is invalid.";
- a credential scoped to another service or to a region the stand-in does not serve, or a
  signature that does not verify (checked from the specification, not with botocore):
  ``InvalidSignatureException``, in AWS's wording;
- another content type or target prefix: ``UnknownOperationException``; a body that is not a JSON
  object: ``SerializationException``.

``fail(operation, times=N, code=...)`` answers the next N calls of an operation with an error
(``ThrottlingException``...), and ``down(operation, code)`` every call until ``up()``: the
service throttled or out, as tests and the local stack need it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bot.local.loopback import Loopback, QuietHandler, Served

JSON_11 = "application/x-amz-json-1.1"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    status: int = 400
    fields: tuple[tuple[str, Any], ...] = ()  # more of the error body (DetectedLanguageCode...)

    def answer(self) -> Answer:
        return self.status, {"__type": self.code, "Message": self.message, **dict(self.fields)}


@dataclass
class _Fault:
    operation: str
    refusal: Refusal
    times: int | None  # None: until up()


@dataclass
class JsonService(Served):
    """A JSON 1.1 service's stand-in: ``operations`` answers each operation's input."""

    service: str = ""  # the Signature Version 4 signing name
    target_prefix: str = ""
    regions: tuple[str, ...] = ()  # where it is served; () any region
    keys: dict[str, str] = field(default_factory=lambda: {"testing": "testing", "local": "local"})
    # Every call that passed the signature check, as (operation, its JSON input).
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Every answer, refusals included, as (operation, status, __type or "").
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def operations(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        raise NotImplementedError

    def fail(self, operation: str, *, times: int, code: str, status: int = 400, message: str = "") -> None:
        with self._lock:
            self._faults.append(_Fault(operation, Refusal(code, message or code, status), times))

    def down(self, operation: str, *, code: str, status: int = 400, message: str = "") -> None:
        with self._lock:
            self._faults.append(_Fault(operation, Refusal(code, message or code, status), None))

    def up(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self.requests if name == operation]

    def start(self) -> Self:
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = stand_in.answer(self.path, dict(self.headers.items()), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", JSON_11)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", hashlib.md5(raw, usedforsecurity=False).hexdigest())
                self.end_headers()
                self.wfile.write(payload)

        self._server = Loopback(Handler)
        return self

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        named = {k.lower(): v for k, v in headers.items()}
        operation = named.get("x-amz-target", "").removeprefix(self.target_prefix + ".")
        status, body = self._answer(path, named, raw, operation)
        with self._lock:
            self.answers.append((operation, status, str(body.get("__type", ""))))
        return status, body

    def _answer(self, path: str, headers: dict[str, str], raw: bytes, operation: str) -> Answer:
        refused = self._unsigned(path, headers, raw)
        if refused:
            return refused.answer()
        target = headers.get("x-amz-target", "")
        handler = self.operations().get(operation)
        if headers.get("content-type") != JSON_11 or not target.startswith(self.target_prefix + "."):
            return Refusal("UnknownOperationException", "").answer()
        if handler is None:
            return Refusal("UnknownOperationException", f"stand-in: {target} is not modelled").answer()
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return Refusal(
                "SerializationException", "Start of structure or map found where not expected."
            ).answer()
        with self._lock:
            self.requests.append((operation, request))
            fault = next((f for f in self._faults if f.operation == operation), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            return fault.refusal.answer()
        return handler(request)

    # ---- Signature Version 4, checked from the specification ------------------------------------

    def _unsigned(self, path: str, headers: dict[str, str], raw: bytes) -> Refusal | None:
        """Why AWS would refuse this request's signature, or None when it holds
        (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)."""
        authorization = headers.get("authorization", "")
        if not authorization:
            return Refusal("MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTHORIZATION.match(authorization)
        scope = match.group(1).split("/") if match else []
        if match is None or len(scope) != 5 or scope[4] != "aws4_request" or "x-amz-date" not in headers:
            return Refusal("IncompleteSignatureException", "Authorization header requires existence of "
                           "Credential, SignedHeaders and Signature parameters")  # fmt: skip
        access_key, date, region, service, _ = scope
        if access_key not in self.keys:
            return Refusal(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if service != self.service:
            return Refusal(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{self.service}'.",
            )
        if self.regions and region not in self.regions:
            return Refusal("InvalidSignatureException", "Credential should be scoped to a valid region.")
        signed = match.group(2).split(";")
        if "host" not in signed:
            return Refusal(
                "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization."
            )
        target, _, query = path.partition("?")
        canonical = "\n".join([
            "POST",
            target,
            "&".join(sorted(query.split("&"))) if query else "",
            "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(raw).hexdigest(),
        ])  # fmt: skip
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256",
            headers["x-amz-date"],
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ])  # fmt: skip
        key = ("AWS4" + self.keys[access_key]).encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(3)):
            return Refusal("InvalidSignatureException", SIGNATURE_MISMATCH)
        return None
