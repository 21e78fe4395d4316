"""The image operations' settings (UPSCALE_MODEL, VARY_MODEL, ZOOM_MODEL, CHANGE_MODEL): each read
as a model that does its operation, or refused at start with what it may be, never echoing the
value; and a Bedrock model not served where the worker calls Bedrock said once at start."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.config.env import SettingsError
from bot.config.settings import Settings
from bot.model.operation import ModelChoice

BASE = {"JOBS_QUEUE_URL": "q", "TASKS_QUEUE_URL": "t", "JOBS_TABLE": "j", "IMAGES_BUCKET": "b",
        "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "LINK_SECRET": "l"}  # fmt: skip


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def said() -> Iterator[list[str]]:
    records = _Records()
    logger = logging.getLogger("imagine")  # Powertools' logger, which does not propagate
    logger.addHandler(records)
    yield records.messages
    logger.removeHandler(records)


def test_each_setting_turns_its_operation_on_with_the_model_it_names() -> None:
    change = "bedrock:us.stability.stable-image-search-replace-v1:0"
    settings = Settings.from_env(
        BASE | {"UPSCALE_MODEL": "sagemaker:Upscaler-1", "VARY_MODEL": "placeholder", "CHANGE_MODEL": change}
    )
    assert settings.operations_on == ("upscale", "vary_subtle", "vary_strong", "change")
    assert settings.operation_models["upscale"] == ModelChoice("sagemaker", "Upscaler-1")
    assert Settings.from_env(BASE).operations_on == ()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        (
            "UPSCALE_MODEL",
            "bedrock:stability.sd3-5-large-v1:0",
            "UPSCALE_MODEL must name a Bedrock model that does it",
        ),
        ("VARY_MODEL", "sagemaker:my-endpoint", "VARY_MODEL must not be sagemaker"),
        (
            "ZOOM_MODEL",
            "midjourney:v6",
            "ZOOM_MODEL must be bedrock:<model id>, sagemaker:<endpoint name> or placeholder",
        ),
        ("CHANGE_MODEL", "placeholder:sdxl9", "CHANGE_MODEL must be bedrock:<model id>"),
        ("UPSCALE_MODEL", "bedrock:", "UPSCALE_MODEL must be bedrock:<model id>"),
    ],
)
def test_a_value_no_model_fits_stops_the_functions_at_start_saying_what_it_may_be(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(BASE | {name: value})
    assert str(refused.value).startswith(says)
    assert value.endswith(":") or value.split(":", 1)[1] not in str(refused.value)  # not echoed


def test_a_bedrock_model_not_served_where_the_worker_calls_bedrock_is_said_at_start(said: list[str]) -> None:
    Settings.from_env(
        BASE | {"VARY_MODEL": "bedrock:stability.sd3-5-large-v1:0", "BEDROCK_REGION": "us-east-1"}
    )
    assert said == [
        "VARY_MODEL names Stable Diffusion 3.5 Large, which Bedrock serves from us-west-2, not us-east-1: "
        "set BEDROCK_REGION to one of them"
    ]
    said.clear()
    Settings.from_env(
        BASE | {"ZOOM_MODEL": "bedrock:us.stability.stable-outpaint-v1:0", "BEDROCK_REGION": "us-east-2"}
    )
    assert said == []
