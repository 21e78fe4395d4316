"""A local stand-in for the AWS Price List Query API's GetProducts, on 127.0.0.1, speaking the AWS
JSON 1.1 protocol as boto3's ``pricing`` client does: ``POST /`` with ``X-Amz-Target:
AWSPriceListService.GetProducts`` and ``Content-Type: application/x-amz-json-1.1``, signed with
Signature Version 4 for the service ``pricing`` (botocore's pricing service model: protocol
"json", jsonVersion 1.1, targetPrefix AWSPriceListService, signingName pricing). Point boto3 at it
with AWS_ENDPOINT_URL_PRICING.

It answers with the records it holds (tests/fixtures/pricing_sagemaker.json has the real shape),
each as a JSON string in ``PriceList``, filtered and paged as the API does: every filter must
match (``TERM_MATCH`` and ``EQUALS`` on a product attribute, ``productFamily`` or ``ServiceCode``),
at most ``MaxResults`` (1 to 100) a page, with a ``NextToken`` for the rest.

What it refuses, with the errors AWS's JSON services answer (``__type`` and ``Message``, HTTP 400):
- no Authorization header: ``MissingAuthenticationTokenException``;
- an access key it does not know: ``UnrecognizedClientException`` "The security token included
  in the request is invalid.";
- a credential scoped to another service or to a region this endpoint does not serve (the API is
  served from us-east-1, ap-south-1 and eu-central-1; botocore's endpoints.json), or a signature
  that does not verify: ``InvalidSignatureException``, in AWS's wording;
- a missing or malformed ``ServiceCode``: ``InvalidParameterException`` "Input Parameters are
  invalid. serviceCode cannot be null or empty" and "ServiceCode can only contain a-z, A-Z, 0-9"
  (the wordings users report: aws/aws-sdk-js#3329, cloud-barista/cb-spider#1055);
- a NextToken it did not issue: ``InvalidNextTokenException``; a service code it has no records
  for: ``NotFoundException`` (both are GetProducts' documented errors; their exact wording is not
  published, so these messages are the stand-in's);
- whatever ``refusal`` says, for every GetProducts: an IAM deny, throttling.

``page_size`` is a page's size when a request names no MaxResults (the API's own default is not
documented; tests lower it to make the client page).

The filter types ``CONTAINS``, ``ANY_OF`` and ``NONE_OF`` are refused as not modelled here, so a
test that relies on them fails instead of trusting a guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.local.loopback import Loopback, QuietHandler, Served

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pricing_sagemaker.json"
JSON_11 = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSPriceListService."
SERVED_REGIONS = ("us-east-1", "ap-south-1", "eu-central-1")
MAX_RESULTS = 100  # the service model's GetProductsMaxResults maximum
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


def fixture_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["PriceList"]
    return records


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    status: int = 400


@dataclass
class PriceListStandIn(Served):
    records: list[dict[str, Any]] = field(default_factory=fixture_records)
    keys: dict[str, str] = field(default_factory=lambda: {"testing": "testing"})  # access key -> secret
    region: str = "us-east-1"  # the endpoint this plays; a credential must be scoped to it
    refusal: Refusal | None = None
    page_size: int = MAX_RESULTS  # a page's size when the request gives no MaxResults
    # Every GetProducts request that passed the signature check, as its JSON body.
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Every answer, refusals included, as (status, __type or "").
    answers: list[tuple[int, str]] = field(default_factory=list)

    def start(self) -> PriceListStandIn:
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

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        status, body = self._answer(path, {k.lower(): v for k, v in headers.items()}, raw)
        self.answers.append((status, str(body.get("__type", ""))))
        return status, body

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        refused = self._unsigned(path, headers, raw)
        if refused:
            return _error(refused)
        target = headers.get("x-amz-target", "")
        if headers.get("content-type") != JSON_11 or not target.startswith(TARGET_PREFIX):
            return _error(Refusal("UnknownOperationException", ""))
        if target != TARGET_PREFIX + "GetProducts":
            return _error(Refusal("UnknownOperationException", f"stand-in: {target} is not modelled"))
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return _error(
                Refusal("SerializationException", "Start of structure or map found where not expected.")
            )
        if not isinstance(request, dict):
            return _error(
                Refusal("SerializationException", "Start of structure or map found where not expected.")
            )
        self.requests.append(request)
        if self.refusal:
            return _error(self.refusal)
        return self.get_products(request)

    def get_products(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code = request.get("ServiceCode")
        invalid = "Input Parameters are invalid."
        if not code:
            return _error(
                Refusal("InvalidParameterException", f"{invalid} serviceCode cannot be null or empty")
            )
        if not (isinstance(code, str) and code.isascii() and code.isalnum()):
            return _error(Refusal("InvalidParameterException", "ServiceCode can only contain a-z, A-Z, 0-9"))
        if request.get("FormatVersion", "aws_v1") != "aws_v1":
            return _error(Refusal("InvalidParameterException", f"{invalid} formatVersion must be aws_v1"))
        limit = request.get("MaxResults", self.page_size)
        if not (isinstance(limit, int) and 1 <= limit <= MAX_RESULTS):
            return _error(
                Refusal("InvalidParameterException", f"{invalid} maxResults must be 1 to {MAX_RESULTS}")
            )
        filters = request.get("Filters", [])
        problem = _filter_problem(filters)
        if problem:
            return _error(Refusal("InvalidParameterException", problem))
        held = [r for r in self.records if r.get("serviceCode") == code]
        if not held:
            return _error(Refusal("NotFoundException", f"stand-in: no products for service code {code}"))
        matching = [r for r in held if all(_matches(r, f) for f in filters)]
        query = _query_key(code, filters)
        start = _offset(request["NextToken"], query) if "NextToken" in request else 0
        if start is None:
            return _error(Refusal("InvalidNextTokenException", "stand-in: the pagination token is invalid"))
        page = matching[start : start + limit]
        body: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(r) for r in page]}
        if start + limit < len(matching):
            body["NextToken"] = _token(start + limit, query)
        return 200, body

    # ---- Signature Version 4, checked from the specification ------------------------------------

    def _unsigned(self, path: str, headers: dict[str, str], raw: bytes) -> Refusal | None:
        """Why AWS would refuse this request's signature, or None when it holds."""
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
        if service != "pricing":
            return Refusal(
                "InvalidSignatureException", "Credential should be scoped to correct service: 'pricing'."
            )
        if region != self.region or region not in SERVED_REGIONS:
            return Refusal("InvalidSignatureException", "Credential should be scoped to a valid region.")
        signed = match.group(2).split(";")
        if "host" not in signed:
            return Refusal(
                "InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization."
            )
        target, _, query = path.partition("?")
        canonical = "\n".join(
            [
                "POST",
                target,
                "&".join(sorted(query.split("&"))) if query else "",
                "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
                ";".join(signed),
                hashlib.sha256(raw).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                headers["x-amz-date"],
                f"{date}/{region}/{service}/aws4_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = ("AWS4" + self.keys[access_key]).encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(3)):
            return Refusal("InvalidSignatureException", SIGNATURE_MISMATCH)
        return None


def _error(refusal: Refusal) -> tuple[int, dict[str, Any]]:
    return refusal.status, {"__type": refusal.code, "Message": refusal.message}


def _filter_problem(filters: Any) -> str:
    if not isinstance(filters, list) or len(filters) > 50:  # the service model's Filters maximum
        return "Input Parameters are invalid. filters must be a list of at most 50 filters"
    for item in filters:
        if not (
            isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("Type", "Field", "Value"))
        ):
            return "Input Parameters are invalid. each filter needs Type, Field and Value"
        if item["Type"] not in ("TERM_MATCH", "EQUALS"):
            return f"stand-in: filter type {item['Type']} is not modelled"
    return ""


def _matches(record: dict[str, Any], item: dict[str, str]) -> bool:
    product = record.get("product", {})
    if item["Field"] == "ServiceCode":
        value = record.get("serviceCode")
    elif item["Field"] == "productFamily":
        value = product.get("productFamily")
    else:
        value = product.get("attributes", {}).get(item["Field"])
    return value == item["Value"]


def _query_key(code: str, filters: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps([code, filters], sort_keys=True).encode()).hexdigest()[:16]


def _token(offset: int, query: str) -> str:
    return base64.b64encode(json.dumps({"o": offset, "q": query}).encode()).decode()


def _offset(token: Any, query: str) -> int | None:
    try:
        decoded = json.loads(base64.b64decode(str(token), validate=True))
    except ValueError:
        return None
    if not isinstance(decoded, dict) or decoded.get("q") != query or not isinstance(decoded.get("o"), int):
        return None
    offset: int = decoded["o"]
    return offset
