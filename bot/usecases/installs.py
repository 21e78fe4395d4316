"""What an installation's end does: a workspace that uninstalled the app, or revoked its tokens,
is forgotten at once, so that no job, task or request acts for it again with a token that is
gone (bot/model/workspace.py). Its images and records stay until IMAGE_RETENTION_DAYS ends them,
or, with PURGE_ON_UNINSTALL=true, go at once: a task, so the acknowledgement does not wait."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from bot.model.task import Task
from bot.services import Services

logger = Logger(service="imagine", child=True)


def forget(
    services: Services,
    enterprise_id: str | None,
    team_id: str | None,
    *,
    bot: bool = True,
    users: list[str] | None = None,
    uninstalled: bool = False,
    org_wide: bool = False,
) -> None:
    """Delete the workspace's installation (``bot``), or the installers' own (``users``); when
    the app was ``uninstalled``, its images and records too if PURGE_ON_UNINSTALL says so."""
    if not services.settings.installs_per_workspace:
        logger.warning("Slack says the app's token was revoked or the app uninstalled", team_id=team_id)
        return
    store, purged = services.installations, team_id
    if org_wide:  # an org-wide install is kept under its enterprise, with no team
        team_id = None
    for user in users or []:
        store.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user)
    if bot:
        store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        logger.info("the app was uninstalled from a workspace; its installation is deleted", team_id=team_id)
        if uninstalled and services.settings.purge_on_uninstall and purged:
            services.tasks.send(Task("purge", {"team_id": purged}, task_id=Task.id_for("purge", purged)))


def purge(services: Services, team_id: str) -> None:
    """Delete every image and record of the workspace (PURGE_ON_UNINSTALL=true)."""
    images = services.images.delete_team(team_id)
    records = services.store.delete_team(team_id)
    logger.info("an uninstalled workspace's images and records are deleted", team_id=team_id, images=images,
                records=records)  # fmt: skip
