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

What it refuses (beside what every JSON stand-in refuses: bot/local/aws_json.py; the API is
served from us-east-1, ap-south-1 and eu-central-1, botocore's endpoints.json):
- a missing or malformed ``ServiceCode``: ``InvalidParameterException`` "Input Parameters are
  invalid. serviceCode cannot be null or empty" and "ServiceCode can only contain a-z, A-Z, 0-9"
  (the wordings users report: aws/aws-sdk-js#3329, cloud-barista/cb-spider#1055);
- a NextToken it did not issue: ``InvalidNextTokenException``; a service code it has no records
  for: ``NotFoundException`` (both are GetProducts' documented errors; their exact wording is not
  published, so these messages are the stand-in's);
- whatever ``down("GetProducts", code=...)`` says: an IAM deny, throttling.

``page_size`` is a page's size when a request names no MaxResults (the API's own default is not
documented; tests lower it to make the client page).

The filter types ``CONTAINS``, ``ANY_OF`` and ``NONE_OF`` are refused as not modelled here, so a
test that relies on them fails instead of trusting a guess.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.local.aws_json import Answer, JsonService, Refusal

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pricing_sagemaker.json"
SERVED_REGIONS = ("us-east-1", "ap-south-1", "eu-central-1")
MAX_RESULTS = 100  # the service model's GetProductsMaxResults maximum


def fixture_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["PriceList"]
    return records


@dataclass
class PriceListStandIn(JsonService):
    service: str = "pricing"
    target_prefix: str = "AWSPriceListService"
    regions: tuple[str, ...] = SERVED_REGIONS
    records: list[dict[str, Any]] = field(default_factory=fixture_records)
    region: str = "us-east-1"  # the endpoint this plays; a credential must be scoped to it
    page_size: int = MAX_RESULTS  # a page's size when the request gives no MaxResults

    def __post_init__(self) -> None:
        self.regions = tuple(r for r in SERVED_REGIONS if r == self.region)

    def operations(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        return {"GetProducts": self.get_products}

    def get_products(self, request: dict[str, Any]) -> Answer:
        code = request.get("ServiceCode")
        invalid, bad = "Input Parameters are invalid.", "InvalidParameterException"
        if not code:
            return Refusal(bad, f"{invalid} serviceCode cannot be null or empty").answer()
        if not (isinstance(code, str) and code.isascii() and code.isalnum()):
            return Refusal(bad, "ServiceCode can only contain a-z, A-Z, 0-9").answer()
        if request.get("FormatVersion", "aws_v1") != "aws_v1":
            return Refusal(bad, f"{invalid} formatVersion must be aws_v1").answer()
        limit = request.get("MaxResults", self.page_size)
        if not (isinstance(limit, int) and 1 <= limit <= MAX_RESULTS):
            return Refusal(bad, f"{invalid} maxResults must be 1 to {MAX_RESULTS}").answer()
        filters = request.get("Filters", [])
        problem = _filter_problem(filters)
        if problem:
            return Refusal(bad, problem).answer()
        held = [r for r in self.records if r.get("serviceCode") == code]
        if not held:
            return Refusal("NotFoundException", f"stand-in: no products for service code {code}").answer()
        matching = [r for r in held if all(_matches(r, f) for f in filters)]
        query = _query_key(code, filters)
        start = _offset(request["NextToken"], query) if "NextToken" in request else 0
        if start is None:
            return Refusal("InvalidNextTokenException", "stand-in: the pagination token is invalid").answer()
        page = matching[start : start + limit]
        body: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(r) for r in page]}
        if start + limit < len(matching):
            body["NextToken"] = _token(start + limit, query)
        return 200, body


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
