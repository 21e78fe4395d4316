"""A deployed CloudFormation stack as the commands read it: its outputs and its resources."""

from __future__ import annotations

from typing import Any


def stack_outputs(stack_name: str, cloudformation: Any | None = None) -> dict[str, str]:
    """A deployed stack's outputs (with your usual AWS credentials unless a client is given)."""
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation")
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}


def stack_resources(stack_name: str, cloudformation: Any) -> dict[str, str]:
    """Its resources, logical id -> physical id (a queue's is its URL, a function's its name).
    ListStackResources answers a page at a time: ``NextToken`` "if the output exceeds 1 MB, a
    string that identifies the next page of stack resources" (the SDKs' ListStackResourcesOutput,
    from docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html),
    so every page is read."""
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    return {
        r["LogicalResourceId"]: str(r.get("PhysicalResourceId", ""))
        for page in pages
        for r in page["StackResourceSummaries"]
    }
