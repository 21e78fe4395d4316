"""``imagine-bot cost``: the arithmetic for known inputs, instance prices from the Price List API
(a local stand-in speaking its JSON 1.1 protocol, reached through AWS_ENDPOINT_URL_PRICING), the
fall back to the bundled table without credentials or when the API refuses, argparse's errors,
and the report at 50, 500 and 5,000 images a day."""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.ops import cost
from bot.ops.cost import (
    DAYS_PER_MONTH,
    Workload,
    async_monthly,
    async_vs_bedrock,
    bedrock_monthly,
    instances_needed,
    realtime_monthly,
    realtime_vs_async,
    realtime_vs_bedrock,
)
from bot.ops.prices import load_table
from tests.fakes.pricing_api import PriceListStandIn, fixture_records

ISSUE_MODELS = {
    "stability.stable-image-core-v1:1",
    "stability.stable-image-ultra-v1:1",
    "stability.sd3-5-large-v1:0",
}


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS setting from this machine, and nowhere for boto3's credential chain to find any."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def price_list(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[PriceListStandIn]:
    stand_in = PriceListStandIn().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", stand_in.url)
    yield stand_in
    stand_in.stop()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, price_list: PriceListStandIn) -> PriceListStandIn:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return price_list


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cost.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def costs(report: str) -> dict[str, float]:
    """The printed table as backend -> monthly dollars (backends not offered are left out)."""
    rows = report.split("\nbackend")[1].split("\n\n")[0].splitlines()[1:]
    found = {}
    for row in rows:
        match = re.match(r"^(.+?)\s+\$([\d,]+\.\d\d)\s+\$", row)
        if match:
            found[match.group(1)] = float(match.group(2).replace(",", ""))
    return found


def record(
    region: str, usage: str, price: str, *, instance: str = "ml.g5.xlarge", prefix: str = "USE1"
) -> dict[str, Any]:
    """A fixture record moved to another region, use or price, keeping its real shape."""
    template = next(
        r for r in fixture_records() if r["product"]["attributes"]["usagetype"].endswith("Host:ml.g5.xlarge")
    )
    made = copy.deepcopy(template)
    attributes = made["product"]["attributes"]
    attributes.update(regionCode=region, instanceName=instance, usagetype=f"{prefix}-{usage}:{instance}")
    for term in made["terms"]["OnDemand"].values():
        for dimension in term["priceDimensions"].values():
            dimension["pricePerUnit"]["USD"] = price
    return made


def set_price(stand_in: PriceListStandIn, usage: str, price: str) -> None:
    for held in stand_in.records:
        if held["product"]["attributes"]["usagetype"] == usage:
            for term in held["terms"]["OnDemand"].values():
                for dimension in term["priceDimensions"].values():
                    dimension["pricePerUnit"]["USD"] = price


# ---- the arithmetic -------------------------------------------------------------------------------


def test_real_time_bills_730_hours_a_month_per_instance() -> None:
    assert realtime_monthly(1.0, Workload(100, 2.0)) == pytest.approx(730.0)
    busy = Workload(100_000, 2.0)  # 200,000 GPU seconds a day: three instances
    assert instances_needed(busy) == 3
    assert realtime_monthly(1.5, busy) == pytest.approx(3 * 1.5 * 730)


def test_async_bills_gpu_time_plus_an_idle_tail_per_wake_up() -> None:
    workload = Workload(100, 3.0, bursts_per_day=4, idle_minutes=10)
    # 100 * 3 s of work, and 4 wake-ups each idling 600 s: 2,700 s a day at $2 an hour.
    assert async_monthly(2.0, workload) == pytest.approx(2.0 * 2700 / 3600 * DAYS_PER_MONTH)
    few = Workload(2, 3.0, bursts_per_day=8, idle_minutes=15)  # two images can wake it only twice
    assert async_monthly(3600.0, few) == pytest.approx((2 * 3 + 2 * 900) * DAYS_PER_MONTH)


def test_async_never_costs_more_than_the_instance_left_up() -> None:
    workload = Workload(1000, 60.0, bursts_per_day=24, idle_minutes=60)  # tails overlap: never scales in
    assert async_monthly(1.408, workload) == pytest.approx(realtime_monthly(1.408, workload))


def test_bedrock_bills_each_image() -> None:
    assert bedrock_monthly(0.04, Workload(300, 3.0)) == pytest.approx(0.04 * 300 * 730 / 24)


def test_break_even_between_real_time_and_async() -> None:
    workload = Workload(1, 3.0, bursts_per_day=8, idle_minutes=15)
    volume = realtime_vs_async(1.408, 1.408, workload)
    assert volume == pytest.approx((86_400 - 8 * 900) / 3)  # 26,400
    at = Workload(26_400, 3.0, 8, 15)
    below = Workload(26_399, 3.0, 8, 15)
    assert async_monthly(1.408, at) == pytest.approx(realtime_monthly(1.408, at))
    assert async_monthly(1.408, below) < realtime_monthly(1.408, below)
    # Fewer images than bursts: each wakes the endpoint alone, 100 s of work and an hour idle.
    slow = Workload(1, 100.0, bursts_per_day=30, idle_minutes=60)
    assert realtime_vs_async(1.0, 1.0, slow) == pytest.approx(86_400 / 3_700)
    # From 24 images the idle tails fill the day: async bills as much as always-on, never more.
    assert async_monthly(1.0, Workload(24, 100.0, 30, 60)) == pytest.approx(realtime_monthly(1.0, slow))
    assert async_monthly(1.0, Workload(23, 100.0, 30, 60)) < realtime_monthly(1.0, slow)
    # An async price far below real-time's: the crossing lies past what one instance can do.
    assert realtime_vs_async(10.0, 1.0, workload) is None


def test_break_even_between_real_time_and_bedrock() -> None:
    volume = realtime_vs_bedrock(1.408, 0.04, Workload(1, 3.0))
    assert volume == pytest.approx(844.8)
    # 36 s of GPU at $1 an hour is $0.01 an image: a $0.005 model stays cheaper at any volume.
    assert realtime_vs_bedrock(1.0, 0.005, Workload(1, 36.0)) is None
    assert bedrock_monthly(0.04, Workload(844, 3.0)) < realtime_monthly(1.408, Workload(844, 3.0))
    assert bedrock_monthly(0.04, Workload(845, 3.0)) > realtime_monthly(1.408, Workload(845, 3.0))


def test_break_even_between_async_and_bedrock() -> None:
    # $1 an hour: 36 s of GPU is $0.01 an image, a 36-minute idle tail $0.60 a wake-up.
    workload = Workload(1, 36.0, bursts_per_day=5, idle_minutes=36)
    volume = async_vs_bedrock(1.0, 0.05, workload)
    assert volume == pytest.approx(0.6 * 5 / 0.04)  # 75 images a day: $3.75 either way
    at = Workload(75, 36.0, 5, 36)
    assert async_monthly(1.0, at) == pytest.approx(bedrock_monthly(0.05, at))
    assert async_vs_bedrock(1.0, 0.01, workload) is None  # the GPU time alone costs the model's price
    assert async_vs_bedrock(1.0, 0.61, workload) == 0.0  # even a lone image's wake-up costs less


# ---- instance prices from the Price List API ------------------------------------------------------


def test_instance_prices_come_from_the_price_list_when_credentials_are_present(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # Distinct prices per use: the real-time line must be the Host record's, async the AsyncInf one's.
    set_price(credentials, "USE1-Host:ml.g5.xlarge", "2.5000000000")
    set_price(credentials, "USE1-AsyncInf:ml.g5.xlarge", "2.0000000000")
    set_price(credentials, "USE1-Train:ml.g5.xlarge", "9.9900000000")
    code, out, err = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0, err
    assert "$2.5/hour real-time, $2/hour async" in out
    assert "from AWS Price List API (USE1-Host:ml.g5.xlarge, published 2026-11-20)" in out
    table = costs(out)
    assert table["SageMaker real-time, always on (ml.g5.xlarge)"] == pytest.approx(2.5 * 730, abs=0.01)
    assert [a for a in credentials.answers if a[1] != 200] == []
    (request,) = credentials.calls("GetProducts")
    assert request["ServiceCode"] == "AmazonSageMaker"
    assert {(f["Field"], f["Value"]) for f in request["Filters"]} == {
        ("regionCode", "us-east-1"),
        ("instanceName", "ml.g5.xlarge"),
    }


def test_a_region_missing_from_the_table_is_priced_by_the_api(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.records += [
        record("eu-west-1", "Host", "1.5760000000", prefix="EU"),
        record("eu-west-1", "AsyncInf", "1.5760000000", prefix="EU"),
    ]
    credentials.page_size = 1  # one record a page: the client must follow NextToken
    code, out, err = run(capsys, "--images-per-day", "300", "--region", "eu-west-1")
    assert code == 0, err
    assert "$1.576/hour real-time, $1.576/hour async" in out
    assert "EU-Host:ml.g5.xlarge" in out
    assert len(credentials.requests) == 2 and "NextToken" in credentials.calls("GetProducts")[1]


def test_no_async_record_means_async_is_not_offered(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.records = [
        r for r in credentials.records if "AsyncInf" not in r["product"]["attributes"]["usagetype"]
    ]
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    assert "no async price (not offered)" in out
    assert re.search(
        r"SageMaker async, scaled to zero\s+-\s+-\s+not offered on ml.g5.xlarge in us-east-1", out
    )
    assert "async costs no more" not in out


def test_an_instance_the_price_list_lacks_falls_back_to_the_table(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--images-per-day", "300", "--region", "us-east-1", "--instance", "ml.g5.2xlarge"
    )
    assert code == 0
    assert "$1.515/hour real-time" in out
    assert "because the Price List has no real-time hosting price for ml.g5.2xlarge in us-east-1" in out
    assert len(credentials.requests) == 1


# ---- the bundled table when the API is out of reach -----------------------------------------------


def test_without_credentials_the_table_is_used_and_the_api_never_called(
    price_list: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    assert "$1.408/hour real-time" in out
    assert (
        "from bundled table (AWS pricing pages, read 2026-11-26), because no AWS credentials were found"
        in out
    )
    assert price_list.answers == []


def test_a_refusing_api_falls_back_to_the_table(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.down(
        "GetProducts",
        code="AccessDeniedException",
        message="User: arn:aws:iam::123456789012:user/tester is not authorized to perform: "
        "pricing:GetProducts",
    )
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    assert "$1.408/hour real-time" in out
    assert "because the Price List API refused: AccessDeniedException: User: arn:aws:iam::123456789012" in out


def test_credentials_the_api_rejects_fall_back_to_the_table(
    credentials: PriceListStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    assert "because the Price List API refused: InvalidSignatureException" in out
    assert credentials.answers == [("GetProducts", 400, "InvalidSignatureException")]
    assert "not-the-secret" not in out


def test_an_unreachable_api_falls_back_to_the_table(
    credentials: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.stop()  # the endpoint now refuses connections
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    assert "$1.408/hour real-time" in out
    assert "because the Price List API failed: Could not connect to the endpoint URL" in out


def test_no_price_anywhere_says_what_to_do(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--images-per-day", "300", "--region", "eu-west-1")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("imagine-bot cost: no price for ml.g5.xlarge in eu-west-1: no AWS credentials")
    assert "--hourly-price" in err
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "eu-west-1", "--hourly-price", "1.6")
    assert code == 0
    assert "$1.6/hour real-time" in out and "from --hourly-price" in out


def test_an_instance_without_a_gpu_figure_needs_one(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--images-per-day", "300", "--instance", "ml.p4d.24xlarge", "--hourly-price", "37.688"]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "no GPU-seconds-per-image figure for ml.p4d.24xlarge" in err and "--gpu-seconds-per-image" in err
    code, out, _ = run(capsys, *argv, "--gpu-seconds-per-image", "0.9")
    assert code == 0
    assert "GPU time: 0.9 s per image, from --gpu-seconds-per-image" in out


def test_an_async_instance_not_offered_in_the_table(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--images-per-day", "300", "--region", "eu-west-3", "--instance", "ml.g4dn.xlarge"
    )
    assert code == 0
    assert "$0.861/hour real-time, no async price (not offered)" in out


# ---- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        ([], "--images-per-day"),
        (["--images-per-day", "0"], "--images-per-day"),
        (["--images-per-day", "-5"], "--images-per-day"),
        (["--images-per-day", "lots"], "--images-per-day"),
        (["--images-per-day", "2.5"], "--images-per-day"),
        (["--images-per-day", "10", "--region", "Mars"], "--region"),
        (["--images-per-day", "10", "--instance", "g5.xlarge"], "--instance"),
        (["--images-per-day", "10", "--gpu-seconds-per-image", "0"], "--gpu-seconds-per-image"),
        (["--images-per-day", "10", "--gpu-seconds-per-image", "nan"], "--gpu-seconds-per-image"),
        (["--images-per-day", "10", "--bursts-per-day", "0"], "--bursts-per-day"),
        (["--images-per-day", "10", "--idle-minutes", "-1"], "--idle-minutes"),
        (["--images-per-day", "10", "--hourly-price", "inf"], "--hourly-price"),
    ],
)
def test_bad_flags_get_argparses_one_line_error(
    no_aws: None, argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cost.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("imagine-bot cost: error:")]
    assert len(errors) == 1 and flag in errors[0]
    assert err.splitlines()[-1] == errors[0]


def test_add_parser_makes_a_cost_subcommand(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="imagine-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    cost.add_parser(sub)
    args = parser.parse_args(["cost", "--images-per-day", "300"])
    assert cost.run(args) == 0
    assert "300 images a day" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["cost", "--images-per-day", "none"])
    assert "imagine-bot cost: error: argument --images-per-day" in capsys.readouterr().err


# ---- the report at three volumes ------------------------------------------------------------------


def reports(capsys: pytest.CaptureFixture[str]) -> dict[int, str]:
    found = {}
    for volume in (50, 500, 5000):
        code, out, err = run(capsys, "--images-per-day", str(volume), "--region", "us-east-1")
        assert code == 0, err
        found[volume] = out
    return found


def test_the_report_at_50_500_and_5000_images_a_day_is_sane(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = reports(capsys)
    table = {volume: costs(text) for volume, text in out.items()}
    realtime, asynchronous = (
        "SageMaker real-time, always on (ml.g5.xlarge)",
        "SageMaker async, scaled to zero",
    )
    bedrock = {f"Bedrock {m}" for m in ISSUE_MODELS}
    for volume, rows in table.items():
        assert set(rows) == {realtime, asynchronous, *bedrock}, volume
        assert rows[realtime] == pytest.approx(1.408 * 730, abs=0.01)  # one instance at every volume here
        assert rows[asynchronous] < rows[realtime], volume  # scaled to zero beats always-on at all three
        cheapest = min(rows, key=rows.__getitem__)
        assert f"{cheapest:<{len(cheapest)}}" in out[volume].split("<- cheapest")[0].splitlines()[-1]
    assert min(table[50], key=table[50].__getitem__) == "Bedrock stability.stable-image-core-v1:1"
    assert all(table[50][realtime] > table[50][b] for b in bedrock)  # a GPU left up for 50 images
    assert min(table[500], key=table[500].__getitem__) == asynchronous
    assert all(table[5000][realtime] < table[5000][b] for b in bedrock)  # volume pays for the GPU
    assert table[5000][asynchronous] / 5000 < table[500][asynchronous] / 500 < table[50][asynchronous] / 50


def test_printed_break_evens_agree_with_the_printed_costs(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = reports(capsys)
    names = {
        "real-time": "SageMaker real-time, always on (ml.g5.xlarge)",
        "async": "SageMaker async, scaled to zero",
    }
    lines = re.findall(
        r"^  (real-time|async) costs no more than (\S+) from ([\d,]+) images a day$", out[50], re.M
    )
    assert len(lines) == 1 + 2 * len(ISSUE_MODELS)
    for cheaper, than, volume in lines:
        other = names.get(than, f"Bedrock {than}")
        for day, text in out.items():
            rows = costs(text)
            assert (rows[names[cheaper]] <= rows[other]) == (day >= int(volume.replace(",", ""))), (
                cheaper,
                than,
                day,
            )


# ---- the table and the stand-in themselves ---------------------------------------------------------


def test_the_bundled_table_names_its_sources_and_covers_the_issues_models() -> None:
    table = json.loads((Path(cost.__file__).parent / "prices.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", table["read"])
    assert any("aws.amazon.com/sagemaker/pricing" in s for s in table["sagemaker"]["source"])
    assert table["bedrock"]["source"].startswith("https://aws.amazon.com/bedrock/pricing")
    assert set(table["bedrock"]["models"]) == ISSUE_MODELS
    assert all(m["per_image"] > 0 and m["seen_in"] for m in table["bedrock"]["models"].values())


def test_the_bedrock_prices_follow_the_models_the_bot_may_draw_with_today(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same list as bot/model/bedrock_models.py: every model selectable today is priced (Stable
    Image Ultra $0.14, Core $0.04, SD3.5 Large $0.08 per image in us-west-2), and the retired
    ones (Nova Canvas, Titan v2: past their end of life) are said to be left out, not priced."""
    from bot.model import bedrock_models

    table = json.loads((Path(cost.__file__).parent / "prices.json").read_text())
    assert set(table["bedrock"]["models"]) == set(bedrock_models.selectable_ids(bedrock_models.today()))
    assert {k: m["per_image"] for k, m in table["bedrock"]["models"].items()} == {
        "stability.stable-image-ultra-v1:1": 0.14,
        "stability.stable-image-core-v1:1": 0.04,
        "stability.sd3-5-large-v1:0": 0.08,
    }
    code, out, err = run(capsys, "--images-per-day", "50", "--region", "us-east-1")
    assert code == 0, err
    compared = out.split("backend", 1)[1].split("on top of any backend")[0]
    assert "amazon." not in compared  # no retired model is compared
    assert "retired, so not compared: Amazon Nova Canvas (end of life 2026-09-30), Amazon Titan" in out
    gpu = table["gpu_seconds_per_image"]
    assert gpu["estimate"] is True and gpu["how"]
    for region, instances in table["sagemaker"]["regions"].items():
        for instance, entry in instances.items():
            assert entry["realtime"] > 0 and entry["seen_in"], (region, instance)
            assert instance in gpu["instances"], instance


def test_the_stand_in_refuses_what_the_price_list_api_refuses(credentials: PriceListStandIn) -> None:
    client = boto3.Session().client("pricing", region_name="us-east-1")
    with pytest.raises(ClientError) as refused:
        client.get_products(ServiceCode="Amazon SageMaker")
    assert refused.value.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "ServiceCode can only contain a-z, A-Z, 0-9",
    }
    with pytest.raises(ClientError) as refused:
        boto3.Session().client("pricing", region_name="eu-west-1").get_products(ServiceCode="AmazonSageMaker")
    assert refused.value.response["Error"]["Message"] == "Credential should be scoped to a valid region."
    unsigned = urllib.request.Request(
        credentials.url,
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSPriceListService.GetProducts",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(unsigned, timeout=5)
    assert json.loads(http.value.read())["__type"] == "MissingAuthenticationTokenException"
    answer = client.get_products(ServiceCode="AmazonSageMaker", MaxResults=1)
    assert len(answer["PriceList"]) == 1 and "NextToken" in answer
    assert json.loads(answer["PriceList"][0])["product"]["attributes"]["servicecode"] == "AmazonSageMaker"


def test_the_image_check_and_the_translation_are_priced_on_top_of_any_backend(
    price_list: PriceListStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """From the bundled table's screening prices: Rekognition's per image (Group 2, first tier),
    Translate's per character, for prompts not in English only."""
    screening = load_table()["screening"]
    code, out, _ = run(capsys, "--images-per-day", "300", "--region", "us-east-1")
    assert code == 0
    flat = " ".join(out.split("on top of any backend")[1].split())
    monthly = screening["rekognition"]["per_image"] * 300 * cost.DAYS_PER_MONTH
    assert f"${screening['rekognition']['per_image']:g} per image checked, ${monthly:,.2f} a month" in flat
    assert (
        "$15 per million characters, for prompts not in English only: $0.0015 per 100-character prompt"
        in flat
    )
