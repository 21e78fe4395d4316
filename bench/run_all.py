"""Run every benchmark against servers on loopback and print figures with their baselines.

    make bench        (or: .venv/bin/python -m bench.run_all [--quick] [--only burst --burst-workers 4])

Each measurement runs beside its baseline in the same run, interleaved, so the machine's noise
falls on both; the ratios are what to compare across machines. The burst's baseline is the ideal
drain time its workers' render delay allows (bench/burst.py), each burst on a fresh stack.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import burst, installs, operations, screening, tracing
from bench.stack import servers

PLACEHOLDER_DELAY = 0.2  # a fixed stand-in for GPU time, subtracted from the worker's figures


def _child(task: str, kind: str) -> dict[str, Any]:
    env = dict(os.environ, BENCH_T0=repr(time.time()))
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", task, kind],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{task} {kind} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cold_start(rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"imagine": [], "baseline": []}
    for n in range(rounds):
        order = ("imagine", "baseline") if n % 2 == 0 else ("baseline", "imagine")
        for kind in order:
            times[kind].append(_child("cold", kind)["seconds"])
    imagine, baseline = statistics.median(times["imagine"]), statistics.median(times["baseline"])
    return {"imagine_ms": imagine * 1000, "baseline_ms": baseline * 1000, "ratio": imagine / baseline}


def ack_latency(commands: int) -> dict[str, float]:
    from bench.baseline_app import handler as baseline
    from bench.baseline_app import handler_with_quota as same_io
    from bench.child import _event
    from bot.handlers import http_handler
    from bot.local.lambda_context import LocalContext

    context = LocalContext("bench")
    handlers = {"imagine": http_handler, "baseline": baseline, "same_io": same_io}
    samples: dict[str, list[float]] = {kind: [] for kind in handlers}
    kinds = list(handlers)
    for n in range(commands + 20):
        for kind in kinds[n % 3 :] + kinds[: n % 3]:  # rotate the order, so no one always goes first
            event = _event(f"a cyborg tiger number {n} --ar 16:9 --seed {n}")
            started = time.perf_counter()
            response = handlers[kind](event, context)
            elapsed = time.perf_counter() - started
            assert response["statusCode"] == 200, response
            if n >= 20:  # the first twenty warm them up
                samples[kind].append(elapsed * 1000)
    figures: dict[str, float] = {}
    for kind, values in samples.items():
        figures[f"{kind}_p50_ms"] = _percentile(values, 0.5)
        figures[f"{kind}_p99_ms"] = _percentile(values, 0.99)
    for other in ("baseline", "same_io"):
        figures[f"p50_ratio_vs_{other}"] = figures["imagine_p50_ms"] / figures[f"{other}_p50_ms"]
        figures[f"p99_ratio_vs_{other}"] = figures["imagine_p99_ms"] / figures[f"{other}_p99_ms"]
    return figures


def worker_overhead(jobs: int) -> dict[str, float]:
    import boto3
    from slack_sdk import WebClient

    from bot.handlers import worker_handler
    from bot.local.lambda_context import LocalContext
    from bot.local.poller import to_event
    from bot.model.job import Job
    from bot.model.prompt import parse
    from bot.services import process_services as services

    svc = services()
    request = parse("a cyborg tiger --seed 1")
    queue_url = svc.settings.jobs_queue_url
    svc.sqs.purge_queue(QueueUrl=queue_url)  # the acknowledgement benchmark's messages
    arn = svc.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    slack = WebClient(token="xoxb-bench", base_url=svc.settings.slack_api_url)
    s3 = boto3.client("s3")
    jpeg = b"\xff\xd8\xff" + b"0" * 30_000
    outside_backend, minus_delay, raw_io = [], [], []
    for n in range(jobs + 3):
        job = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id="U0LOCAL", request=request)
        svc.queue.send(job)
        messages: list[Any] = svc.sqs.receive_message(
            QueueUrl=queue_url, MessageSystemAttributeNames=["All"]
        )["Messages"]
        event = to_event(messages, arn, "us-east-1")
        started = time.perf_counter()
        assert worker_handler(event, LocalContext("bench")) == {"batchItemFailures": []}
        wall = time.perf_counter() - started
        svc.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        backend = svc.store.load(job.job_id).seconds

        # Baseline: the I/O any worker must do for one image, with bare clients.
        started = time.perf_counter()
        posted = slack.chat_postMessage(channel="C0LOCAL", text="rendering")
        s3.put_object(Bucket=svc.settings.images_bucket, Key=f"baseline/{n}.jpg", Body=jpeg)
        slack.chat_update(channel="C0LOCAL", ts=posted["ts"], text="done")
        raw = time.perf_counter() - started
        if n >= 3:
            outside_backend.append((wall - backend) * 1000)
            minus_delay.append((wall - PLACEHOLDER_DELAY) * 1000)
            raw_io.append(raw * 1000)
    p50 = statistics.median(outside_backend)
    return {
        "outside_backend_p50_ms": p50,
        "outside_backend_p99_ms": _percentile(outside_backend, 0.99),
        "minus_fixed_delay_p50_ms": statistics.median(minus_delay),
        "baseline_raw_io_p50_ms": statistics.median(raw_io),
        "ratio": p50 / statistics.median(raw_io),
    }


def memory() -> dict[str, float]:
    http = {kind: _child("http-memory", kind)["max_rss_mb"] for kind in ("imagine", "baseline")}
    worker = {kind: _child("worker-memory", kind)["max_rss_mb"] for kind in ("imagine", "baseline")}
    return {
        "http_mb": http["imagine"],
        "http_baseline_mb": http["baseline"],
        "http_ratio": http["imagine"] / http["baseline"],
        "worker_mb": worker["imagine"],
        "worker_baseline_mb": worker["baseline"],
        "worker_ratio": worker["imagine"] / worker["baseline"],
    }


def operation_figures(quick: bool) -> dict[str, float]:
    """An operation's cost outside the model, and the worker's peak memory for a 4x upscale of a
    1024x1024 image, each against its bare equivalent (bench/operations.py)."""
    figures = operations.overhead(10 if quick else 40, _percentile)
    with operations.bedrock():  # the children find the model where these settings point
        kinds = ("imagine", "imagine-placeholder", "baseline")
        peak = {kind: _child("operation-memory", kind)["max_rss_mb"] for kind in kinds}
    figures |= {
        "upscale_worker_peak_mb": peak["imagine"],
        "upscale_placeholder_peak_mb": peak["imagine-placeholder"],
        "upscale_baseline_peak_mb": peak["baseline"],
        "upscale_memory_ratio": peak["imagine"] / peak["baseline"],
    }
    return figures


def bursts(quick: bool, workers: list[int] | None) -> tuple[dict[str, dict[str, float]], list[str]]:
    """The burst (bench/burst.py) with each number of workers, each on a fresh stack: the
    template's MaxConcurrentRenders, and four times that to show how it scales. Its figures by
    heading, and what any run broke."""
    commands, span = (40, 2.0) if quick else (burst.COMMANDS, burst.SPAN_SECONDS)
    default = burst.lanes()["jobs"].concurrency
    results: dict[str, dict[str, float]] = {}
    failures: list[str] = []
    for count in workers or ([default] if quick else [default, 4 * default]):
        which = " (MaxConcurrentRenders)" if count == default else ""
        name = f"burst: {commands} commands planned within {span:g} s, {count} workers{which}"
        # DynamoDB apart (bench/stack.py): moto races under concurrent transactions otherwise.
        with servers(dynamodb_apart=True), contextlib.redirect_stdout(io.StringIO()):
            try:
                results[name] = burst.measure(commands=commands, span=span, workers=count)
            except burst.BurstFailed as failed:
                results[name] = failed.figures
                failures.append(f"{name}: {failed}")
    return results, failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    everything = [
        "cold",
        "ack",
        "worker",
        "memory",
        "operations",
        "installs",
        "screening",
        "tracing",
        "burst",
    ]
    parser.add_argument("--only", choices=everything, action="append")
    parser.add_argument("--burst-workers", type=int, action="append", metavar="N",
                        help="run the burst with N workers (repeat for several runs)")  # fmt: skip
    args = parser.parse_args()
    quick, only = args.quick, set(args.only or everything)
    results: dict[str, dict[str, float]] = {}
    burst_results: dict[str, dict[str, float]] = {}
    failures: list[str] = []
    # The handlers' EMF metric lines still get written, but to memory, not over the report.
    with contextlib.ExitStack() as stack:
        if only - {"burst"}:
            stack.enter_context(servers(placeholder_delay=PLACEHOLDER_DELAY))
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        if "cold" in only:
            results["cold start (median of fresh processes)"] = cold_start(3 if quick else 9)
        if "ack" in only:
            results["warm acknowledgement"] = ack_latency(50 if quick else 600)
        if "worker" in only:
            results["worker overhead per 512x512 job"] = worker_overhead(10 if quick else 60)
        if "memory" in only:
            results["peak memory"] = memory()
        if "operations" in only:
            results["image operations on a 1024x1024 image"] = operation_figures(quick)
        if "installs" in only:
            results["acknowledgement installed per workspace, against one token"] = installs.ack(
                50 if quick else 600, _percentile
            )
            results["a workspace's bot read from each store"] = installs.stores(20 if quick else 200)
        if "screening" in only:
            results["worker per job, image check and translation on against off"] = screening.overhead(
                10 if quick else 60, _percentile
            )
            results["a 4x upscale of 1024x1024, and what the image check is sent"] = screening.upscale_bytes()
        if "tracing" in only:
            results["tracing on against off (X-Ray's emitter to a local UDP listener)"] = tracing.measure(
                2 if quick else 6, 10 if quick else 20
            )
    if "burst" in only:
        burst_results, failures = bursts(quick, args.burst_workers)
        results.update(burst_results)
    for name, figures in results.items():
        print(f"\n{name}")
        if name in burst_results:  # what the burst changed from the defaults
            print(f"  ({burst.note(int(figures['commands']))})")
        for label, value in figures.items():
            print(f"  {label:28} {value:10.2f}")
    for failure in failures:
        print(f"\nBURST FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
