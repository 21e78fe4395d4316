"""The backend the settings choose: what draws from a prompt (IMAGE_BACKEND) and what does each
image operation (UPSCALE_MODEL, VARY_MODEL, ZOOM_MODEL, CHANGE_MODEL), built from the runtime
clients bot/services.py makes (one attempt a call: each backend retries within its budget)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.backends import Backend, BackendError
from bot.backends.sources import Read
from bot.config.env import SettingsError

if TYPE_CHECKING:
    from bot.config.settings import Settings

Runtime = Callable[[], Any]  # a model runtime's client (sagemaker-runtime, bedrock-runtime)


def image_backend(settings: Settings, sagemaker: Runtime, bedrock: Runtime) -> Backend:
    if settings.image_backend == "sagemaker":
        from bot.backends.sagemaker import SageMakerBackend

        return SageMakerBackend(
            sagemaker(), settings.sagemaker_endpoint_name, budget_seconds=settings.render_budget_seconds
        )
    if settings.image_backend == "bedrock":
        from bot.backends.bedrock import BedrockBackend

        return BedrockBackend(
            bedrock(), settings.bedrock_model_id, budget_seconds=settings.render_budget_seconds
        )
    if settings.image_backend == "sagemaker-async":
        # It renders nothing while the worker waits: bot/worker/pipeline.py submits through
        # the asynchronous backend and bot/worker/async_answers.py delivers.
        raise SettingsError("IMAGE_BACKEND=sagemaker-async submits through the asynchronous backend")
    from bot.backends.placeholder import PlaceholderBackend

    return PlaceholderBackend(settings.placeholder_delay_seconds)


def operation_backend(
    kind: str, settings: Settings, sagemaker: Runtime, bedrock: Runtime, read: Read
) -> Backend:
    """What does image operation ``kind``, reading the image it starts from with ``read``."""
    from bot.model.operation import SETTING
    from bot.model.operation_models import model_for

    choice = settings.operation_models.get(kind)
    if choice is None:
        raise BackendError("this operation has been turned off since it was asked for", retryable=False)
    model, budget = model_for(kind, choice), settings.render_budget_seconds
    if choice.provider == "bedrock":
        from bot.backends.bedrock_edits import BedrockEditor

        return BedrockEditor(bedrock(), model, read, setting=SETTING[kind], budget_seconds=budget)
    if choice.provider == "sagemaker":
        from bot.backends.sagemaker_edits import SageMakerEditor

        return SageMakerEditor(sagemaker(), choice.name, model, read, budget_seconds=budget)
    from bot.backends.placeholder_edits import PlaceholderEditor

    return PlaceholderEditor(read)
