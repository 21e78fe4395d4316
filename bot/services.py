"""The adapters the app and the worker use, built from settings on first use.

Clients are created lazily so each function pays only for what it touches: the http function
never builds an S3 client to acknowledge a command, nor the worker's backend. The settings'
secrets follow their stored values (bot/config/secrets.py); the Slack client follows the bot token.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from bot.config.env import SettingsError
from bot.config.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from slack_sdk import WebClient

    from bot.backends import Backend
    from bot.backends.sagemaker_async import SageMakerAsyncBackend
    from bot.config.secrets import SecretSource
    from bot.model.guards import Guards
    from bot.model.prompt import ImageRequest
    from bot.model.workspace import Workspace
    from bot.screening.image_check import ImageCheck
    from bot.screening.translation import Translator
    from bot.slack.installed import InstalledBots
    from bot.slack.poster import SlackPoster
    from bot.stores.images import ImageStore
    from bot.stores.installations import DynamoInstallationStore, DynamoOAuthStateStore
    from bot.stores.jobs import JobStore
    from bot.stores.queues import JobQueue, TaskQueue
    from bot.stores.quotas import QuotaStore


_CLIENTS: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {}
_MOST_CLIENTS = 64
_CLIENTS_LOCK = threading.Lock()


@cache
def _shared_loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


ONE_ATTEMPT = {"mode": "standard", "total_max_attempts": 1}  # a client whose caller retries


class Services:
    def __init__(self, settings: Settings, secrets: SecretSource | None = None) -> None:
        self._settings = settings
        self._secrets = secrets  # None: the secrets in ``settings`` never change
        self._secret_values = secrets.current() if secrets is not None else None
        self._editors: dict[str, Backend] = {}  # each image operation's model, built on first use

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Services:
        from bot.config.secrets import SecretSource

        env = os.environ if env is None else env
        source = SecretSource(env)
        return cls(Settings.from_env(env, source.current()), source)

    @property
    def settings(self) -> Settings:
        """The settings with the secrets' current values: cheap, so read it where it is used."""
        if self._secrets is not None:
            values = self._secrets.current()
            if values is not self._secret_values:
                self._secret_values = values
                self._settings = self._settings.with_secrets(values)
                # A new OAuth client (or the switch to or from one) gets its own installations' reader.
                self.__dict__.pop("installed_bots", None)
        return self._settings

    def refresh_slack_secret(self) -> bool:
        """Read the Slack secret again now (for a failed signature or an ``invalid_auth``: it may
        have just changed), at most once every few seconds; True if it changed."""
        return self._secrets is not None and self._secrets.refresh_slack()

    def previous_link_secret(self) -> str:
        """The link key before the current one, or "": links posted before a rotation use it."""
        return self._secrets.previous_link() if self._secrets is not None else ""

    def refresh_link_secret(self) -> bool:
        """Read the link key again now (for a token no key in hand made: a worker may mint links
        with a newer key already), at most once every few seconds; True if it changed."""
        return self._secrets is not None and self._secrets.refresh_link()

    def _current_bot_token(self) -> str:
        self.refresh_slack_secret()
        return self.settings.bot_token

    def workspace_token(self, fresh: bool = False) -> str:
        """The bot token of the workspace acted for (bot/model/workspace.py): the one a request's
        authorization found, else (or when ``fresh``) its installation's, refreshed if rotating.
        :class:`bot.slack.installed.NotInstalled` when there is none. With one workspace, its token."""
        from bot.model.workspace import acting
        from bot.slack.installed import NotInstalled

        if not self.settings.installs_per_workspace:
            return self._current_bot_token() if fresh else self.settings.bot_token
        here = acting()
        if here is None:
            raise NotInstalled("no workspace is acted for")
        if here.token and not fresh:
            return here.token
        return self._installed(here).token

    def _installed(self, workspace: Workspace) -> Workspace:
        """``workspace`` with its installation's bot token and its admins' settings."""
        from bot.model.workspace_settings import stored
        from bot.slack.installed import NotInstalled

        bot = self.installed_bots.find(workspace.enterprise_id or None, workspace.team_id, workspace.org_wide)
        if bot is None or not bot.bot_token:
            raise NotInstalled(workspace.team_id)
        return replace(workspace, token=bot.bot_token, settings=stored(bot.custom_values))

    @contextmanager
    def acting_for(self, workspace: Workspace) -> Iterator[Workspace]:
        """Slack calls act for ``workspace`` within the block, with its token (and its admins'
        settings) looked up once; :class:`bot.slack.installed.NotInstalled` when it has none."""
        from bot.model.workspace import acting_for

        if self.settings.installs_per_workspace:
            workspace = self._installed(workspace)
        with acting_for(workspace) as acted:
            yield acted

    @property
    def guards(self) -> Guards:
        """What may use the GPU here: the stack's guards, with the acted-for workspace's own
        settings inside them (bot/model/workspace_settings.py)."""
        from bot.model.workspace import acting
        from bot.model.workspace_settings import within

        here = acting()
        return within(self.settings.guards, here.settings if here is not None else None)

    @cached_property
    def _session(self) -> Any:
        import boto3
        import botocore.session

        # A session of its own (it reads the settings now), with the process's one loader: the
        # service models are JSON files botocore reads and parses once per loader, ~40 ms each.
        botocore_session = botocore.session.Session()
        botocore_session.register_component("data_loader", _shared_loader())
        return boto3.session.Session(botocore_session=botocore_session)

    @property
    def region(self) -> str:
        return str(self._session.region_name or "us-east-1")

    def _client(self, service: str, **config: Any) -> Any:
        from botocore.config import Config

        # Standard retry mode: exponential backoff with jitter on throttling and 5xx.
        base = Config(
            retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=20
        )
        # Clients are safe to share between threads, and the same AWS settings make the same
        # client: a process that builds its services again (a changed setting, a test) reuses it
        # instead of paying ~15 ms to build it anew.
        aws_settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
        key = (service, repr(sorted(config.items())), aws_settings)
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                if len(_CLIENTS) >= _MOST_CLIENTS:  # settings that changed for good: drop the oldest
                    del _CLIENTS[next(iter(_CLIENTS))]
                _CLIENTS[key] = self._session.client(service, config=base.merge(Config(**config)))
            return _CLIENTS[key]

    @cached_property
    def sqs(self) -> SQSClient:
        return self._client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        from bot.stores.images import s3_addressing

        # SigV4 on the bucket's regional endpoint, or on the configured one (see s3_addressing).
        addressing = s3_addressing(self._session._session)
        return self._client("s3", signature_version="s3v4", s3=addressing)  # type: ignore[no-any-return]

    @cached_property
    def sns(self) -> SNSClient:
        return self._client("sns")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def queue(self) -> JobQueue:
        from bot.stores.queues import JobQueue

        return JobQueue(self.sqs, self.settings.jobs_queue_url)

    @cached_property
    def tasks(self) -> TaskQueue:
        from bot.stores.queues import TaskQueue

        return TaskQueue(self.sqs, self.settings.tasks_queue_url)

    @cached_property
    def store(self) -> JobStore:
        from bot.stores.jobs import JobStore

        return JobStore(self.dynamodb, self.settings.jobs_table, self.settings.image_retention_days)

    @cached_property
    def quotas(self) -> QuotaStore:
        from bot.stores.quotas import QuotaStore

        return QuotaStore(self.dynamodb, self.settings.jobs_table)

    @cached_property
    def installations(self) -> DynamoInstallationStore:
        """Each workspace's installation (with "Add to Slack": SLACK_CLIENT_ID)."""
        from bot.stores.installations import DynamoInstallationStore

        return DynamoInstallationStore(self.dynamodb, self.settings.jobs_table, self.settings.client_id)

    @cached_property
    def oauth_states(self) -> DynamoOAuthStateStore:
        from bot.stores.installations import DynamoOAuthStateStore

        return DynamoOAuthStateStore(self.dynamodb, self.settings.jobs_table)

    @cached_property
    def installed_bots(self) -> InstalledBots:
        """Each workspace's bot and current token, refreshed through oauth.v2.access when rotating."""
        from slack_sdk import WebClient

        from bot.slack.client import retry_handlers
        from bot.slack.installed import InstalledBots

        settings, once = self.settings, retry_handlers(connection_errors=False, server_errors=False)
        client = WebClient(base_url=settings.slack_api_url, timeout=10, retry_handlers=once)  # one-use codes
        return InstalledBots(self.installations, client_id=settings.client_id,
                             client_secret=settings.client_secret, client=client)  # fmt: skip

    @cached_property
    def images(self) -> ImageStore:
        from bot.stores.images import ImageStore

        return ImageStore(self.s3, self.settings.images_bucket)

    @cached_property
    def slack_client(self) -> WebClient:
        from bot.slack.client import RefreshingWebClient, retry_handlers

        return RefreshingWebClient(
            token_of=self.workspace_token,
            base_url=self.settings.slack_api_url,
            timeout=10,
            retry_handlers=retry_handlers(),
        )

    @cached_property
    def slack(self) -> SlackPoster:
        from bot.slack.poster import SlackPoster

        return SlackPoster(self.slack_client)

    @cached_property
    def idempotency(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        # The jobs table's key and TTL attributes, so idempotency records expire with the rest.
        return DynamoDBPersistenceLayer(
            table_name=self.settings.jobs_table,
            key_attr="pk",
            expiry_attr="expires_at",
            boto3_client=self.dynamodb,
        )

    @cached_property
    def backend(self) -> Backend:
        from bot.backends.chosen import image_backend

        return image_backend(self.settings, self._sagemaker_runtime, self._bedrock_runtime)

    # The models' clients make one attempt per call: each backend retries throttling itself, with
    # backoff and jitter, within RENDER_BUDGET_SECONDS; past that, SQS delivers the job again.
    def _sagemaker_runtime(self) -> Any:
        timeout = self.settings.sagemaker_timeout_seconds
        return self._client("sagemaker-runtime", read_timeout=timeout, retries=ONE_ATTEMPT)

    def _bedrock_runtime(self) -> Any:
        # Signed as "bedrock", reached at bedrock-runtime (AWS_ENDPOINT_URL_BEDROCK_RUNTIME), in
        # BEDROCK_REGION, where the models are served, whatever the stack's own region.
        timeout, region = self.settings.bedrock_timeout_seconds, self.settings.bedrock_region or self.region
        return self._client("bedrock-runtime", read_timeout=timeout, retries=ONE_ATTEMPT, region_name=region)

    @cached_property
    def image_check(self) -> ImageCheck:
        from bot.screening.image_check import ImageCheck  # it asks again after its own pauses

        return ImageCheck(self._client("rekognition", retries=ONE_ATTEMPT), self.settings.screening)

    @cached_property
    def translator(self) -> Translator:
        from bot.screening.translation import Translator

        # One attempt: a failure is drawn as typed.
        return Translator(
            self._client("translate", retries=ONE_ATTEMPT), self.settings.limits.max_prompt_chars
        )

    def backend_for(self, request: ImageRequest) -> Backend:
        """What draws ``request``: its image operation's model (UPSCALE_MODEL, VARY_MODEL,
        ZOOM_MODEL, CHANGE_MODEL), else the image backend."""
        if request.operation is None:
            return self.backend
        kind = request.operation.kind
        if kind not in self._editors:
            self._editors[kind] = self._editor(kind)
        return self._editors[kind]

    def _editor(self, kind: str) -> Backend:
        from bot.backends.chosen import operation_backend

        return operation_backend(kind, self.settings, self._sagemaker_runtime, self._bedrock_runtime,
                                 self.images.read)  # fmt: skip

    @cached_property
    def async_backend(self) -> SageMakerAsyncBackend:
        """The SageMaker asynchronous endpoint (IMAGE_BACKEND=sagemaker-async)."""
        from bot.backends.sagemaker_async import SageMakerAsyncBackend

        settings = self.settings
        if settings.image_backend != "sagemaker-async":
            raise SettingsError("the asynchronous backend is used only with IMAGE_BACKEND=sagemaker-async")
        # Each call once: the worker's delivery is what retries (SQS, with its backoff).
        return SageMakerAsyncBackend(
            self._client("sagemaker-runtime", retries=ONE_ATTEMPT),
            self._client("sagemaker", retries=ONE_ATTEMPT, read_timeout=5),
            self.s3,
            settings.sagemaker_endpoint_name,
            settings.images_bucket,
            request_ttl_seconds=settings.async_request_ttl_seconds,
        )


_lock = threading.Lock()
_built: Services | None = None
_failed: tuple[float, Exception] | None = None  # (when to try again, why building failed)


def process_services() -> Services:
    """The process's services, built once per container; their secrets still follow Secrets
    Manager (bot/config/secrets.py). The Lambda handlers, the local stack and the tests share them.

    A failed build (a setting missing, a stored secret malformed, Secrets Manager unreachable)
    is held for SECRETS_FORCED_REFRESH_SECONDS before the next try, so a burst of requests
    meanwhile cannot each read Secrets Manager.
    """
    global _built, _failed
    if _built is not None:
        return _built
    with _lock:
        if _built is not None:
            return _built
        if _failed is not None and time.monotonic() < _failed[0]:
            raise _failed[1].with_traceback(None)
        try:
            _built = Services.from_env()
        except Exception as error:
            from bot.config.secrets import forced_refresh_seconds

            _failed = (time.monotonic() + forced_refresh_seconds(os.environ), error)
            raise
        _failed = None
        return _built


def reset_process_services() -> None:
    """Forget settings and clients, so the next call reads the environment afresh."""
    global _built, _failed
    with _lock:
        _built, _failed = None, None
