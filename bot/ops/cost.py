"""``imagine-bot cost``: what each image backend costs a month at a given volume, and where they cross.

    imagine-bot cost --images-per-day 300 [--region eu-west-1] [--instance ml.g5.xlarge]

Compared, at that volume: a SageMaker real-time endpoint left up around the clock, a SageMaker
asynchronous endpoint that auto scaling takes down to zero between bursts, and Bedrock's image
models, which bill per image. Then the break-even volumes between the GPU options and the rest.

Instance prices come from the AWS Price List API when boto3's credential chain finds credentials,
otherwise (or when the API fails) from the bundled table, prices.json, which names its sources
and the date they were read; the output says which. Bedrock prices and GPU seconds per image
come from the same table (the GPU figure is an estimate; --gpu-seconds-per-image overrides it).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.ops.prices import (
    BedrockModel,
    InstancePrice,
    NoPrice,
    bedrock_models,
    gpu_seconds,
    instance_price,
    load_table,
    retired_models,
)
from bot.ops.screening_cost import screening_lines

if TYPE_CHECKING:
    pass

PROG = "imagine-bot cost"
HOURS_PER_MONTH = 730.0  # AWS's pricing pages count a month as 730 hours
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = 86_400.0
DEFAULT_INSTANCE = "ml.g5.xlarge"
DEFAULT_BURSTS_PER_DAY = 8  # a team's working day: about one burst of requests an hour
# Target tracking's managed low alarm scales in only after 15 one-minute datapoints below the
# target, as users observe it (aws-samples/amazon-aurora-labs-for-mysql#3, aws/copilot-cli#4233;
# AWS documents no figure, and the alarm is not configurable), so a woken instance idles about
# this long after its last image before it is removed.
DEFAULT_IDLE_MINUTES = 15.0


# ---- the inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    images_per_day: int
    gpu_seconds_per_image: float
    bursts_per_day: int = DEFAULT_BURSTS_PER_DAY
    idle_minutes: float = DEFAULT_IDLE_MINUTES

    @property
    def images_per_month(self) -> float:
        return self.images_per_day * DAYS_PER_MONTH

    @property
    def wakes_per_day(self) -> int:
        """Each burst wakes the endpoint once; there are never more wake-ups than images."""
        return min(self.bursts_per_day, self.images_per_day)


# ---- the arithmetic (pure) ------------------------------------------------------------------------


def instances_needed(workload: Workload) -> int:
    """Instances to keep up with the day's GPU time, were it spread evenly; never fewer than one."""
    busy = workload.images_per_day * workload.gpu_seconds_per_image
    return max(1, math.ceil(busy / SECONDS_PER_DAY))


def realtime_monthly(hourly: float, workload: Workload) -> float:
    """Always on: every instance bills every hour of the month."""
    return instances_needed(workload) * hourly * HOURS_PER_MONTH


def async_billed_seconds_per_day(workload: Workload) -> float:
    """The GPU work plus the idle tail each wake-up leaves before scale-in, capped at always-on:
    when the tails overlap the next burst, the instance simply never scales in."""
    tails = workload.wakes_per_day * workload.idle_minutes * 60
    busy = workload.images_per_day * workload.gpu_seconds_per_image
    return min(busy + tails, instances_needed(workload) * SECONDS_PER_DAY)


def async_monthly(hourly: float, workload: Workload) -> float:
    return hourly * async_billed_seconds_per_day(workload) / 3600 * DAYS_PER_MONTH


def bedrock_monthly(per_image: float, workload: Workload) -> float:
    return per_image * workload.images_per_month


@dataclass(frozen=True)
class BreakEven:
    """From ``images_per_day`` up (0: at any volume; None: never, for the reason ``never``),
    ``cheaper`` costs no more a month than ``than``."""

    cheaper: str
    than: str
    images_per_day: float | None
    never: str = ""


def realtime_vs_async(realtime: float, asynchronous: float, workload: Workload) -> float | None:
    """Images a day from which always-on costs no more than async: where async's billed hours
    reach a whole day's worth at the real-time price. One instance, bursts as in ``workload``."""
    budget = SECONDS_PER_DAY * realtime / asynchronous  # async seconds a day that cost one always-on day
    tail = workload.idle_minutes * 60
    gpu = workload.gpu_seconds_per_image
    # Below one image per burst every image wakes the endpoint on its own: N * (gpu + tail).
    volume = budget / (gpu + tail)
    if volume > workload.bursts_per_day:
        volume = (budget - workload.bursts_per_day * tail) / gpu
    capacity = SECONDS_PER_DAY / gpu
    return None if volume > capacity else max(0.0, volume)


def realtime_vs_bedrock(realtime: float, per_image: float, workload: Workload) -> float | None:
    """Images a day from which always-on costs no more than paying per image; None: never, as an
    image's GPU time alone costs more than the model's price (so a full instance never catches up)."""
    if realtime * workload.gpu_seconds_per_image / 3600 > per_image:
        return None
    return realtime * 24 / per_image


def async_vs_bedrock(asynchronous: float, per_image: float, workload: Workload) -> float | None:
    """Images a day from which async costs no more than paying per image (0: at any volume,
    None: never). Each image costs its GPU time; each wake-up, up to one a burst, its idle tail."""
    per_gpu_image = asynchronous * workload.gpu_seconds_per_image / 3600
    per_wake = asynchronous * workload.idle_minutes * 60 / 3600
    if per_image <= per_gpu_image:
        return None  # the GPU time alone costs more than the model's price
    if per_image >= per_gpu_image + per_wake:
        return 0.0  # even an image that wakes the endpoint on its own costs less
    return per_wake * workload.bursts_per_day / (per_image - per_gpu_image)


# ---- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    backend: str
    monthly: float | None  # None: not available (async not offered on the instance)
    note: str = ""


@dataclass(frozen=True)
class Sources:
    """Where the figures that are not the instance price came from, as printed."""

    gpu: str
    bedrock: str


def report(
    workload: Workload, price: InstancePrice, models: list[BedrockModel], region: str, instance: str,
    sources: Sources,
) -> str:  # fmt: skip
    lines = cost_lines(workload, price, models, region, instance)
    cheapest = min(line.monthly for line in lines if line.monthly is not None)
    width = max(len(line.backend) for line in lines) + 2
    out = [
        f"{workload.images_per_day:,} images a day ({workload.images_per_month:,.0f} a month of "
        f"{HOURS_PER_MONTH:.0f} hours), {region}, {instance}",
        f"instance price: ${price.realtime:g}/hour real-time, {_async_price(price)}",
        f"  from {price.source}",
        f"GPU time: {workload.gpu_seconds_per_image:g} s per image, {sources.gpu}",
        f"Bedrock: per image, {sources.bedrock}",
        "",
        f"{'backend':<{width}}{'per month':>12}{'per image':>12}",
    ]
    for line in lines:
        if line.monthly is None:
            out.append(f"{line.backend:<{width}}{'-':>12}{'-':>12}  {line.note}")
            continue
        mark = "  <- cheapest" if line.monthly == cheapest else ""
        per_image = line.monthly / workload.images_per_month
        out.append(f"{line.backend:<{width}}{_dollars(line.monthly):>12}{_dollars(per_image, 4):>12}{mark}")
    if price.asynchronous is not None:
        out += ["", *_wrapped(
            f"async: images arrive in {workload.bursts_per_day} bursts a day (--bursts-per-day). "
            f"Each wake-up bills the images' GPU time plus {workload.idle_minutes:g} min of idle "
            "instance before auto scaling removes it (--idle-minutes), at most a whole day per "
            "instance; start-up minutes are not counted."
        )]  # fmt: skip
    hours = f"{HOURS_PER_MONTH:.0f} hours a month per instance"
    out += [*_wrapped(f"real-time: {hours}, as many as the day's GPU time needs."), "", "break-even:"]
    out += [f"  {_break_even(b)}" for b in break_evens(price, models, workload)]
    out += screening_lines(load_table(), workload.images_per_month)
    return "\n".join(out) + "\n"


def cost_lines(
    workload: Workload, price: InstancePrice, models: list[BedrockModel], region: str, instance: str
) -> list[Line]:
    """Each backend's monthly cost at ``workload``, in the order they are printed."""
    instances = instances_needed(workload)
    fleet = f"{instances}x {instance}" if instances > 1 else instance
    lines = [Line(f"SageMaker real-time, always on ({fleet})", realtime_monthly(price.realtime, workload))]
    if price.asynchronous is None:
        lines.append(Line("SageMaker async, scaled to zero", None, f"not offered on {instance} in {region}"))
    else:
        lines.append(Line("SageMaker async, scaled to zero", async_monthly(price.asynchronous, workload)))
    return lines + [Line(f"Bedrock {m.model_id}", bedrock_monthly(m.per_image, workload)) for m in models]


def break_evens(price: InstancePrice, models: list[BedrockModel], workload: Workload) -> list[BreakEven]:
    """Real-time against async and each Bedrock model; async against each Bedrock model."""
    found = []
    if price.asynchronous is not None:
        volume = realtime_vs_async(price.realtime, price.asynchronous, workload)
        found.append(BreakEven("real-time", "async", volume, "not while one instance keeps up"))
    dearer = "an image's GPU time alone costs more"
    for model in models:
        volume = realtime_vs_bedrock(price.realtime, model.per_image, workload)
        found.append(BreakEven("real-time", model.model_id, volume, dearer))
    if price.asynchronous is not None:
        for model in models:
            volume = async_vs_bedrock(price.asynchronous, model.per_image, workload)
            found.append(BreakEven("async", model.model_id, volume, dearer))
    return found


def _break_even(b: BreakEven) -> str:
    subject = f"{b.cheaper} costs no more than {b.than}"
    if b.images_per_day is None:
        return f"{subject}: never ({b.never})"
    if b.images_per_day == 0:
        return f"{subject}: at any volume"
    return f"{subject} from {math.ceil(b.images_per_day):,} images a day"


def _async_price(price: InstancePrice) -> str:
    if price.asynchronous is None:
        return "no async price (not offered)"
    if price.async_assumed:
        return f"${price.asynchronous:g}/hour async (taken as equal: the table has no async figure)"
    return f"${price.asynchronous:g}/hour async"


def _wrapped(paragraph: str) -> list[str]:
    return textwrap.wrap(paragraph, width=96, subsequent_indent="  ")


def _dollars(amount: float, places: int = 2) -> str:
    return f"${amount:,.{places}f}"


# ---- the command line -----------------------------------------------------------------------------

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_INSTANCE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """``imagine-bot cost``, as a subcommand of the ``imagine-bot`` parser."""
    parser = subparsers.add_parser(
        "cost",
        help="monthly cost and cost per image of each backend at a volume, and the break-evens",
        epilog="examples:\n  imagine-bot cost --images-per-day 300\n"
        "  imagine-bot cost --images-per-day 5000 --region eu-west-1 --instance ml.g5.2xlarge",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images-per-day", type=_count(1, 10_000_000), required=True, help="the volume to price"
    )
    parser.add_argument(
        "--region",
        type=_matching(_REGION, "an AWS region code such as eu-west-1"),
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1",
    )
    parser.add_argument(
        "--instance",
        type=_matching(_INSTANCE, "a SageMaker instance type such as ml.g5.xlarge"),
        default=DEFAULT_INSTANCE,
        help=f"default: {DEFAULT_INSTANCE}",
    )
    parser.add_argument(
        "--gpu-seconds-per-image", type=_positive, help="default: the bundled estimate for the instance"
    )
    parser.add_argument(
        "--bursts-per-day",
        type=_count(1, 1440),
        default=DEFAULT_BURSTS_PER_DAY,
        help=f"how many times a day the async endpoint wakes from zero (default {DEFAULT_BURSTS_PER_DAY})",
    )
    parser.add_argument(
        "--idle-minutes",
        type=_non_negative,
        default=DEFAULT_IDLE_MINUTES,
        help=f"minutes a woken instance idles before scale-in (default {DEFAULT_IDLE_MINUTES:g})",
    )
    parser.add_argument(
        "--hourly-price", type=_positive, help="USD per instance hour, instead of the Price List or the table"
    )


def _count(low: int, high: int) -> Any:
    def parse(raw: str) -> int:
        if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number from {low:,} to {high:,}")
        return int(raw)

    return parse


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number")
    return value


def _positive(raw: str) -> float:
    value = _number(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not more than 0")
    return value


def _non_negative(raw: str) -> float:
    value = _number(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is less than 0")
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def parse(raw: str) -> str:
        if not pattern.match(raw):
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}")
        return raw

    return parse


def run(args: argparse.Namespace) -> int:
    table = load_table()
    try:
        if args.hourly_price is not None:
            price = InstancePrice(
                args.hourly_price, args.hourly_price, "--hourly-price (async taken as equal)"
            )
        else:
            price = instance_price(table, args.region, args.instance)
        if args.gpu_seconds_per_image is not None:
            seconds, gpu_source = args.gpu_seconds_per_image, "from --gpu-seconds-per-image"
        else:
            seconds = gpu_seconds(table, args.instance)
            estimate = table["gpu_seconds_per_image"]
            gpu_source = f"{estimate['short']}: an estimate from the bundled table, not a measurement"
    except NoPrice as missing:
        print(f"{PROG}: {missing}", file=sys.stderr)
        return 1
    workload = Workload(args.images_per_day, seconds, args.bursts_per_day, args.idle_minutes)
    bedrock = table["bedrock"]
    sources = Sources(
        gpu=gpu_source,
        bedrock=f"{bedrock['image']}, from the bundled table ({bedrock['source']}, read {bedrock['read']})"
        + retired_models(table),
    )
    print(report(workload, price, bedrock_models(table), args.region, args.instance, sources), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
