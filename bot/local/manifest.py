"""manifest.yml with the deployed stack's request URL in place of the placeholder: the slash
command's, interactivity's and the event subscriptions' (all three are ``/slack/events``)."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
PLACEHOLDER = "https://imagine.invalid/slack/events"


def filled(request_url: str, text: str | None = None) -> str:
    if not (request_url.startswith("https://") and request_url.rstrip("/").endswith("/slack/events")):
        raise ValueError("the request URL must be https://.../slack/events (the stack's SlackRequestUrl)")
    text = MANIFEST.read_text() if text is None else text
    return text.replace(PLACEHOLDER, request_url.rstrip("/"))


def stack_outputs(stack_name: str) -> dict[str, str]:
    """A deployed stack's outputs (uses your usual AWS credentials)."""
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}


def stack_request_url(stack_name: str) -> str:
    url = stack_outputs(stack_name).get("SlackRequestUrl")
    if not url:
        raise LookupError(f"stack {stack_name} has no SlackRequestUrl output")
    return url
