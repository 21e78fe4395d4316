"""Settings from the environment, with secrets optionally held in AWS Secrets Manager.

Every variable is documented in docs/configuration.md. Secrets are kept out of ``repr`` so a logged
settings object can never leak them. The secrets themselves are read by bot/config/secrets.py, which
also keeps them current while a container lives.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from bot.config.env import EnvReader, SettingsError
from bot.model.guards import Guards
from bot.model.moderation import DEFAULT_BLOCKED_LABELS, label_names
from bot.model.operation import KINDS, SETTING, ModelChoice
from bot.model.prompt import PromptLimits

if TYPE_CHECKING:
    from bot.config.secrets import SecretValues

SLACK_API_DEFAULT = "https://slack.com/api/"
BACKENDS = ("sagemaker", "placeholder", "bedrock", "sagemaker-async")
LINK_MODES = ("redirect", "bytes")
DELIVERY_MODES = ("link", "upload")

logger = Logger(service="imagine", child=True)


@dataclass(frozen=True)
class Screening:
    """What the worker asks of AWS around a render (bot/screening/): each image checked with
    Amazon Rekognition before anyone sees it, and a prompt not in English translated with Amazon
    Translate. Off unless set (the template turns both on)."""

    image_moderation: str = "off"  # "rekognition" or "off"
    min_confidence: float = 60.0  # a label below this confidence does not flag an image
    blocked_labels: tuple[str, ...] = DEFAULT_BLOCKED_LABELS  # top- or second-level taxonomy names
    retry_seconds: tuple[int, ...] = (1, 2)  # pauses before asking Rekognition again, when throttled
    translate_prompts: str = "off"  # "auto" or "off"


@dataclass(frozen=True)
class Settings:
    jobs_queue_url: str
    tasks_queue_url: str  # Slack-side work after an acknowledgement, apart from the renders
    jobs_table: str
    images_bucket: str
    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)  # the one workspace's; "" when installed through OAuth
    link_secret: str = field(repr=False)
    public_base_url: str = ""  # only the worker needs it, to write links into messages
    image_backend: str = "placeholder"
    sagemaker_endpoint_name: str = ""
    bedrock_model_id: str = ""  # the Bedrock model (or inference profile) IMAGE_BACKEND=bedrock draws with
    bedrock_region: str = ""  # where the worker calls Bedrock; "": the process's own AWS region
    slack_api_url: str = SLACK_API_DEFAULT
    image_link_mode: str = "redirect"
    image_delivery: str = "link"  # image blocks on stable links, or JPEGs uploaded to Slack
    presigned_url_seconds: int = 300
    placeholder_delay_seconds: float = 0.0
    # The queues' maxReceiveCount (the template's MaxReceiveCount, at least 5: AWS's advice for a
    # queue that feeds Lambda, https://docs.aws.amazon.com/lambda/latest/dg/sqs-retries.html).
    max_receive_count: int = 5
    dead_letter_queue_url: str = ""  # where the worker files jobs that failed for good, with why
    render_budget_seconds: float = 40.0  # no new endpoint attempt starts after this
    # Seconds before the next delivery of a job that failed in a way a retry may get past, by
    # how many times it was received (the last repeats); at most SQS's 12-hour visibility limit.
    retry_backoff_seconds: tuple[int, ...] = (10, 30, 90)
    # Seconds before posting the image blocks again after Slack said it could not download an
    # image (a link it fetched before the image was readable), before falling back to uploads.
    image_download_retry_seconds: tuple[int, ...] = (1, 3)
    image_retention_days: int = 90  # the bucket keeps images this long; job records as long
    sagemaker_timeout_seconds: float = 65.0  # the endpoint's 60 s limit plus the network
    bedrock_timeout_seconds: float = 60.0  # one InvokeModel call, images included
    # The asynchronous endpoint's notifications (IMAGE_BACKEND=sagemaker-async): the queue the
    # notifier hands records back to, and how long a request may wait in the endpoint's queue
    # (its RequestTTLSeconds, 60 to 21600: an endpoint scaling up from zero included).
    notifications_queue_url: str = ""
    async_request_ttl_seconds: int = 1800
    guards: Guards = field(default_factory=lambda: Guards())
    limits: PromptLimits = field(default_factory=PromptLimits)
    # The model of each image operation that is on (bot/model/operation.py), by operation.
    operation_models: Mapping[str, ModelChoice] = field(default_factory=dict)
    # "Add to Slack": the app's OAuth client, when it is installed per workspace (bot/app.py).
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    purge_on_uninstall: bool = False  # an uninstalled workspace's images and records go at once
    install_success_url: str = ""  # where a browser goes once installed ("": Slack, opened on the app)
    screening: Screening = field(default_factory=lambda: Screening())

    @property
    def installs_per_workspace(self) -> bool:
        """Installed through OAuth in any workspace, each with its own token (else one workspace)."""
        return bool(self.client_id)

    @property
    def operations_on(self) -> tuple[str, ...]:
        """The image operations a result offers, in their buttons' order."""
        return tuple(kind for kind in KINDS if kind in self.operation_models)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: SecretValues | None = None) -> Settings:
        """The settings the environment names; ``secrets`` are read from it too when not given."""
        env = os.environ if env is None else env
        if secrets is None:
            from bot.config.secrets import SecretSource  # it reads its variables with EnvReader below

            secrets = SecretSource(env).current()
        reader = EnvReader(env)
        backend = reader.choice("IMAGE_BACKEND", BACKENDS, "placeholder")
        settings = cls(
            jobs_queue_url=reader.required("JOBS_QUEUE_URL"),
            tasks_queue_url=reader.required("TASKS_QUEUE_URL"),
            jobs_table=reader.required("JOBS_TABLE"),
            images_bucket=reader.required("IMAGES_BUCKET"),
            public_base_url=reader.optional("PUBLIC_BASE_URL", "").rstrip("/"),
            signing_secret=secrets.signing_secret,
            bot_token=secrets.bot_token,
            link_secret=secrets.link_secret,
            client_id=secrets.client_id,
            client_secret=secrets.client_secret,
            purge_on_uninstall=reader.choice("PURGE_ON_UNINSTALL", ("true", "false"), "false") == "true",
            install_success_url=reader.optional("INSTALL_SUCCESS_URL", ""),
            image_backend=backend,
            sagemaker_endpoint_name=reader.optional("SAGEMAKER_ENDPOINT_NAME", ""),
            bedrock_model_id=reader.optional("BEDROCK_MODEL_ID", "") if backend == "bedrock" else "",
            bedrock_region=_region(reader.optional("BEDROCK_REGION", "")),
            slack_api_url=_with_trailing_slash(reader.optional("SLACK_API_URL", SLACK_API_DEFAULT)),
            image_link_mode=reader.choice("IMAGE_LINK_MODE", LINK_MODES, "redirect"),
            image_delivery=reader.choice("IMAGE_DELIVERY", DELIVERY_MODES, "link"),
            presigned_url_seconds=reader.integer("PRESIGNED_URL_SECONDS", 300, 1, 3600),
            placeholder_delay_seconds=reader.number("PLACEHOLDER_DELAY_SECONDS", 0.0, 0.0, 60.0),
            max_receive_count=reader.integer("MAX_RECEIVE_COUNT", 5, 1, 100),
            dead_letter_queue_url=reader.optional("DEAD_LETTER_QUEUE_URL", ""),
            render_budget_seconds=reader.number("RENDER_BUDGET_SECONDS", 40.0, 0.0, 900.0),
            retry_backoff_seconds=reader.seconds_list("RETRY_BACKOFF_SECONDS", (10, 30, 90), 43200),
            image_download_retry_seconds=reader.seconds_list("IMAGE_DOWNLOAD_RETRY_SECONDS", (1, 3), 30),
            image_retention_days=reader.integer("IMAGE_RETENTION_DAYS", 90, 1, 36500),
            sagemaker_timeout_seconds=reader.number("SAGEMAKER_TIMEOUT_SECONDS", 65.0, 1.0, 300.0),
            bedrock_timeout_seconds=reader.number("BEDROCK_TIMEOUT_SECONDS", 60.0, 1.0, 300.0),
            notifications_queue_url=reader.optional("NOTIFICATIONS_QUEUE_URL", ""),
            async_request_ttl_seconds=reader.integer("ASYNC_REQUEST_TTL_SECONDS", 1800, 60, 21600),
            guards=Guards(
                daily_images_per_user=reader.integer("DAILY_IMAGES_PER_USER", 50, 0, 1_000_000),
                daily_images_per_workspace=reader.integer("DAILY_IMAGES_PER_WORKSPACE", 500, 0, 10_000_000),
                allowed_team_ids=reader.id_list("ALLOWED_TEAM_IDS"),
                allowed_channel_ids=reader.id_list("ALLOWED_CHANNEL_IDS"),
                blocked_terms=reader.term_list("BLOCKED_TERMS"),
            ),
            limits=PromptLimits(
                default_steps=reader.integer("DEFAULT_STEPS", 30, 1, 150),
                max_steps=reader.integer("MAX_STEPS", 50, 1, 150),
                default_guidance=reader.number("DEFAULT_GUIDANCE", 7.5, 0.0, 30.0),
                max_prompt_chars=reader.integer("MAX_PROMPT_CHARS", 1000, 1, 4000),
            ),
            screening=Screening(
                image_moderation=reader.choice("IMAGE_MODERATION", ("rekognition", "off"), "off"),
                min_confidence=reader.number("MODERATION_MIN_CONFIDENCE", 60.0, 0.0, 100.0),
                blocked_labels=_labels(reader.optional("MODERATION_BLOCKED_LABELS", "")),
                retry_seconds=reader.seconds_list("MODERATION_RETRY_SECONDS", (1, 2), 30),
                translate_prompts=reader.choice("TRANSLATE_PROMPTS", ("auto", "off"), "off"),
            ),
            operation_models=_operation_models(
                {
                    "UPSCALE_MODEL": reader.optional("UPSCALE_MODEL", ""),
                    "VARY_MODEL": reader.optional("VARY_MODEL", ""),
                    "ZOOM_MODEL": reader.optional("ZOOM_MODEL", ""),
                    "CHANGE_MODEL": reader.optional("CHANGE_MODEL", ""),
                }
            ),
        )
        if backend in ("sagemaker", "sagemaker-async") and not settings.sagemaker_endpoint_name:
            raise SettingsError(f"SAGEMAKER_ENDPOINT_NAME is required when IMAGE_BACKEND={backend}")
        if backend == "bedrock":
            _check_bedrock_model(settings.bedrock_model_id)
        region = settings.bedrock_region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")
        for warning in _operations_unserved(settings.operation_models, region):
            logger.warning(warning)
        if settings.limits.default_steps > settings.limits.max_steps:
            raise SettingsError("DEFAULT_STEPS must not exceed MAX_STEPS")
        return settings

    def with_secrets(self, secrets: SecretValues) -> Settings:
        return replace(
            self,
            signing_secret=secrets.signing_secret,
            bot_token=secrets.bot_token,
            link_secret=secrets.link_secret,
            client_id=secrets.client_id,
            client_secret=secrets.client_secret,
        )


def _check_bedrock_model(model_id: str) -> None:
    """Refuse an id the bot cannot draw with (unknown, or a profile AWS does not offer). A known
    model past its end of life is accepted with a warning: Bedrock's refusal decides at run time
    and is said in each job's thread, while the bot still answers Slack and serves image links."""
    from bot.model.bedrock_models import retirement_warning, today, unavailable  # pure, no client

    if not model_id:
        raise SettingsError("BEDROCK_MODEL_ID is required when IMAGE_BACKEND=bedrock")
    on = today()
    refusal = unavailable(model_id, on)
    if refusal is not None:
        raise SettingsError(refusal)
    warning = retirement_warning(model_id, on)
    if warning is not None:
        logger.warning(warning)


def _operation_models(values: Mapping[str, str]) -> dict[str, ModelChoice]:
    """Each operation's model from its setting (unset: the operation is off), checked to do it."""
    from bot.model.operation_models import model_for  # pure, no client

    chosen: dict[str, ModelChoice] = {}
    for kind in KINDS:
        name = SETTING[kind]
        if not values[name]:
            continue
        try:
            choice = ModelChoice.parse(values[name])
            model_for(kind, choice)
        except ValueError as problem:
            raise SettingsError(f"{name} {problem}") from None
        chosen[kind] = choice
    return chosen


def _operations_unserved(models: Mapping[str, ModelChoice], region: str) -> list[str]:
    """What an operator should hear when an operation names a Bedrock model not served in the
    region the worker calls Bedrock in: each such operation will be refused, in its thread."""
    from bot.model.operation_models import model_for

    said = []
    for kind, choice in models.items():
        model = model_for(kind, choice)
        if model.regions and region and region not in model.regions:
            said.append(
                f"{SETTING[kind]} names {model.name}, which Bedrock serves from "
                f"{', '.join(model.regions)}, not {region}: set BEDROCK_REGION to one of them"
            )
    return sorted(set(said))


_REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")  # us-west-2, eu-central-1, us-gov-west-1


def _labels(text: str) -> tuple[str, ...]:
    if not text:
        return DEFAULT_BLOCKED_LABELS
    try:
        return label_names(text)
    except ValueError as unknown:
        raise SettingsError(
            f"MODERATION_BLOCKED_LABELS names labels Rekognition's taxonomy does not have: {unknown}"
        ) from None


def _region(value: str) -> str:
    if value and not _REGION_SHAPE.match(value):
        raise SettingsError("BEDROCK_REGION must be an AWS region code such as us-west-2")
    return value


def _with_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
