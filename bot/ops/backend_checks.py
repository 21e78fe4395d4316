"""Doctor's image backend checks: the SageMaker endpoint (and an asynchronous one's config), or
the Bedrock model's lifecycle and whether the account may invoke it; for the placeholder, a
warning that it draws no real pictures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.backends.sagemaker_async import FAILURE_PREFIX, OUTPUT_PREFIX
from bot.model.bedrock_models import LEGACY, active_ids, foundation_model, today, unavailable
from bot.ops.checks import FAIL, PASS, SKIP, WARN, Context, Deployment, Result, aws_error, why


def backend_checks(ctx: Context) -> list[Result]:
    backend = ctx.deployment.backend
    if backend in ("sagemaker", "sagemaker-async"):
        endpoint, described = sagemaker_endpoint(ctx)
        if described is None or backend == "sagemaker":
            return [endpoint]
        return [endpoint, async_config(ctx, described)]
    if backend == "bedrock":
        return [bedrock_model(ctx), bedrock_access(ctx)]
    return [
        Result(
            "Image backend",
            WARN,
            f"{backend}: draws labelled test images, no model",
            "Set ImageBackend to sagemaker, sagemaker-async or bedrock to draw real pictures.",
        )
    ]


# What DescribeEndpoint's EndpointStatus means for the bot (its values:
# docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html). An endpoint being
# updated still serves requests.
_SERVING = {"InService": PASS, "Updating": WARN, "SystemUpdating": WARN}
SUBSCRIBE_FIX = (
    "The first render subscribes through AWS Marketplace: the worker's role needs "
    "aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions."
)


def sagemaker_endpoint(ctx: Context) -> tuple[Result, dict[str, Any] | None]:
    """DescribeEndpoint: it exists, is InService, and has an instance (the async one may have 0)."""
    d = ctx.deployment
    endpoint = d.setting("SAGEMAKER_ENDPOINT_NAME")
    name = "SageMaker endpoint"
    try:
        described: dict[str, Any] = ctx.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    except Exception as error:
        if "Could not find endpoint" in str(error):
            return Result(
                name,
                FAIL,
                f"{endpoint} does not exist in this account and region",
                "Deploy the JumpStart model to an endpoint of that name, or set "
                "SageMakerEndpointName to the one you deployed.",
            ), None
        return Result(
            name,
            FAIL,
            f"{endpoint} could not be described ({why(error)})",
            "Check that your AWS credentials may call sagemaker:DescribeEndpoint.",
        ), None
    status = str(described.get("EndpointStatus", ""))
    instances = sum(
        int(v.get("CurrentInstanceCount", 0) or 0) for v in described.get("ProductionVariants", [])
    )
    is_async = d.backend == "sagemaker-async"
    state = _SERVING.get(status, FAIL)
    if state == FAIL:
        reason = f": {described['FailureReason']}" if described.get("FailureReason") else ""
        fix = (
            "Wait until it is InService, then run doctor again."
            if status == "Creating"
            else "Fix what SageMaker reports, or delete and redeploy the endpoint."
        )
        return Result(name, FAIL, f"{endpoint} is {status or 'in no known state'}{reason}", fix), described
    if instances == 0 and not is_async:
        return Result(
            name,
            FAIL,
            f"{endpoint} is {status} with no instance running",
            "Give the endpoint's production variant an instance (InitialInstanceCount 1).",
        ), described
    count = f"{instances} instance{'s' if instances != 1 else ''}"
    if instances == 0:
        count += " (scaled to zero: the first request wakes it, in minutes)"
    if state == WARN:
        return Result(
            name,
            WARN,
            f"{endpoint} is {status}, {count}",
            "Let the update finish; requests are served meanwhile.",
        ), described
    return Result(name, PASS, f"{endpoint} is InService, {count}"), described


def async_config(ctx: Context, described: Mapping[str, Any]) -> Result:
    """The endpoint's AsyncInferenceConfig writes where the stack reads and tells its topics."""
    name = "Async endpoint config"
    output = described.get("AsyncInferenceConfig", {}).get("OutputConfig")
    if not output:
        return Result(
            name,
            FAIL,
            "the endpoint is a real-time one (no AsyncInferenceConfig)",
            "Deploy an asynchronous endpoint for IMAGE_BACKEND=sagemaker-async.",
        )
    expected = _expected_async(ctx.deployment)
    notify = output.get("NotificationConfig", {})
    actual = {
        "AsyncOutputPath": output.get("S3OutputPath", ""),
        "AsyncFailurePath": output.get("S3FailurePath", ""),
        "AsyncSuccessTopicArn": notify.get("SuccessTopic", ""),
        "AsyncErrorTopicArn": notify.get("ErrorTopic", ""),
    }
    wrong = [key for key, value in expected.items() if _norm(actual[key]) != _norm(value)]
    if wrong:
        return Result(
            name,
            FAIL,
            f"differs from the stack's {', '.join(wrong)}",
            "Recreate the endpoint config with the stack's AsyncOutputPath, AsyncFailurePath, "
            "AsyncSuccessTopicArn and AsyncErrorTopicArn outputs.",
        )
    unchecked = "" if len(expected) == len(actual) else " (topics need --stack to be checked)"
    return Result(name, PASS, f"output paths and topics are the stack's{unchecked}")


def _expected_async(d: Deployment) -> dict[str, str]:
    keys = ("AsyncOutputPath", "AsyncFailurePath", "AsyncSuccessTopicArn", "AsyncErrorTopicArn")
    if d.outputs:
        return {key: d.outputs.get(key, "") for key in keys}
    bucket = d.setting("IMAGES_BUCKET")
    return {
        "AsyncOutputPath": f"s3://{bucket}/{OUTPUT_PREFIX}",
        "AsyncFailurePath": f"s3://{bucket}/{FAILURE_PREFIX}",
    }


def _norm(path: str) -> str:
    return str(path).rstrip("/")


def bedrock_model(ctx: Context) -> Result:
    """GetFoundationModel in the model's region: ``modelLifecycle.status`` is ACTIVE or LEGACY,
    with ``endOfLifeTime`` when AWS has set one (botocore's bedrock 2023-04-20 model,
    FoundationModelLifecycle; docs.aws.amazon.com/bedrock/latest/APIReference/API_GetFoundationModel.html:
    404 ResourceNotFoundException for a model it does not know)."""
    name = "Bedrock model"
    d = ctx.deployment
    model_id = d.setting("BEDROCK_MODEL_ID")
    region = _bedrock_region(ctx)
    try:
        resolved = foundation_model(model_id)
    except KeyError:
        return Result(
            name,
            FAIL,
            f"{model_id or 'no BEDROCK_MODEL_ID'} is no model the bot draws with",
            f"{unavailable(model_id, today()) or 'Set BedrockModelId.'}.",
        )
    try:
        details = ctx.client("bedrock", region_name=region).get_foundation_model(
            modelIdentifier=resolved.foundation_model_id
        )["modelDetails"]
    except Exception as error:
        if aws_error(error).code == "ResourceNotFoundException":
            return Result(
                name,
                FAIL,
                f"{resolved.foundation_model_id} is not offered in {region}",
                f"Set BedrockRegion to where AWS serves it ({', '.join(resolved.model.regions)}) "
                f"or BedrockModelId to one of {', '.join(active_ids(today()))}.",
            )
        return Result(
            name,
            FAIL,
            f"GetFoundationModel failed in {region} ({why(error)})",
            "Check that your AWS credentials may call bedrock:GetFoundationModel there.",
        )
    lifecycle = details.get("modelLifecycle", {})
    status = str(lifecycle.get("status", ""))
    label = f"{details.get('modelName') or resolved.model.name} in {region}"
    end = _moment(lifecycle.get("endOfLifeTime"))
    if end is not None and end <= datetime.now(UTC):
        # "On or shortly after the EOL date, the model will no longer be available in all AWS
        # Regions, and requests made to this version will fail" (Bedrock user guide, Model
        # lifecycle: docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html),
        # whatever the status still says.
        return Result(
            name,
            FAIL,
            f"{label} is {status or 'of no known lifecycle'} and reached its end of life on {_day(end)}",
            "It has been retired by its provider: set BEDROCK_MODEL_ID to one of "
            f"{', '.join(active_ids(today(), besides=resolved.foundation_model_id))} "
            "(the stack's BedrockModelId).",
        )
    if status == LEGACY:
        when = f", end of life {_day(end)}" if end else ""
        return Result(
            name,
            WARN,
            f"{label} is LEGACY{when}",
            f"Move to an Active model before then: set BedrockModelId to one of "
            f"{', '.join(active_ids(today(), besides=resolved.foundation_model_id))}.",
        )
    if status != "ACTIVE":
        return Result(
            name,
            FAIL,
            f"{label} is {status or 'of no known lifecycle'}",
            f"Set BedrockModelId to one of {', '.join(active_ids(today()))}.",
        )
    return Result(name, PASS, f"{label} is ACTIVE")


def bedrock_access(ctx: Context) -> Result:
    """GetFoundationModelAvailability (public since 2025-06-24, awsapichanges.com
    archive/changes/863c86-bedrock): ``authorizationStatus`` AUTHORIZED | NOT_AUTHORIZED,
    ``regionAvailability`` and ``entitlementAvailability`` AVAILABLE | NOT_AVAILABLE,
    ``agreementAvailability.status`` AVAILABLE | PENDING | NOT_AVAILABLE | ERROR
    (docs.aws.amazon.com/bedrock/latest/APIReference/API_GetFoundationModelAvailability.html).
    The model access page is retired: every model is enabled by default, and a third-party one
    is subscribed through AWS Marketplace on its first invocation, which needs
    aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions on the caller
    (docs.aws.amazon.com/bedrock/latest/userguide/model-access.html, "Understanding automatic
    model access"). So an agreement not yet made is a warning, an error is a failure."""
    name = "Bedrock access"
    d = ctx.deployment
    region = _bedrock_region(ctx)
    try:
        model_id = foundation_model(d.setting("BEDROCK_MODEL_ID")).foundation_model_id
    except KeyError:
        return Result(name, SKIP, "skipped: needs a model the bot draws with")
    try:
        found = ctx.client("bedrock", region_name=region).get_foundation_model_availability(modelId=model_id)
    except Exception as error:
        return Result(
            name,
            FAIL,
            f"GetFoundationModelAvailability failed in {region} ({why(error)})",
            "Check that your AWS credentials may call bedrock:GetFoundationModelAvailability.",
        )
    if found.get("regionAvailability") != "AVAILABLE":
        return Result(
            name,
            FAIL,
            f"{model_id} is not available in {region}",
            "Set BedrockRegion to a region that serves it.",
        )
    if found.get("authorizationStatus") != "AUTHORIZED":
        return Result(
            name,
            FAIL,
            f"this account is not authorized for {model_id}",
            "Check the account's service control policies and IAM for bedrock:InvokeModel on it.",
        )
    agreement = found.get("agreementAvailability", {})
    agreed = agreement.get("status")
    if agreed == "ERROR":
        return Result(
            name,
            FAIL,
            f"its Marketplace agreement failed: {agreement.get('errorMessage', '')}".rstrip(": "),
            "Check the account's payment method and AWS Marketplace permissions, then invoke it once.",
        )
    if agreed != "AVAILABLE" or found.get("entitlementAvailability") != "AVAILABLE":
        return Result(
            name,
            WARN,
            f"authorized; not yet subscribed ({agreed or 'no agreement'})",
            SUBSCRIBE_FIX,
        )
    return Result(name, PASS, f"this account may invoke {model_id} in {region}")


def _bedrock_region(ctx: Context) -> str:
    """BEDROCK_REGION, else the deployment's own region (where the worker then calls Bedrock)."""
    region = ctx.deployment.setting("BEDROCK_REGION")
    return region or str(ctx.client("bedrock").meta.region_name)


def _moment(value: Any) -> datetime | None:
    """GetFoundationModel's time as a moment: boto3 parses the API's iso8601 timestamps into
    datetimes (botocore's bedrock service model types them ``timestamp``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return _moment(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
