"""The prices ``imagine-bot cost`` works from: SageMaker instance prices from the AWS Price List
API when boto3's credential chain finds credentials, otherwise (or when the API fails) from the
bundled table, prices.json, which names its sources and the date they were read; Bedrock's
per-image prices and the GPU seconds per image from the same table."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_pricing import PricingClient
    from mypy_boto3_pricing.type_defs import FilterTypeDef

# The Price List Query API is served from us-east-1, ap-south-1 and eu-central-1 only (botocore's
# endpoints.json, "api.pricing"); any of them prices every region.
PRICE_LIST_REGION = "us-east-1"
SERVICE_CODE = "AmazonSageMaker"


@dataclass(frozen=True)
class InstancePrice:
    realtime: float  # USD per instance hour, real-time hosting (usage type ...-Host:<instance>)
    asynchronous: float | None  # USD per hour, async inference (...-AsyncInf:<instance>); None: not offered
    source: str  # where the figures came from, as printed
    async_assumed: bool = False  # no AsyncInf figure was found: taken to equal the real-time price


@dataclass(frozen=True)
class BedrockModel:
    model_id: str
    name: str
    per_image: float


class NoPrice(Exception):
    """No price to be had: the message says why, in one line."""


def load_table() -> dict[str, Any]:
    text = resources.files("bot.ops").joinpath("prices.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def table_price(table: dict[str, Any], region: str, instance: str, why: str) -> InstancePrice:
    regions: dict[str, dict[str, Any]] = table["sagemaker"]["regions"]
    entry = regions.get(region, {}).get(instance)
    if entry is None:
        covered = "; ".join(f"{name}: {', '.join(sorted(items))}" for name, items in sorted(regions.items()))
        raise NoPrice(
            f"no price for {instance} in {region}: {why}, and the bundled table covers only {covered}. "
            "Give AWS credentials (for the Price List API) or --hourly-price"
        )
    realtime = float(entry["realtime"])
    assumed = "async" not in entry
    asynchronous = realtime if assumed else (None if entry["async"] is None else float(entry["async"]))
    read = table["read"]
    return InstancePrice(
        realtime, asynchronous, f"bundled table (AWS pricing pages, read {read}), because {why}", assumed
    )


def gpu_seconds(table: dict[str, Any], instance: str) -> float:
    figures: dict[str, float] = table["gpu_seconds_per_image"]["instances"]
    if instance not in figures:
        raise NoPrice(
            f"no GPU-seconds-per-image figure for {instance} in the bundled table "
            f"(it has {', '.join(sorted(figures))}): measure your endpoint and give --gpu-seconds-per-image"
        )
    return float(figures[instance])


def bedrock_models(table: dict[str, Any]) -> list[BedrockModel]:
    models: dict[str, dict[str, Any]] = table["bedrock"]["models"]
    return [BedrockModel(key, str(m["name"]), float(m["per_image"])) for key, m in models.items()]


def retired_models(table: dict[str, Any]) -> str:
    """The models past their end of life on Bedrock, said once so nobody looks for their price."""
    retired: dict[str, dict[str, str]] = table["bedrock"].get("retired", {})
    if not retired:
        return ""
    named = ", ".join(f"{m['name']} (end of life {m['end_of_life']})" for m in retired.values())
    return f"; retired, so not compared: {named}"


def price_list_client() -> PricingClient | None:
    """A Price List client when boto3's credential chain (environment, shared files, SSO, container
    or instance role) finds credentials, else None: without them the API is not worth calling.

    A session of its own: boto3's default session keeps the credentials it first found, and the
    check and the calls must use the same ones.
    """
    import boto3
    from botocore.config import Config

    session = boto3.Session()
    if session.get_credentials() is None:
        return None
    # AWS_ENDPOINT_URL_PRICING, when set, is honoured by boto3 itself; the region only picks the
    # service endpoint. A failing API should fall back quickly, not hang the command.
    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
    return session.client("pricing", region_name=PRICE_LIST_REGION, config=config)


def price_list_price(client: PricingClient, region: str, instance: str) -> InstancePrice:
    """The instance's real-time and async hourly prices in ``region`` from GetProducts.

    SageMaker's records carry ``regionCode`` and ``instanceName`` (e.g. ``ml.g5.xlarge``); one
    instance has a record per use (hosting, async inference, training, notebooks...), told apart
    by ``usagetype``: ``USE1-Host:ml.g5.xlarge`` for real-time hosting and
    ``USE1-AsyncInf:ml.g5.xlarge`` for async inference (tests/fixtures/pricing_sagemaker.json).
    Raises NoPrice with the API's own error when it fails or has no real-time price.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    filters: list[FilterTypeDef] = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance},
    ]
    try:
        paginator = client.get_paginator("get_products")
        pages = paginator.paginate(ServiceCode=SERVICE_CODE, Filters=filters, FormatVersion="aws_v1")
        records = [json.loads(item) for page in pages for item in page.get("PriceList", [])]
    except ClientError as error:
        details = error.response.get("Error", {})
        raise NoPrice(
            f"the Price List API refused: {details.get('Code', '?')}: {_one_line(details.get('Message', ''))}"
        ) from error
    except (BotoCoreError, ValueError) as error:
        raise NoPrice(f"the Price List API failed: {_one_line(str(error))}") from error
    host = _priced(records, region, "Host", instance)
    if host is None:
        raise NoPrice(f"the Price List has no real-time hosting price for {instance} in {region}")
    asynchronous = _priced(records, region, "AsyncInf", instance)
    published = host[1].get("publicationDate", "")
    usage = host[1]["product"]["attributes"]["usagetype"]
    when = f", published {published[:10]}" if published else ""
    return InstancePrice(
        host[0], asynchronous[0] if asynchronous else None, f"AWS Price List API ({usage}{when})"
    )


def _priced(
    records: Iterable[dict[str, Any]], region: str, use: str, instance: str
) -> tuple[float, dict[str, Any]] | None:
    # Usage types carry a region prefix (USE1-, EUW3-...) before the use and the instance.
    usage = re.compile(rf"(?:^|-){use}:{re.escape(instance)}$")
    for record in records:
        attributes = record.get("product", {}).get("attributes", {})
        if attributes.get("regionCode") != region or not usage.search(attributes.get("usagetype", "")):
            continue
        hourly = _on_demand_hourly(record)
        if hourly is not None:
            return hourly, record
    return None


def _on_demand_hourly(record: dict[str, Any]) -> float | None:
    for term in record.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None:
                return float(usd)
    return None


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def instance_price(table: dict[str, Any], region: str, instance: str) -> InstancePrice:
    """From the Price List API when credentials are present, else from the bundled table."""
    client = price_list_client()
    if client is None:
        return table_price(table, region, instance, "no AWS credentials were found")
    try:
        return price_list_price(client, region, instance)
    except NoPrice as failed:
        return table_price(table, region, instance, str(failed))
