"""A workspace admin's Settings (an app installed per workspace): the form, opened from the Home
tab, and its submission, saved with the workspace's installation for its own requests to read.

Only admins and owners see the button (bot/usecases/home.py); a submission is checked again
(users.info, the one Web API call before this acknowledgement), so a forged one from anyone
else is refused on the form and changes nothing. Nothing here reads or writes another workspace:
the workspace is the request's own (bot/model/workspace.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from bot.blocks.workspace_form import FIELDS, PER_USER, settings_from_state, settings_modal
from bot.model.workspace import acting
from bot.model.workspace_settings import WorkspaceSettings, problems
from bot.services import Services
from bot.usecases.home import is_admin
from bot.usecases.modal import Form, Submission

logger = Logger(service="imagine", child=True)

ONE_WORKSPACE = "This app serves one workspace: its settings are the operator's (docs/configuration.md)."
ADMINS_ONLY = "Only the workspace's admins and owners may change its settings."
BY_BLOCK = {field: block for block, field in FIELDS.items()}


def settings_form(services: Services) -> Form:
    """The form, filled in with the workspace's settings as they are."""
    here = acting()
    if not services.settings.installs_per_workspace or here is None:
        return Form(refusal=ONE_WORKSPACE)
    return Form(settings_modal(here.settings or WorkspaceSettings(), services.settings.guards))


def settings_submitted(services: Services, submission: Submission) -> dict[str, Any]:
    """Save what the form says for the submitter's workspace; the acknowledgement's body: empty
    to close the form, or the problems under their fields."""
    here = acting()
    if not services.settings.installs_per_workspace or here is None:
        return _errors({PER_USER: ONE_WORKSPACE})
    if not is_admin(services, submission.user_id):
        logger.warning("a non-admin's workspace settings were refused", team_id=here.team_id)
        return _errors({PER_USER: ADMINS_ONLY})
    own, unreadable = settings_from_state(submission.values)
    beyond = {BY_BLOCK[field]: said for field, said in problems(services.settings.guards, own).items()}
    if unreadable or beyond:
        return _errors(unreadable | beyond)
    saved = services.installations.save_settings(here.enterprise_id or None, here.team_id, here.org_wide,
                                                 own.to_dict())  # fmt: skip
    if not saved:
        return _errors({PER_USER: "This workspace's installation could not be found; install the app again."})
    logger.info("a workspace's settings were changed", team_id=here.team_id)
    return {}


def _errors(problems_by_block: dict[str, str]) -> dict[str, Any]:
    return {"response_action": "errors", "errors": problems_by_block}
