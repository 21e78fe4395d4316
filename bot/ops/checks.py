"""What every ``imagine-bot doctor`` check shares: its result, the deployment it looks at, and how
an AWS error is said in one line. The checks (slack_checks, backend_checks, queue_checks,
link_checks) import this; bot/ops/doctor.py runs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from bot.backends import AwsError

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
MARKS = {PASS: "✓", WARN: "⚠", FAIL: "✗", SKIP: "–"}
SLACK_API_DEFAULT = "https://slack.com/api/"


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # PASS, WARN, FAIL or SKIP
    detail: str
    fix: str = ""  # for WARN and FAIL: one sentence saying what to do


@dataclass(frozen=True)
class Deployment:
    where: str  # "stack imagine" or "the environment"
    env: Mapping[str, str]  # the functions' settings: the deployed worker's, or os.environ
    outputs: Mapping[str, str] = field(default_factory=dict)  # the stack's; {} without one
    # The stack's resources, logical id -> physical id (a queue's is its URL); {} without one.
    resources: Mapping[str, str] = field(default_factory=dict)

    def setting(self, name: str) -> str:
        return str(self.env.get(name, "")).strip()

    @property
    def stack_name(self) -> str:
        return self.where.removeprefix("stack ") if self.where.startswith("stack ") else ""

    @property
    def backend(self) -> str:
        return self.setting("IMAGE_BACKEND").lower() or "placeholder"

    @property
    def public_base_url(self) -> str:
        return self.setting("PUBLIC_BASE_URL").rstrip("/")

    @property
    def request_url(self) -> str:
        url = self.outputs.get("SlackRequestUrl", "")
        return url or (f"{self.public_base_url}/slack/events" if self.public_base_url else "")

    @property
    def images_base_url(self) -> str:
        """Where links point, without the trailing ``/images/`` (as bot.storage.image_link takes it)."""
        url = self.outputs.get("ImagesBaseUrl", "")
        return url.rstrip("/").removesuffix("/images") if url else self.public_base_url


@dataclass
class Context:
    deployment: Deployment
    client: Callable[..., Any]  # boto3.client, or anything that makes clients the same way
    slack_api_url: str = SLACK_API_DEFAULT
    app_config_token: str = field(default="", repr=False)
    app_id: str = ""
    bot_token: str = field(default="", repr=False)  # once the Slack secret was read
    per_workspace: bool = False  # the secret holds an OAuth client: each workspace has its own token
    auth_ok: bool = False  # auth.test answered for the bot token
    scopes: list[str] | None = None  # its scopes, as auth.test's x-oauth-scopes header named them


def aws_error(error: Exception) -> AwsError:
    """What an AWS service answered; empty for any other error (the network, a bad value)."""
    return AwsError.of(error) if isinstance(error, ClientError) else AwsError("", "", 0)


def why(error: Exception) -> str:
    """An AWS error as its code and message (never a value it was asked about), else its kind."""
    said = aws_error(error)
    if not said.code:
        return type(error).__name__
    return f"{said.code}: {short(said.message, 120)}" if said.message else said.code


def short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_secret(ctx: Context, check: str, secret_id: str, what: str) -> str | Result:
    """The secret's string, or the check's failure when it cannot be read."""
    try:
        found = ctx.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except Exception as error:
        return Result(
            check,
            FAIL,
            f"{what} could not be read ({why(error)})",
            f"Check that your AWS credentials may call secretsmanager:GetSecretValue on {what}.",
        )
    return str(found.get("SecretString", ""))
