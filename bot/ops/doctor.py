"""``imagine-bot doctor``: a deployment checked against the real services, one line a check.

Read-only: it reads the stack, the secrets, the endpoint or model, the queues and the bucket, and
calls Slack's ``auth.test`` (and ``apps.manifest.export`` when given an app configuration
token); it changes nothing. This module is the runner: it gathers the deployment, runs the
checks in order (bot/ops/slack_checks.py, backend_checks.py, queue_checks.py, link_checks.py,
each a small function returning a :class:`~bot.ops.checks.Result`), prints one line each and
gives the exit code. No secret or token is ever part of a result.

With ``--stack NAME`` the settings are the deployed worker's own (its Lambda configuration, found
through the stack's resources) and the stack's outputs; without, the environment's, as the
functions read them (bot/config/settings.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from bot.ops.backend_checks import backend_checks
from bot.ops.checks import FAIL, MARKS, SLACK_API_DEFAULT, WARN, Context, Deployment, Result, why
from bot.ops.link_checks import image_links
from bot.ops.queue_checks import queue_checks
from bot.ops.slack_checks import request_url, slack_scopes, slack_secret, slack_token
from bot.ops.stacks import stack_outputs, stack_resources


class DoctorError(Exception):
    """The deployment could not be read at all (no such stack, no credentials)."""


def from_env(env: Mapping[str, str] | None = None) -> Deployment:
    return Deployment("the environment", dict(os.environ if env is None else env))


def from_stack(name: str, cloudformation: Any, lambda_client: Any) -> Deployment:
    """The stack's outputs and resources, and the settings its worker function was deployed with
    (the template gives every function the same ones: its Globals)."""
    try:
        outputs = stack_outputs(name, cloudformation)
        resources = stack_resources(name, cloudformation)
    except Exception as error:
        raise DoctorError(f"stack {name} could not be read ({why(error)})") from None
    worker = resources.get("WorkerFunction", "")
    if not worker:
        raise DoctorError(f"stack {name} has no WorkerFunction: is it an imagine stack?")
    try:
        config = lambda_client.get_function_configuration(FunctionName=worker)
    except Exception as error:
        raise DoctorError(f"the stack's worker function could not be read ({why(error)})") from None
    env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    return Deployment(f"stack {name}", env, outputs, resources)


def diagnose(ctx: Context) -> list[Result]:
    results = [slack_secret(ctx), slack_token(ctx), slack_scopes(ctx), request_url(ctx)]
    results += backend_checks(ctx)
    results += queue_checks(ctx)
    results.append(image_links(ctx))
    return results


# The page of the repository's manual that describes the fix for each check's failures.
_FIX_PAGES = (
    ("Slack", "docs/deployment.md#3-the-slack-app"),
    ("SageMaker", "docs/deployment.md#1-the-stable-diffusion-endpoint"),
    ("Async", "docs/deployment.md#1-the-stable-diffusion-endpoint"),
    ("Bedrock", "docs/deployment.md#1-the-stable-diffusion-endpoint"),
    ("Image backend", "docs/configuration.md"),
    ("Image links", "docs/operating.md#rotating-the-link-secret"),
    ("", "docs/operating.md"),  # the queues, and anything else
)


def fix_page(check: str) -> str:
    return next(page for prefix, page in _FIX_PAGES if check.startswith(prefix))


def render(where: str, results: list[Result]) -> str:
    lines = [f"imagine doctor: {where}"]
    for result in results:
        lines.append(f"{MARKS[result.status]} {result.check}: {result.detail}")
        if result.fix and result.status in (FAIL, WARN):
            lines.append(f"    → {result.fix} See {fix_page(result.check)}.")
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    lines.append(
        f"{failed} failed, {warned} warning{'s' if warned != 1 else ''}"
        if failed or warned
        else "all checks passed"
    )
    return "\n".join(lines)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.status == FAIL for r in results) else 0


def run(stack: str = "", app_id: str = "", env: Mapping[str, str] | None = None) -> int:
    """The command: read the deployment, run every check, print one line each; 0 when none failed.

    The app configuration token is read from SLACK_APP_CONFIG_TOKEN only, so it stays out of
    shell history and process lists.
    """
    import boto3

    env = os.environ if env is None else env
    # A session of its own, so the credentials and region are the ones in force now, not those
    # boto3's default session resolved and kept the first time any client was made.
    session = boto3.session.Session()
    try:
        deployment = (
            from_stack(stack, session.client("cloudformation"), session.client("lambda"))
            if stack
            else from_env(env)
        )
    except DoctorError as error:
        print(f"{MARKS[FAIL]} {error}", file=sys.stderr)
        print(
            "    → Check the stack's name and region (AWS_REGION) and your AWS credentials"
            " See docs/deployment.md.",
            file=sys.stderr,
        )
        return 1
    slack_api_url = (
        env.get("SLACK_API_URL", "").strip() or deployment.setting("SLACK_API_URL") or SLACK_API_DEFAULT
    )
    ctx = Context(
        deployment,
        session.client,
        slack_api_url=slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/",
        app_config_token=env.get("SLACK_APP_CONFIG_TOKEN", "").strip(),
        app_id=app_id or env.get("SLACK_APP_ID", "").strip(),
    )
    results = diagnose(ctx)
    print(render(deployment.where, results))
    return exit_code(results)
