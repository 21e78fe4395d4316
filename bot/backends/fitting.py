"""A request fitted to the configured backend before it is queued: the http function checks it
against the model's own sizes and ranges, and calls no model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.model.prompt import ImageRequest

if TYPE_CHECKING:
    from bot.config.settings import Settings


@dataclass(frozen=True)
class Understood:
    """A request as the configured backend will draw it, and notes for the asker about options
    it does not use or shapes it draws differently."""

    request: ImageRequest
    notes: tuple[str, ...] = ()


def for_backend(settings: Settings, request: ImageRequest, named: frozenset[str] = frozenset()) -> Understood:
    """``request`` fitted to the configured backend before it is queued (pure; the http function
    calls no model). ``named`` are the options the asker wrote (:func:`bot.prompt.named_options`);
    an option set to other than its configured default counts as chosen too. Raises
    :class:`bot.prompt.UsageNeeded` for a value the backend cannot take.

    The SageMaker endpoint and the placeholder take every value the prompt parser allows."""
    if (
        settings.image_backend != "bedrock" or request.operation is not None
    ):  # operations: bot/model/operation_models.py
        return Understood(request)
    from bot.backends.bedrock import fit
    from bot.model.bedrock_models import foundation_model

    limits = settings.limits
    fitted = fit(
        foundation_model(settings.bedrock_model_id).model,
        request,
        chose_steps="steps" in named or request.steps != limits.default_steps,
        chose_cfg="cfg" in named or request.guidance != limits.default_guidance,
    )
    return Understood(fitted.request, fitted.notes)
