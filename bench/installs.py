"""Installed in any workspace against one workspace's token: the acknowledgement reads the
workspace's installation on every request (one GetItem), and that is what this measures, in the
same run, interleaved. And where to keep installations: slack_sdk's S3 store against the
DynamoDB one (bot/stores/installations.py), a workspace's bot read from each on moto.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

TEAM = "T0LOCAL"


def _services(per_workspace: bool) -> Any:
    """Services built from the environment, one workspace's token or the app's OAuth client."""
    from bot.config.secrets import SecretValues
    from bot.services import Services, process_services

    settings = process_services().settings
    if not per_workspace:
        return Services(settings)
    oauth = SecretValues(signing_secret=settings.signing_secret, bot_token="",
                         link_secret=settings.link_secret, client_id="1111.2222",
                         client_secret="bench-client-secret")  # fmt: skip
    return Services(settings.with_secrets(oauth))


def _install(services: Any) -> None:
    from slack_sdk.oauth.installation_store import Installation

    services.installations.save(Installation(
        app_id="A0LOCAL", team_id=TEAM, user_id="U0LOCAL", bot_token="xoxb-bench", bot_id="B0BOT",
        bot_user_id="U0BOT", bot_scopes=["commands", "chat:write"], installed_at=time.time(),
    ))  # fmt: skip


def ack(
    commands: int, percentile: Callable[[list[float], float], float], rounds: int = 5
) -> dict[str, float]:
    """The acknowledgement of a signed /imagine, by the http function's Slack handler, with the
    workspace's installation read (per workspace) and with the one token (single workspace),
    interleaved. A p99 here is a handful of samples, and a pause of moto's or the machine's lands
    on either side at random (one run's p99 ratio read 2.74, the next 0.31, the same code): so
    ``rounds`` rounds, each its own ratios, and the median of those, with their spread. The
    installation read itself is timed too (its p99), the one step the two paths do differently."""
    from bench.child import _event
    from bot.http.events import normalized
    from bot.http.slack_requests import SlackHandler
    from bot.local.lambda_context import LocalContext

    handlers = {"single": SlackHandler(_services(False)), "per_workspace": SlackHandler(_services(True))}
    installations = handlers["per_workspace"]._services.installations
    _install(handlers["per_workspace"]._services)
    context = LocalContext("bench")
    kinds, per_round = list(handlers), max(1, commands // rounds)
    everything: dict[str, list[float]] = {kind: [] for kind in kinds}
    ratios: dict[str, list[float]] = {"p50": [], "p99": []}
    reads: list[float] = []
    for round_number in range(rounds):
        samples: dict[str, list[float]] = {kind: [] for kind in kinds}
        warm = 20 if round_number == 0 else 0
        for n in range(per_round + warm):
            for kind in kinds if n % 2 == 0 else kinds[::-1]:
                event = normalized(_event(f"a cyborg tiger number {round_number}-{n} --seed {n}"))
                started = time.perf_counter()
                response = handlers[kind].handle(event, context)
                elapsed = time.perf_counter() - started
                assert response["statusCode"] == 200 and "Queued" in str(response.get("body")), response
                if n >= warm:
                    samples[kind].append(elapsed * 1000)
            started = time.perf_counter()
            assert installations.find_bot(enterprise_id=None, team_id=TEAM) is not None
            reads.append((time.perf_counter() - started) * 1000)
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            ratios[name].append(percentile(samples["per_workspace"], q) / percentile(samples["single"], q))
        for kind in kinds:
            everything[kind] += samples[kind]
    figures: dict[str, float] = {}
    for kind, values in everything.items():
        figures[f"{kind}_p50_ms"] = percentile(values, 0.5)
        figures[f"{kind}_p99_ms"] = percentile(values, 0.99)
    figures["installation_read_p99_ms"] = percentile(reads, 0.99)
    for name, values in ratios.items():
        figures[f"{name}_ratio_median_of_{rounds}"] = statistics.median(values)
        figures[f"{name}_ratio_lowest"] = min(values)
        figures[f"{name}_ratio_highest"] = max(values)
    return figures


def stores(reads: int) -> dict[str, float]:
    """A workspace's bot read from slack_sdk's S3 store and from the DynamoDB one, interleaved."""
    from slack_sdk.oauth.installation_store.amazon_s3 import AmazonS3InstallationStore

    services = _services(True)
    _install(services)
    s3_store = AmazonS3InstallationStore(bucket_name=services.settings.images_bucket, client_id="1111.2222",
                                         s3_client=services.s3)  # fmt: skip
    s3_store.save(services.installations.find_installation(enterprise_id=None, team_id=TEAM))
    found: dict[str, list[float]] = {"dynamodb": [], "s3": []}
    for n in range(reads + 10):
        for name, store in (("dynamodb", services.installations), ("s3", s3_store)):
            started = time.perf_counter()
            assert store.find_bot(enterprise_id=None, team_id=TEAM) is not None
            if n >= 10:
                found[name].append((time.perf_counter() - started) * 1000)
    dynamodb, s3 = statistics.median(found["dynamodb"]), statistics.median(found["s3"])
    return {"dynamodb_find_bot_p50_ms": dynamodb, "s3_find_bot_p50_ms": s3, "s3_over_dynamodb": s3 / dynamodb}
