"""Start the embedded default: moto on loopback for S3/SQS/DynamoDB, the Slack recorder, and
settings that point the bot at them. The recorder downloads every image link of a message as
Slack does, from loopback hosts only: PUBLIC_BASE_URL must be the local server for its images to
be accepted (bot.local.slack.recorder). Whatever the environment already names is left alone:
set ``AWS_ENDPOINT_URL`` or ``JOBS_QUEUE_URL`` and ``TASKS_QUEUE_URL`` for other AWS resources,
``SLACK_BOT_TOKEN`` (or ``SLACK_CLIENT_ID``) for a real workspace, ``SAGEMAKER_ENDPOINT_NAME`` for
a real endpoint. With
``IMAGE_BACKEND=sagemaker-async``, the notifications queue and the endpoint's two topics are made
too (``NOTIFICATIONS_QUEUE_URL``), and the local poller feeds the notifier. On the placeholder
backend, the image operations are on (on the placeholder) unless their settings say otherwise.
With moto, every image is checked by Rekognition's stand-in (which withholds a picture whose
prompt says "zombie" or "gore": bot/local/rekognition.py) unless IMAGE_MODERATION=off, and a
prompt not in English is translated by Translate's (bot/local/translate.py) unless
TRANSLATE_PROMPTS=off."""

from __future__ import annotations

import os
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bot.local.slack.recorder import SlackRecorder
from bot.model.operation import SETTING

LOCAL_DEFAULTS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "JOBS_TABLE": "imagine-jobs",
    "IMAGES_BUCKET": "imagine-images-local",
}
LOCAL_QUEUE = "imagine-jobs"
LOCAL_TASKS_QUEUE = "imagine-tasks"
LOCAL_NOTIFICATIONS_QUEUE = "imagine-notifications"  # IMAGE_BACKEND=sagemaker-async only


def aws_defaults(env: MutableMapping[str, str]) -> None:
    """The names of the local resources, for whatever the environment leaves unset."""
    for name, value in LOCAL_DEFAULTS.items():
        env.setdefault(name, value)
    env.setdefault("JOBS_QUEUE_URL", f"{env.get('AWS_ENDPOINT_URL', '')}/123456789012/{LOCAL_QUEUE}")
    env.setdefault("TASKS_QUEUE_URL", f"{env.get('AWS_ENDPOINT_URL', '')}/123456789012/{LOCAL_TASKS_QUEUE}")
    if env.get("IMAGE_BACKEND", "").lower() == "sagemaker-async":
        notifications = f"{env.get('AWS_ENDPOINT_URL', '')}/123456789012/{LOCAL_NOTIFICATIONS_QUEUE}"
        env.setdefault("NOTIFICATIONS_QUEUE_URL", notifications)


@dataclass
class LocalStack:
    env: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    moto: Any = None
    recorder: SlackRecorder | None = None
    stand_ins: list[Any] = field(default_factory=list)  # Rekognition's and Translate's, beside moto
    per_workspace: bool = False  # installed with "Add to Slack" in the stand-in's workspaces

    def start(self, public_base_url: str) -> LocalStack:
        env = self.env
        if not env.get("AWS_ENDPOINT_URL") and not env.get("JOBS_QUEUE_URL"):
            from bot.local.moto_server import MotoServer

            self.moto = MotoServer().start()
            env["AWS_ENDPOINT_URL"] = self.moto.url
            # moto accepts any credentials; these keep boto3 from looking for real ones.
            env["AWS_ACCESS_KEY_ID"] = "local"
            env["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - not a secret, moto ignores it
            env.pop("AWS_PROFILE", None)
            env.pop("AWS_SESSION_TOKEN", None)
        aws_defaults(env)
        if self.moto:
            self._screening(env)
        env.setdefault("SLACK_SIGNING_SECRET", secrets.token_hex(16))
        env.setdefault("LINK_SECRET", secrets.token_hex(32))
        env.setdefault("PUBLIC_BASE_URL", public_base_url)
        if not env.get("SLACK_BOT_TOKEN") and not env.get("SLACK_CLIENT_ID"):
            self.recorder = SlackRecorder().start()
            env["SLACK_API_URL"] = self.recorder.api_url
            if self.per_workspace:
                self._add_to_slack(self.recorder, env)
            else:
                env["SLACK_BOT_TOKEN"] = "xoxb-local-recorder"  # noqa: S105 - the recorder's, not Slack's
        if env.get("SAGEMAKER_ENDPOINT_NAME"):
            env.setdefault("IMAGE_BACKEND", "sagemaker")
        if env.get("IMAGE_BACKEND", "placeholder").lower() == "placeholder":
            # With no GPU, every image operation is on, on the placeholder, so that each can be tried.
            for name in sorted(set(SETTING.values())):
                env.setdefault(name, "placeholder")

        from bot.local.provision import provision
        from bot.services import process_services, reset_process_services

        reset_process_services()
        provisioned = provision(process_services())
        env["JOBS_QUEUE_URL"] = provisioned.queue_url
        env["TASKS_QUEUE_URL"] = provisioned.tasks_queue_url
        env["DEAD_LETTER_QUEUE_URL"] = provisioned.dead_letter_queue_url
        if provisioned.notifications is not None:  # the notifier's queue, which the local poller feeds it
            env["NOTIFICATIONS_QUEUE_URL"] = provisioned.notifications.queue_url
        reset_process_services()
        return self

    def _screening(self, env: MutableMapping[str, str]) -> None:
        """The image check and the prompts' translation on, as the template has them, against
        the stand-ins of Rekognition and Translate (moto has neither)."""
        from bot.local.rekognition import ModerationStandIn
        from bot.local.translate import TranslateStandIn

        if not env.get("AWS_ENDPOINT_URL_REKOGNITION"):
            env["AWS_ENDPOINT_URL_REKOGNITION"] = self._started(ModerationStandIn())
            env.setdefault("IMAGE_MODERATION", "rekognition")
        if not env.get("AWS_ENDPOINT_URL_TRANSLATE"):
            env["AWS_ENDPOINT_URL_TRANSLATE"] = self._started(TranslateStandIn())
            env.setdefault("TRANSLATE_PROMPTS", "auto")

    def _started(self, stand_in: Any) -> str:
        self.stand_ins.append(stand_in.start())
        return str(stand_in.url)

    @staticmethod
    def _add_to_slack(recorder: SlackRecorder, env: MutableMapping[str, str]) -> None:
        """Installed per workspace, with the stand-in's OAuth client: its Redirect URL is this
        app's, a finished install comes back to the playground, and the person approving each
        install is an admin of that workspace (who sees the workspace's Settings on Home)."""
        workspaces = recorder.workspaces
        env["SLACK_CLIENT_ID"] = workspaces.client_id
        env["SLACK_CLIENT_SECRET"] = workspaces.client_secret
        workspaces.redirect_url = f"{env['PUBLIC_BASE_URL']}/slack/oauth_redirect"
        env.setdefault("INSTALL_SUCCESS_URL", f"{env['PUBLIC_BASE_URL']}/")
        for team in workspaces.names:
            recorder.add_user(workspaces.person(team), team_id=team, is_admin=True)

    def stop(self) -> None:
        for stand_in in self.stand_ins:
            stand_in.stop()
        if self.recorder:
            self.recorder.stop()
        if self.moto:
            self.moto.stop()
