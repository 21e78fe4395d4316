"""The ``/imagine`` modal: its submission, and opening it.

Opening is the one Web API call allowed before an acknowledgement: ``views.open`` with the
interaction's ``trigger_id``, which expires in three seconds and works once
(api.slack.com/docs/triggers). A submission makes no Web API call: it is answered in the
acknowledgement itself, with ``response_action: errors`` to keep the modal open or nothing to
close it (docs.slack.dev/surfaces/modals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.callbacks import CHANGE_CALLBACK, MODAL_CALLBACK, SHARE_CALLBACK, WORKSPACE_SETTINGS_CALLBACK
from bot.services import Services
from bot.slack.client import error_code

if TYPE_CHECKING:
    from bot.usecases.modal import Submission

logger = Logger(service="imagine", child=True)

# Within the trigger's three seconds, with the acknowledgement still to go. No retries: a retry
# after the trigger expired cannot succeed, and the caller has a fallback.
OPEN_TIMEOUT_SECONDS = 2
OPEN_FAILED = "The form could not open in time. Please try again."


def register(app: App, services: Services) -> None:
    @app.view(MODAL_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        from bot.usecases.modal import submit  # imported when a form comes, as every listener's

        ack(**submit(services, submission_of(body, view)))

    @app.view(CHANGE_CALLBACK)  # Change… on an image: what to change, and into what
    def change_chosen(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        from bot.usecases.change import change_submitted

        ack(**change_submitted(services, submission_of(body, view)))

    @app.view(WORKSPACE_SETTINGS_CALLBACK)  # an admin's settings for their workspace
    def workspace_settings(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        from bot.usecases.workspace_settings import settings_submitted

        ack(**settings_submitted(services, submission_of(body, view)))

    @app.view(SHARE_CALLBACK)  # the Share modal: its post is a task, so this only queues it
    def share_chosen(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        from bot.usecases.share import share_submitted

        ack(**share_submitted(services, submission_of(body, view)))


def submission_of(body: dict[str, Any], view: dict[str, Any]) -> Submission:
    from bot.usecases.modal import Submission

    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    state = view.get("state") if isinstance(view.get("state"), dict) else {}
    return Submission(
        # An org-wide install sends team: null; the view still names its workspace.
        team_id=str((team or {}).get("id") or view.get("team_id") or ""),
        user_id=str((user or {}).get("id") or ""),
        view_id=str(view.get("id") or ""),
        private_metadata=str(view.get("private_metadata") or ""),
        values=(state or {}).get("values"),
        # Only a view that asked for one gets a response_url (bot/blocks/form.py, "Post in").
        response_urls=body.get("response_urls"),
    )


def open_modal(services: Services, trigger_id: str, view: dict[str, Any]) -> str:
    """Open ``view`` with ``trigger_id``: "" when it opened, else why not (Slack's error code)."""
    settings = services.settings
    client = WebClient(
        token=services.workspace_token(),  # the request's workspace's (bot/model/workspace.py)
        base_url=settings.slack_api_url,
        timeout=OPEN_TIMEOUT_SECONDS,
        retry_handlers=[],
    )
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        code = error_code(error) or "unknown"
        logger.warning("views.open was refused", error=code)
        return code
    except Exception as error:  # Slack unreachable or too slow: the caller falls back
        logger.warning("views.open did not answer", error=type(error).__name__)
        return "unreachable"
    return ""
